"""Paper 000: one DCGAN per eye-disease class (64x64 fundus images) + the GMD CNN.

Command (a folder of fundus classes, `<dir>/<class>/*.jpg` or
`<dir>/{train,test}/<class>/*`; the paper's four classes are Glaucoma, Myopia,
Diabetic retinopathy and Normal, 300 images each):
  python -m gan_aug.main --config=configs/eye_dcgan.py --workdir=runs/eye \
      --config.data.dir=/path/to/fundus_folder

The paper's recipe (§3, the PyTorch DCGAN example it prints):
  * GAN: the DCGAN of Radford et al. at 64x64x3, z = 100, ngf = ndf = 64, BN in G
    and D, Adam 2e-4 (beta1 0.5), BCE, one GAN per class, 4000 epochs, batch 128
    (the example's default);
  * filter: keep a fake when D(G(z)) >= 0.76 (D in inference mode here);
  * classifier: the GMD CNN at 64x64, SGD with a constant learning rate 1e-3,
    momentum 0, 100 epochs.
Choices where the paper is silent: each class's GAN takes a batch of 128 of its
own class every step, all classes in one jitted step (vmapped); an epoch is a pass
over the smallest class; synthesis keeps as many fakes per class as the class has
real images (`multiple` 1.0), at most 20x that many generated; the GMD CNN uses
'valid' 3x3 convolutions and ReLU (Keras defaults) and batch 32; the epoch with
the lowest validation loss (patience 10) is tested; validation is carved from
train (17 %, the paper's 246 of 1446) and test (20 %) too, since the paper
reports validation accuracy only.

Default protocol (`blocks.paper_protocol`): the paper's comparison, real vs gan,
plus the controls classical, gan_classical, real_oversampled and gan_pretrain, 3
seeds; `:smoke` runs real vs gan, one seed. The paper's claim is in
`config.claims` (report.md sets it beside the measurement).

Variants: `smoke` (a few steps at 32x32 on ../shared/data/covid19_3way, which
stands in for a fundus folder: checks an install, means nothing); `cpu` (sized
for 2 CPU cores; gan_aug/config_blocks/variants.make_cpu_per_class_dcgan).

Measured results: docs/results.md, section `configs/eye_dcgan.py`.
"""

import os

from gan_aug.config_blocks import blocks
from gan_aug.config_blocks import variants as variant_blocks
from gan_aug.report import claims

PAPER_ARMS = ('real', 'gan')


def get_config(arg: str = None):
  """Returns the paper-000 config; `arg` is a comma-separated list of variants."""
  variants = variant_blocks.parse_variants(arg, ('paper', 'smoke', 'cpu'),
                                           'eye_dcgan')
  config = blocks.config(
      seed=0,
      protocol=blocks.paper_protocol(PAPER_ARMS),
      data=blocks.data(dir=os.path.join(blocks.data_root(), 'eye_fundus'),
                       channels=3, resolution=64, val_fraction=0.17),
      gan=blocks.gan(name='dcgan_per_class', latent_dim=100, g_base_width=64,
                     d_base_width=64, batch_size=128, num_epochs=4000),
      synthesis=blocks.synthesis(threshold=0.76),
      classifier=blocks.classifier(name='gmd_cnn', resolution=64,
                                   optimizer='sgd', momentum=0.0,
                                   learning_rate=1e-3, max_epochs=100,
                                   patience=10))
  config.claims.accuracy = claims.claim(
      metric='accuracy', classifier='gmd_cnn', before_arm='real', after_arm='gan',
      before=0.7642, after=0.8374, split='validation',
      source='§4.2 and §4.3 (txt l.281, l.290), abstract',
      note='Validation accuracy of one run on 246 validation images (66 DR, 66 '
           'myopia, 66 normal, 48 glaucoma); the paper reports no test result. '
           'Its gan arm trained on 2546 images, 1346 of them generated')
  if 'cpu' in variants:
    variant_blocks.make_cpu_per_class_dcgan(config)
  if 'smoke' in variants:
    variant_blocks.make_smoke(config)
    config.protocol.arms, config.protocol.seeds = PAPER_ARMS, 1
    variant_blocks.use_stand_in(config, 'covid19_3way')
    config.data.resolution = 32
    config.gan.g_base_width = 16
    config.gan.d_base_width = 16
    config.gan.batch_size = 16
    config.classifier.resolution = 48
  return config
