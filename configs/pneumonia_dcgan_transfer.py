"""Paper 001 (Khalifa et al.): 10 % of the real data + 9x as many GAN images,
four ImageNet transfer models, three seeds.

Command (GAN_AUG_DATA_DIR holds the paper's data set, Kermany et al.'s chest X-rays
unpacked as `chest_xray/`, or pass --config.data.dir):
  python -m gan_aug.main --config=configs/pneumonia_dcgan_transfer.py \
      --workdir=runs/pneumonia [--config.classifier.pretrained_dir=weights/]
The default reads it as `tfds:chest_xray_pneumonia` (prepared once into TFDS
records): its test/ folder is the test split (624 images); its 16-image val/ folder
joins train and validation is carved from train by patient id. `:cpu` and `:smoke`
stand in PneumoniaMNIST (`pneumoniamnist.npz`, the same X-rays at 28x28, with
MedMNIST's official splits; the shared data).

The paper's recipe:
  * keep 10 % of the training data (`protocol.fractions`), three seeds with
    different subsets (`protocol.seeds`), results averaged;
  * GAN: 5 transposed 4x4 convolutions, 4 BN, 4 ReLU, tanh; D: 5 4x4 convolutions,
    4 LeakyReLU, 3 BN: the DCGAN at 64x64; it generates 9x the kept images
    (`synthesis.target` multiple 9), with no filter (`threshold_mode='none'`);
  * classifiers AlexNet, SqueezeNet (1.1), GoogLeNet and ResNet18, each with a new
    last layer for the data set's classes; ResNet18 is the primary one.
Unlike the paper, generated images never enter the test split: the test split is
the set's official one (624 images).
Choices where the paper is silent: one DCGAN per class (the paper does not say
how labels were given to its GAN), batch 64 per class and step, 500 epochs over
the smallest class's subset; images at 64x64 for the GAN (PneumoniaMNIST's 28x28
upsampled);
classifiers at 224x224, SGD momentum 0.9, learning rate 1e-3, batch 32, at most
30 epochs with early stopping (patience 5) on validation loss, fine-tuned end to
end (freeze_backbone False). Without converted ImageNet weights
(`classifier.pretrained_dir`) they train from scratch, and the report says so.

Variants: `smoke` (2 % of train, two seeds, a few steps at 32x32, ResNet18 and
SqueezeNet at 32x32, 32 validation and test images per class); `cpu` (the protocol sized for 2 CPU cores, see below).

Default protocol (`blocks.paper_protocol`): the paper's comparison, real vs gan,
plus classical, gan_classical, real_oversampled and gan_pretrain, 3 seeds at 10 %;
`:smoke` runs real vs gan. The paper's claim (AlexNet 0.888 -> 0.961, on a test set
~90 % generated) is in `config.claims`, marked not comparable.

Measured results: docs/results.md, section `configs/pneumonia_dcgan_transfer.py`.
"""

import os

from gan_aug.config_blocks import blocks
from gan_aug.config_blocks import variants as variant_blocks
from gan_aug.report import claims

PAPER_ARMS = ('real', 'gan')


def get_config(arg: str = None):
  """Returns the paper-001 config; `arg` is a comma-separated list of variants."""
  variants = variant_blocks.parse_variants(arg, ('paper', 'smoke', 'cpu'),
                                           'pneumonia_dcgan_transfer')
  config = blocks.config(
      seed=0,
      protocol=blocks.paper_protocol(PAPER_ARMS, fractions=(0.1,)),
      data=blocks.data(name='tfds:chest_xray_pneumonia',
                         dir=os.path.join(blocks.data_root(), 'chest_xray'),
                       channels=1, resolution=64),
      gan=blocks.gan(name='dcgan_per_class', latent_dim=100, g_base_width=64,
                     d_base_width=64, batch_size=64, num_epochs=500),
      synthesis=blocks.synthesis(threshold_mode='none', target='multiple',
                                 target_value=9.0, max_attempts_multiple=1.0),
      classifier=blocks.classifier(
          name='resnet18', other_models=('alexnet', 'squeezenet1_1', 'googlenet'),
          resolution=224, optimizer='sgd', momentum=0.9, learning_rate=1e-3,
          max_epochs=30, patience=5, freeze_backbone=False))
  config.claims.alexnet_accuracy = claims.claim(
      metric='accuracy', classifier='alexnet', before_arm='real', after_arm='gan',
      before=0.888, after=0.961, fraction=0.1, split='test',
      test_has_synthetic=True, source='§6.1 and Fig. 7 (txt l.293-305)',
      not_comparable='the with-GAN test set (1248 images, 20 % of the 6240) is '
                     'about 90 % generated images, and the baseline was tested '
                     'on another set (125 real images)',
      note='Means of three trials. The paper prints a without-GAN value for '
           'AlexNet only; with GAN it gives ResNet18 0.990, GoogLeNet 0.986 or '
           '0.968 and SqueezeNet 0.947 or 0.978 (§6.1 and Table 1 disagree)')
  if 'cpu' in variants:
    # The default protocol (10 %, 9x fakes, no filter, three seeds) sized for 2
    # CPU cores with the primary classifier only: GAN at 32x32 (ngf = ndf = 32,
    # batch 32 per class, 500 steps); ResNet18 at 32x32, epochs of 20 steps, at
    # most 30, patience 3. At 64x64 one ResNet18 step took 2 s here, and AlexNet
    # needs at least 63x63.
    config.classifier.other_models = ()
    variant_blocks.use_stand_in(config, 'pneumoniamnist')
    config.data.resolution = 32
    config.gan.g_base_width = 32
    config.gan.d_base_width = 32
    config.gan.batch_size = 32
    config.gan.num_steps = 500
    config.gan.log_every = 100
    config.gan.sample_every = 250
    config.gan.checkpoint_every = 250
    config.classifier.resolution = 32
    config.classifier.steps_per_epoch = 20
    config.classifier.max_epochs = 30
    config.classifier.patience = 3
  if 'smoke' in variants:
    variant_blocks.make_smoke(config)
    variant_blocks.use_stand_in(config, 'pneumoniamnist')
    config.protocol.arms = PAPER_ARMS
    config.protocol.seeds = 2
    config.protocol.fractions = (0.02,)
    config.data.resolution = 32
    config.gan.g_base_width = 16
    config.gan.d_base_width = 16
    config.gan.batch_size = 16
    # Two of the four models, at 32x32: compiling GoogLeNet alone takes about a
    # minute on 2 CPU cores (all six are checked against torch in the tests).
    config.classifier.other_models = ('squeezenet1_1',)
    config.classifier.resolution = 32
    # The transfer models' convolutions run slower unoptimised than their
    # optimised compile costs (measured on 2 cores: 170 s vs 146 s).
    config.fast_compile = False
  return config
