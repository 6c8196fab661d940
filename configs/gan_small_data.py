"""The small-data GAN study: does ADA + R1 change the answer on a few hundred X-rays?

  python -m gan_aug.main --config=configs/gan_small_data.py:gamma --workdir=DIR
  python -m gan_aug.main --config=configs/gan_small_data.py --workdir=DIR

Two generators of one protocol, 3 seeds: `paper` (the ACGAN of
configs/pneumonia_lowdata.py, the papers' BCE loss) and `ada_r1` (the same
networks with ADA (`gan.ada`) and the R1 penalty, gamma = R1_GAMMA, chosen by the
`:gamma` variant on seed 0 by KID against the real validation images). Each
trains its own GAN and synthesis stages per seed and feeds its arms `<g>` and
`<g>_classical`, with its count-matched control `real_oversampled[_<g>]`,
beside `real` and `classical` trained once per seed. DIR/report.md gives every
arm's metrics, the paired differences against the controls and between the
generators, and per generator the accepted fakes' GAN-test and KID/FID against
the real test and validation images in the feature space of the real arm's
classifier. The filter keeps fakes D scores at least as high as the 5 % quantile
of its scores of real validation images; D scores un-augmented images. Measured:
docs/results.md.

Variants (combine with commas):
  pneumonia  (default) PneumoniaMNIST at 10 % of the training split (469 images
             after the data set's exclusions), 28 px, 1500 GAN steps;
  gamma      R1's gamma chosen: seed 0, arms real and each candidate's plain arm,
             ADA + R1 at each of GAMMAS;
  diffaug    the earlier study's generators instead: the paper GAN, + DiffAugment
             and + DiffAugment + EMA (arms real, <g>, <g>_classical);
  diffusion  the paper GAN and `edm`, the EDM diffusion family
             (gan_aug/diffusion/, sizes in EDM; its samples are not filtered:
             it has no discriminator); arms real, classical and each
             generator's <g>, <g>_classical; synthesis batches of 128;
  covid      covid19_3way (duplicates removed), paper 003's CovidGAN shape at 56 px
             grey (G width 256) and the custom CNN at 112 px, 2000 GAN steps;
  smoke      a few steps, one seed, the paper and ada_r1 generators (with
             diffusion: paper and a tiny edm, arms real and each generator's
             <g>, <g>_classical; checks the wiring; the numbers mean nothing).
"""

import importlib.util
import os

from gan_aug.config_blocks import blocks
from gan_aug.config_blocks import variants as variant_blocks

# R1's gamma candidates (the :gamma variant) and the one chosen from them.
GAMMAS = (0.1, 1.0, 10.0)
R1_GAMMA = 1.0
GENERATORS = {
    'paper': {},
    'ada_r1': {'ada': True, 'r1_gamma': R1_GAMMA},
}
# The diffusion family beside the paper GAN (the :diffusion variant): EDM's
# U-Net at the CPU size of docs/results.md (one seed's diffusion stage, training
# and sampling, in <= 15 minutes on 2 CPU cores).
EDM = {
    'name': 'edm', 'batch_size': 64, 'num_steps': 400, 'learning_rate': 1e-3,
    'ema_decay': 0.999, 'unet_widths': (32, 64, 64), 'unet_blocks': 1,
    'attention_resolutions': (7,), 'dropout': 0.1, 'label_dropout': 0.1,
    'guidance': 1.0, 'sample_steps': 18, 'log_every': 50, 'sample_every': 200,
    'checkpoint_every': 200,
}
EDM_GENERATORS = {'paper': {}, 'edm': EDM}
# A few steps of a tiny U-Net (the :smoke,diffusion variant).
EDM_SMOKE = {**EDM, 'batch_size': 16, 'num_steps': 6, 'unet_widths': (8, 16),
             'attention_resolutions': (14,), 'sample_steps': 3, 'log_every': 2,
             'sample_every': 3, 'checkpoint_every': 3, 'conv_impl': 'lax'}
