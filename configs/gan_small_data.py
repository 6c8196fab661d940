"""The small-data GAN study: the paper GAN vs + DiffAugment vs + DiffAugment + EMA.

  python -m gan_aug.main --config=configs/gan_small_data.py:pneumonia --workdir=DIR
  python -m gan_aug.main --config=configs/gan_small_data.py:covid --workdir=DIR

The three GANs are the generators of one protocol (3 seeds): each trains its own
GAN and synthesis stages and feeds its arms `<generator>` and
`<generator>_classical`, beside one `real` arm trained once per seed. DIR/report.md
gives every arm's metrics, the paired differences against real and between the
generators, and per generator the accepted fakes' GAN-test and KID/FID against
the real test images in the feature space of the real arm's classifier.
The filter keeps fakes D scores at least as high as the 5 % quantile of its
scores of real validation images (a fixed 0.76 would mean something different for
a D trained on augmented images); D scores un-augmented images.

Variants (combine with commas):
  pneumonia  (default) PneumoniaMNIST at 10 % of the training split (471 images),
             the ACGAN and classifier of configs/pneumonia_lowdata.py at 28 px;
  covid      covid19_3way (duplicates removed), paper 003's CovidGAN shape at 56 px
             grey (G width 256) and the custom CNN at 112 px;
  smoke      a few steps, one seed, the paper and diffaug_ema generators (checks
             the wiring; the numbers mean nothing).
"""

import importlib.util
import os

from gan_aug.config_blocks import blocks
from gan_aug.config_blocks import variants as variant_blocks

GENERATORS = {
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


def _arms(generators):
  """real, then each generator's plain and _classical arms."""
  return ('real',) + tuple(arm for name in generators
                           for arm in (name, f'{name}_classical'))


def get_config(arg: str = None):
  """Returns the study's config; `arg` is a comma-separated list of variants."""
  variants = variant_blocks.parse_variants(
      arg or 'pneumonia', ('pneumonia', 'covid', 'smoke'), 'gan_small_data')
  if 'covid' in variants:
    config = _covid_config()
    fractions = (1.0,)
  else:
    config = _pneumonia_lowdata_config()
    fractions = (0.1,)
  config.protocol = blocks.protocol(
      arms=_arms(GENERATORS), seeds=3, fractions=fractions, generators=GENERATORS)
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
    # Two of the generators: diffaug_ema runs DiffAugment's code path and EMA's.
    two = {name: GENERATORS[name] for name in ('paper', 'diffaug_ema')}
    config.protocol.generators = two
    config.protocol.arms = _arms(two)
    if 'covid' not in variants:
      config.protocol.fractions = (0.05,)
  return config
