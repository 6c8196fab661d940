"""Stage keys are a promise: the fingerprints of three configs' stages, pinned.

A finished stage is found again by its key, so a change that re-keys a stage
(a field added to a key, a field renamed, a key computed differently) orphans
every workdir's finished stages of that kind. The values below were recorded by
running the configs on the shared data (the stage folders those runs made carry
the same fingerprints). A change that must re-key a stage changes this test and
says why.

Re-keyed once, the classifier stages: each (fraction, seed, classifier) now has
a controls stage (the arms without synthetic images, trained once whatever the
generators) and one stage per generator, and every arm stops on its own
patience (`arm_stopping: own` in the key), which changes results an earlier
stage recorded. The GAN and synthesis keys are as they were.
"""

import pytest

from gan_aug import data as data_lib
from gan_aug.core.fingerprints import fingerprint
from gan_aug.pipeline import runner
from gan_aug.pipeline import stages
from gan_aug.protocol import arms
from gan_aug.protocol import axes as protocol_lib
from helpers import covid_acgan
import covid_cgan  # pylint: disable=g-bad-import-order
import covid_dcgan  # pylint: disable=g-bad-import-order

# config -> the stage fingerprints of its first (fraction, seed).
PINNED = {
    'covid_acgan.py:phantom': {
        'gan': 'f121d7d836edbcbc', 'synthesis': '9a78a40220ab7ef2',
        'classifiers': {'custom_cnn': {'controls': 'd1aa3322d6a67de3',
                                       'gan': '0fcc910b294db1a6'}}},
    'covid_dcgan.py:smoke': {
        'gan': '3dae93592c44ffec', 'synthesis': '0dab40a53bdf9795',
        'classifiers': {'gmd_cnn': {'controls': '387d02a0bb8c2343',
                                    'gan': '354c18d107df744f'}}},
    'covid_cgan.py:smoke': {
        'gan': '399004ed852057fb', 'synthesis': '527c763eaaddf23e',
        'classifiers': {'custom_cnn': {'controls': 'd5be9e91f07281b3',
                                       'gan': 'e3e78f1738fb6eee'}}},
}
_MODULES = {'covid_acgan.py': covid_acgan, 'covid_dcgan.py': covid_dcgan,
            'covid_cgan.py': covid_cgan}


def stage_fingerprints(config) -> dict:
  """The GAN, synthesis and classifier stage fingerprints of `config`'s first
  (fraction, seed), computed as the runner computes them."""
  full = data_lib.load_dataset(config.data, config.seed)
  seed_config = protocol_lib.seed_config(config, 0)
  dataset = data_lib.keep_training_fraction(
      full, float(config.protocol.fractions[0]), seed_config.seed)
  data_fp = stages.data_fingerprint(dataset)
  gan_fp = fingerprint(stages.gan_stage_key(seed_config, data_fp))
  synthesis_fp = fingerprint(stages.synthesis_stage_key(seed_config, gan_fp))
  bound = arms.bindings(config.protocol.arms, ['gan'])
  controls = [b.kind for b in bound if b.generator is None]
  generated = [b.kind for b in bound if b.generator]
  out = {'gan': gan_fp, 'synthesis': synthesis_fp, 'classifiers': {}}
  for name in runner.classifier_names(config):
    controls_fp = fingerprint(stages.classifier_stage_key(
        seed_config, data_fp, None, name, controls))
    out['classifiers'][name] = {
        'controls': controls_fp,
        'gan': fingerprint(stages.classifier_stage_key(
            seed_config, data_fp, synthesis_fp, name, generated, controls_fp))}
  return out


@pytest.mark.parametrize('name', sorted(PINNED))
def test_stage_fingerprints_are_pinned(name, data_dir, monkeypatch):
  monkeypatch.setenv('GAN_AUG_DATA_DIR', data_dir)
  module, _, variant = name.partition(':')
  config = _MODULES[module].get_config(variant)
  assert stage_fingerprints(config) == PINNED[name]
