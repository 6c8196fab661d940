"""covid19_3way as an experiment: arms x 3 seeds, with the shortcut control.

  python -m gan_aug.main --config=configs/covid_experiment.py --workdir=DIR

The COVID-19 images of this folder come from many sources and file formats while
the other two classes are uniform, so a classifier can learn the source instead
of the lungs (DeGrave et al., Nature Machine Intelligence 2021). The
`borders_only` arm trains and tests the same classifier on images whose central
70 % x 70 % is blanked out: accuracy well above the majority-class rate there
means the other arms' comparison rests at least partly on such shortcuts.

Sized for 2 CPU cores: duplicates removed (dataset.json lists them), the CovidGAN
shape (ACGAN, paper 003) at 56x56 grey with G/D widths 64/16, batch 32, 1200
steps, trained on the training split it augments; synthesis keeps as many fakes
per class as real images, D's score at least the 5 % quantile of its scores of
real validation images and D's class head agreeing; paper 003's custom CNN at
64x64, Adam 1e-3, at most 16 epochs of 25 steps, patience 6, the same steps and
initial weights for every arm. Training fraction 1.0 only: 10 % of this folder
is 21 images, 7 per class, too few to train a GAN on.
Variant `smoke`: a few steps, one seed (checks the wiring; the numbers mean nothing).

Measured results: docs/results.md, section `configs/covid_experiment.py`.
"""

import os

from gan_aug.config_blocks import blocks
from gan_aug.config_blocks import variants as variant_blocks


def get_config(arg: str = None):
  """Returns the experiment config; `arg` is a comma-separated list of variants."""
  variants = variant_blocks.parse_variants(arg, ('paper', 'smoke'), 'covid_experiment')
  config = blocks.config(
      seed=0,
      data=blocks.data(dir=os.path.join(blocks.data_root(), 'covid19_3way'),
                       channels=1, resolution=56),
      gan=blocks.gan(
          name='acgan', latent_dim=100, label_embedding_dim=50, g_base_width=64,
          g_kernel_size=5, d_base_width=16, d_dropout=0.5, aux_loss_on_fake=True,
          batch_size=32, num_steps=1200, log_every=200, sample_every=600,
          checkpoint_every=400),
      synthesis=blocks.synthesis(threshold_mode='real_quantile', real_quantile=0.05,
                                 require_class_agreement=True, target='multiple',
                                 target_value=1.0, batch_size=256),
      classifier=blocks.classifier(name='custom_cnn', resolution=64, batch_size=32,
                                   eval_batch_size=64, learning_rate=1e-3,
                                   steps_per_epoch=25, max_epochs=16, patience=6))
  config.protocol = blocks.protocol(
      arms=('real', 'classical', 'gan', 'gan_classical', 'borders_only'), seeds=3,
      fractions=(1.0,))
  if 'smoke' in variants:
    variant_blocks.make_smoke(config)
    config.gan.batch_size = 16
    config.gan.g_base_width = 32
    config.gan.d_base_width = 8
    config.classifier.resolution = 32
    config.protocol.seeds = 1
  return config
