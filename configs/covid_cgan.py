"""Paper 004: the MLP conditional GAN on 224x224x1 chest X-rays; balance the classes.

Command (GAN_AUG_DATA_DIR holds `covid19_3way/`, or pass --config.data.dir):
  python -m gan_aug.main --config=configs/covid_cgan.py --workdir=runs/covid_cgan

The paper's recipe (§3.3, Table 2): G: noise 128 x a 128-d label embedding, dense
128-256-512-1024 with LeakyReLU 0.2 and BN, dense to 224x224x1 with tanh; D: the
image times a label embedding, dense layers of 512 with LeakyReLU, BN and
dropout, sigmoid; Adam 2e-4, batch 128, 10000 epochs; annealed instance noise on
D's inputs; fakes added until every class has as many images as the largest
(`synthesis.target` balance).
Choices where the paper is silent or ambiguous: Table 2's "Learning Rate (B2) 0.6"
is not used (Adam beta1 0.5, beta2 0.999 as the Keras CGAN recipe); D's dropout
rate 0.4; instance noise std 0.1 on D's [-1, 1] inputs, annealed linearly to 0
over the run; an epoch is one batch of 128 (this folder has 209 training
images, so 10000 epochs = 10000 steps). The paper removed noisy fakes by eye; here
no D filter is applied (`threshold_mode='none'`). It has no classifier: the project's
default (paper 003's custom CNN, Adam 1e-4, 224x224) is used, on three classes
(the paper had two).

Default protocol (`blocks.paper_protocol`): the paper's comparison, real vs gan,
plus the controls classical, gan_classical, real_oversampled and gan_pretrain, 3
seeds; `:smoke` runs real vs gan, one seed. The paper's claim (its FID) is in
`config.claims` (report.md sets it beside the measurement).

Variants: `smoke` (a few steps at 32x32 with narrow layers); `cpu` (the paper's
widths at 56x56, 3000 steps, and covid_acgan.py:cpu's classifier at 56x56).

Measured results: `:cpu`'s default protocol is the `covid_cgan:cpu` row of
docs/results.md ("The papers' default protocols at `:cpu` sizes", 28 min on 2
cores) and of the README's claim table; other runs under `configs/covid_cgan.py`.
"""

import os

from gan_aug.config_blocks import blocks
from gan_aug.config_blocks import variants as variant_blocks
from gan_aug.report import claims

PAPER_ARMS = ('real', 'gan')


def get_config(arg: str = None):
  """Returns the paper-004 config; `arg` is a comma-separated list of variants."""
  variants = variant_blocks.parse_variants(arg, ('paper', 'smoke', 'cpu'),
                                           'covid_cgan')
  config = blocks.config(
      seed=0,
      protocol=blocks.paper_protocol(PAPER_ARMS),
      data=blocks.data(dir=os.path.join(blocks.data_root(), 'covid19_3way'),
                       channels=1, resolution=224),
      gan=blocks.gan(name='cgan', latent_dim=128,
                     g_hidden_widths=(128, 256, 512, 1024),
                     d_hidden_widths=(512, 512, 512, 512), d_dropout=0.4,
                     batch_size=128, num_epochs=10000, instance_noise_std=0.1),
      synthesis=blocks.synthesis(threshold_mode='none', target='balance'),
      classifier=blocks.classifier(name='custom_cnn', resolution=224,
                                   learning_rate=1e-4, steps_per_epoch=50))
  config.claims.fid = claims.claim(
      metric='fid', classifier='', before=None, after=2.349, split='test',
      source='Table 4 (txt l.256), abstract (l.26)',
      not_comparable='the paper states neither the reference set, nor the number '
                     'of images, nor how its 224x224 grayscale images were fed to '
                     'Inception-v3 (2048-d pool features, §3d), and its other '
                     'rows come from other papers\' protocols',
      note='Its only metric; no classifier was trained')
  if 'cpu' in variants:
    # The default protocol sized for 2 CPU cores (28 minutes measured, every arm
    # stopped early): the paper's layer widths at 56x56 (the output layer is the
    # cost of 224x224), batch 64, 3000 steps; the classifier exactly as
    # covid_acgan.py:cpu's (56x56, Adam 1e-4, epochs of 25 steps, at most 40,
    # patience 3), so the two rows share their real and classical arms.
    config.data.resolution = 56
    config.gan.batch_size = 64
    config.gan.num_steps = 3000
    config.gan.log_every = 250
    config.gan.sample_every = 1000
    config.gan.checkpoint_every = 1000
    config.classifier.resolution = 56
    config.classifier.steps_per_epoch = 25
    config.classifier.max_epochs = 40
    config.classifier.patience = 3
  if 'smoke' in variants:
    variant_blocks.make_smoke(config)
    config.protocol.arms, config.protocol.seeds = PAPER_ARMS, 1
    config.data.resolution = 32
    config.gan.g_hidden_widths = (16, 32, 64, 128)
    config.gan.d_hidden_widths = (64, 64, 64, 64)
    config.gan.batch_size = 16
    config.synthesis.target = 'balance'
    config.classifier.resolution = 32
  return config