# The earlier study's generators (the :diffaug variant).
DIFFAUG_GENERATORS = {
    'paper': {},
    'diffaug': {'diffaug': 'color,translation,cutout'},
    'diffaug_ema': {'diffaug': 'color,translation,cutout', 'ema_decay': 0.999},
}


def _pneumonia_lowdata_config():
  """configs/pneumonia_lowdata.py's config (loaded by path: configs/ is no package)."""
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pneumonia_lowdata.py')
  spec = importlib.util.spec_from_file_location('pneumonia_lowdata', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def _covid_config():
  return blocks.config(
      seed=0,
      data=blocks.data(dir=os.path.join(blocks.data_root(), 'covid19_3way'),
                       channels=1, resolution=56),
      gan=blocks.gan(
          name='acgan', latent_dim=100, label_embedding_dim=50, g_base_width=256,
          g_kernel_size=5, d_base_width=32, d_dropout=0.5, aux_loss_on_fake=True,
          batch_size=64, num_steps=2000, log_every=250, sample_every=1000,
          checkpoint_every=1000),
      synthesis=blocks.synthesis(threshold_mode='real_quantile', real_quantile=0.05,
                                 require_class_agreement=True, target='multiple',
                                 target_value=1.0, batch_size=256),
      classifier=blocks.classifier(name='custom_cnn', resolution=112, batch_size=32,
                                   eval_batch_size=64, learning_rate=1e-4,
                                   steps_per_epoch=50, max_epochs=30, patience=5))


def _arms(generators, controls=('real',)):
  """The controls, then each generator's plain and _classical arms."""
  return tuple(controls) + tuple(arm for name in generators
                                 for arm in (name, f'{name}_classical'))


def _gamma_name(gamma: float) -> str:
  return 'ada_r1_g' + f'{gamma:g}'.replace('.', 'p')


def get_config(arg: str = None):
  """Returns the study's config; `arg` is a comma-separated list of variants."""
  variants = variant_blocks.parse_variants(
      arg or 'pneumonia',
      ('pneumonia', 'gamma', 'diffaug', 'diffusion', 'covid', 'smoke'),
      'gan_small_data')
  if 'covid' in variants:
    config = _covid_config()
    fractions = (1.0,)
  else:
    config = _pneumonia_lowdata_config()
    config.gan.num_steps = 1500
    fractions = (0.1,)
  # real_oversampled follows the first generator, paper.
  config.protocol = blocks.protocol(
      arms=_arms(GENERATORS, ('real', 'classical', 'real_oversampled',
                              'real_oversampled_ada_r1')),
      seeds=3, fractions=fractions, generators=GENERATORS)
  if 'diffaug' in variants:
    config.protocol.generators = DIFFAUG_GENERATORS
    config.protocol.arms = _arms(DIFFAUG_GENERATORS)
  if 'diffusion' in variants:
    config.protocol.generators = EDM_GENERATORS
    config.protocol.arms = _arms(EDM_GENERATORS, ('real', 'classical'))
    config.synthesis.batch_size = 128
  if 'gamma' in variants:
    candidates = {_gamma_name(g): {'ada': True, 'r1_gamma': g} for g in GAMMAS}
    config.protocol.generators = candidates
    config.protocol.arms = ('real',) + tuple(candidates)
    config.protocol.seeds = 1
  if 'smoke' in variants:
    variant_blocks.make_smoke(config)
    config.gan.batch_size = 16
    config.gan.g_base_width = 32
    config.gan.d_base_width = 8
    config.synthesis.require_class_agreement = False
    config.synthesis.target = 'count'
    config.synthesis.target_value = 16
    config.classifier.resolution = 28
    config.protocol.seeds = 1
    config.protocol.arms = _arms(GENERATORS)
    if 'diffusion' in variants:
      config.protocol.generators = {'paper': {}, 'edm': EDM_SMOKE}
      config.protocol.arms = _arms(EDM_GENERATORS)
    if 'covid' not in variants:
      config.protocol.fractions = (0.05,)
  return config
