"""Paper 002: one DCGAN per chest X-ray class (64x64) + the GMD CNN at 150x150.

Command (GAN_AUG_DATA_DIR holds `covid19_3way/`, or pass --config.data.dir):
  python -m gan_aug.main --config=configs/covid_dcgan.py --workdir=runs/covid_dcgan

The paper's recipe: the DCGAN of paper 000 (Radford et al., 64x64x3, z = 100,
ngf = ndf = 64, Adam 2e-4 beta1 0.5, BCE) trained per class for 4000 epochs;
keep fakes with D(G(z)) >= 0.76; the GMD CNN at 150x150x3, SGD, constant
learning rate 1e-3, no momentum, 200 epochs. Its data: 427 training and 88
validation images (20 %) of three classes.
Choices where the paper is silent: as configs/eye_dcgan.py (batch 128 per class
and step, epochs over the smallest class, `multiple` 1.0 target, 'valid' convs
with ReLU, batch 32, best validation epoch with patience 10). This folder has a
test split, which is used for testing; validation (20 %) is carved from train.
GAN images are made at 64x64 and resized to 150x150 for the classifier with the
real images.

Per-class batch: the paper names no batch size (128 is the PyTorch DCGAN example's
default, and its printed loop trains on `data[0][:1]`, one image per step); 128 per
class is more than every class of this folder (84/56/56 training images), so
`gan.batch_size_rule` is 'smallest_class': each class's GAN takes at most the
smallest class's count per step (56 here).
Default protocol (`blocks.paper_protocol`): the paper's comparison, real vs gan,
plus the controls classical, gan_classical, real_oversampled and gan_pretrain, 3
seeds; `:smoke` runs real vs gan, one seed. The paper's claim is in
`config.claims` (report.md sets it beside the measurement).

Variants: `smoke` (a few steps at 32x32, classifier at 48x48); `cpu` (sized for 2
CPU cores; gan_aug/config_blocks/variants.make_cpu_per_class_dcgan says what changes).

Measured results: `:cpu`'s default protocol is the `covid_dcgan:cpu` row of
docs/results.md ("The papers' default protocols at `:cpu` sizes", 39 min on 2
cores) and of the README's claim table; other runs under `configs/covid_dcgan.py`.
"""

import os

from gan_aug.config_blocks import blocks
from gan_aug.config_blocks import variants as variant_blocks
from gan_aug.report import claims

PAPER_ARMS = ('real', 'gan')


def get_config(arg: str = None):
  """Returns the paper-002 config; `arg` is a comma-separated list of variants."""
  variants = variant_blocks.parse_variants(arg, ('paper', 'smoke', 'cpu'),
                                           'covid_dcgan')
  config = blocks.config(
      seed=0,
      protocol=blocks.paper_protocol(PAPER_ARMS),
      data=blocks.data(dir=os.path.join(blocks.data_root(), 'covid19_3way'),
                       channels=3, resolution=64, val_fraction=0.2),
      gan=blocks.gan(name='dcgan_per_class', latent_dim=100, g_base_width=64,
                     d_base_width=64, batch_size=128,
                     batch_size_rule='smallest_class', num_epochs=4000),
      synthesis=blocks.synthesis(threshold=0.76),
      classifier=blocks.classifier(name='gmd_cnn', resolution=150,
                                   optimizer='sgd', momentum=0.0,
                                   learning_rate=1e-3, max_epochs=200,
                                   patience=10))
  config.claims.accuracy = claims.claim(
      metric='accuracy', classifier='gmd_cnn', before_arm='real', after_arm='gan',
      before=0.8550, after=0.8642, split='validation',
      source='§4.2 and §4.3 (txt l.276, l.284), abstract (l.9)',
      note='Validation accuracy of one run; the paper has no test split. The two '
           'arms were validated on different sets (33/22/33 images, then '
           '44/44/27), and the text says the validation set grew with the '
           'training set, so the after value may include generated images')
  if 'cpu' in variants:
    variant_blocks.make_cpu_per_class_dcgan(config)
  if 'smoke' in variants:
    variant_blocks.make_smoke(config)
    config.protocol.arms, config.protocol.seeds = PAPER_ARMS, 1
    config.data.resolution = 32
    config.gan.g_base_width = 16
    config.gan.d_base_width = 16
    config.gan.batch_size = 16
    config.classifier.resolution = 48
  return config
