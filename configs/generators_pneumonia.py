"""Does a stronger generator beat the count-matched control? PneumoniaMNIST at 10 %.

  python -m gan_aug.main --config=configs/generators_pneumonia.py:settings --workdir=DIR
  python -m gan_aug.main --config=configs/generators_pneumonia.py --workdir=DIR

PneumoniaMNIST at 10 % of the training split (469 images after the data set's
exclusions), 28 px grey, 3 seeds, the custom CNN and budget of
configs/pneumonia_lowdata.py; the data and GANs of configs/gan_small_data.py, so
a workdir holding that study's stages reuses its trained GANs. Three
generators: `paper` (the paper's ACGAN, 1500 steps), `ada_r1` (the ADA
comparison's choice: ADA + R1, gamma = 1) and `edm` (the EDM diffusion family
at its CPU size, gan_small_data.EDM: 400 steps; no discriminator, so no
filter). Arms: `real`, `classical`, and per generator `<g>` (real + accepted
fakes), `<g>_classical`, `<g>_pretrain` (fakes first, then real) and its
count-matched control `real_oversampled_<g>` (real images repeated to `<g>`'s
class counts). The report gives each generator's fakes against the real test
images (KID, FID, precision, recall, density, coverage, memorisation share),
its grid beside real images per class (figures/real_vs_synthetic[_<g>].png),
the arms' test metrics with paired intervals, and a verdict per generator on
`<g> - real_oversampled_<g>` macro-F1.

Settings are chosen on validation, never on test, by the `settings` variant
(seed 0): each generator's training length over one run's kept checkpoints
(`gan.synthesis_step`: no retraining per length) and, for edm, the guidance
scale s in GUIDANCE with the Heun sampler at 18 steps. The rule
(`gan_aug.report.generators`): the candidate with the lowest KID of its
accepted fakes against the real validation images (in the real arm's
classifier's features); candidates within one KID std (of that lowest
estimate) of it tie, and the tie goes to the higher validation macro-F1 of the
candidate's plain arm. CHOSEN holds the choice; docs/results.md the numbers.

Variants:
  study     (default) the study above;
  settings  seed 0, arms real and each candidate's plain arm, the candidates
            of each generator as a group of `protocol.candidates`;
  long      the verdict's arms only (real, each generator's plain arm and
            real_oversampled_<g>) with the classifier's budget doubled (at most
            30 epochs, patience 5 as before): under the study's budget early
            stopping did not trigger for most of them (docs/results.md);
  smoke     a few steps of gan_small_data's smoke sizes, one seed: the paper GAN
            and a tiny edm with its study arms, and as a candidate beside it
            edm at guidance 0 from its first checkpoint (step 3 of 6) (checks
            the wiring; the numbers mean nothing).
"""

import importlib.util
import os

from gan_aug.config_blocks import variants as variant_blocks


def _load(name: str):
  """A module of configs/ by path (configs/ is no package)."""
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + '.py')
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


_SMALL_DATA = _load('gan_small_data')
GENERATORS = {'paper': dict(_SMALL_DATA.GENERATORS['paper']),
              'ada_r1': dict(_SMALL_DATA.GENERATORS['ada_r1']),
              'edm': dict(_SMALL_DATA.EDM)}
# The candidates of the settings variant: kept checkpoints (the GANs save every
# 500 of 1500 steps, edm every 200 of 400; the last is the default, 0) and
# edm's guidance scales.
LENGTHS = {'paper': (500, 1000, 1500), 'ada_r1': (500, 1000, 1500),
           'edm': (200, 400)}
GUIDANCE = (0.0, 1.0, 2.0)
# Each generator's settings, as the settings variant chose them (seed 0, 2
# CPU cores; every candidate's numbers in docs/results.md): the GANs from their
# checkpoint at step 1000 of 1500 (paper: tied with 500 on KID, the higher
# validation macro-F1), edm at guidance 1 from its last checkpoint (400).
CHOSEN = {'paper': {'synthesis_step': 1000}, 'ada_r1': {'synthesis_step': 1000},
          'edm': {'guidance': 1.0}}


def _length(generator: str, step: int) -> dict:
  """The synthesis_step override of a length: none for the last checkpoint."""
  return {} if step == LENGTHS[generator][-1] else {'synthesis_step': step}


def candidates() -> dict:
  """Group (generator) -> {candidate name: its overrides of config.gan}."""
  out = {}
  for generator, steps in LENGTHS.items():
    group = out.setdefault(generator, {})
    for step in steps:
      if generator == 'edm':
        for s in GUIDANCE:
          group[f'edm_s{s:g}_n{step}'] = {**GENERATORS['edm'], 'guidance': s,
                                          **_length(generator, step)}
      else:
        group[f'{generator}_n{step}'] = {**GENERATORS[generator],
                                         **_length(generator, step)}
  return out


def _study_arms(generators) -> tuple:
  return ('real', 'classical') + tuple(
      arm for g in generators
      for arm in (g, f'{g}_classical', f'{g}_pretrain', f'real_oversampled_{g}'))


def get_config(arg: str = None):
  """Returns the study's config; `arg` is a comma-separated list of variants."""
  variants = variant_blocks.parse_variants(arg or 'study',
                                           ('study', 'settings', 'long', 'smoke'),
                                           'generators_pneumonia')
  if 'smoke' in variants:
    config = _SMALL_DATA.get_config('smoke')
    edm = dict(_SMALL_DATA.EDM_SMOKE)
    config.protocol.generators = {
        'paper': {}, 'edm': edm,
        'edm_s0_n3': {**edm, 'guidance': 0.0, 'synthesis_step': 3}}
    config.protocol.arms = ('real', 'paper', 'paper_classical', 'edm',
                            'edm_classical', 'edm_pretrain', 'real_oversampled_edm',
                            'edm_s0_n3')
    config.protocol.candidates = {'edm': ('edm', 'edm_s0_n3')}
    return config
  config = _SMALL_DATA.get_config('pneumonia')
  # Batches of 128 draw 512 samples for edm's 469 (it keeps every sample).
  config.synthesis.batch_size = 128
  if 'settings' in variants:
    groups = candidates()
    config.protocol.generators = {name: overrides for group in groups.values()
                                  for name, overrides in group.items()}
    config.protocol.arms = ('real',) + tuple(config.protocol.generators)
    config.protocol.candidates = {g: tuple(group) for g, group in groups.items()}
    config.protocol.seeds = 1
    return config
  config.protocol.generators = {g: {**GENERATORS[g], **CHOSEN[g]}
                                for g in GENERATORS}
  config.protocol.arms = _study_arms(GENERATORS)
  if 'long' in variants:
    config.classifier.max_epochs = 30
    config.protocol.arms = ('real',) + tuple(
        arm for g in GENERATORS for arm in (g, f'real_oversampled_{g}'))
  return config
