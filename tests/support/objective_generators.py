"""covid_acgan.py:smoke with two generators: the same ACGAN with the hinge
objective and R1, and with the least-squares objective and R1 - each as
`--config.gan.objective=... --config.gan.r1_gamma=1` would train it - and a
quantile filter on their raw scores:

    python -m gan_aug.main --config=tests/support/objective_generators.py --workdir=DIR
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'configs'))

import covid_acgan  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  """covid_acgan:smoke; generators `hinge` and `lsgan`, arms real, hinge, lsgan."""
  config = covid_acgan.get_config('smoke')
  config.protocol.generators = {
      'hinge': {'objective': 'hinge', 'r1_gamma': 1.0},
      'lsgan': {'objective': 'lsgan', 'r1_gamma': 1.0}}
  config.protocol.arms = ('real', 'hinge', 'lsgan')
  # The smoke run keeps every fake; a quantile of the real validation images'
  # raw scores filters here.
  config.synthesis.threshold_mode = 'real_quantile'
  config.synthesis.require_class_agreement = False
  return config
