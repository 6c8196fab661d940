"""covid_acgan.py:smoke with a second generator (the same GAN with a moving
average of G's weights), for runs that interrupt and resume a two-generator
protocol:

    python -m gan_aug.main --config=tests/support/two_generators.py --workdir=DIR
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'configs'))

import covid_acgan  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  """covid_acgan:smoke; generators `gan` (the paper's) and `ema`."""
  config = covid_acgan.get_config('smoke')
  config.protocol.generators = {'gan': {}, 'ema': {'ema_decay': 0.9}}
  config.protocol.arms = tuple(config.protocol.arms) + ('ema',)
  return config
