"""What several configs' variants share: the variant argument, the stand-in data
sets of `:cpu`/`:smoke`, the CPU size of papers 000/002, and `:smoke` itself.

Each changes a config made from `gan_aug.config_blocks.blocks` in place.
"""

import os

import ml_collections

from gan_aug.config_blocks.blocks import data_root


def parse_variants(arg, valid, config_name: str) -> set:
  """The comma-separated variants of `arg`; ValueError naming the valid ones."""
  variants = set(filter(None, (arg or 'paper').split(',')))
  unknown = variants - set(valid)
  if unknown:
    raise ValueError(f'Unknown variant(s) {sorted(unknown)} for {config_name}; '
                     f'valid: {", ".join(valid)}.')
  return variants


def use_stand_in(config: ml_collections.ConfigDict, name: str) -> None:
  """Points `config.data` at a shared stand-in for the paper's own data set
  (`:cpu`/`:smoke`): 'covid19_3way' (the 3-class COVID-19 image folder) or
  'pneumoniamnist' (PneumoniaMNIST's .npz)."""
  if name == 'covid19_3way':
    config.data.name = 'image_folder'
    config.data.dir = os.path.join(data_root(), 'covid19_3way')
  elif name == 'pneumoniamnist':
    config.data.name = 'npz'
    config.data.path = os.path.join(data_root(), 'pneumoniamnist.npz')
    config.data.class_names = ('normal', 'pneumonia')
  else:
    raise ValueError(f'no stand-in data set {name!r}')


def make_cpu_per_class_dcgan(cfg: ml_collections.ConfigDict) -> None:
  """Papers 000/002 sized for 2 CPU cores (the default protocol, 6 arms x 3
  seeds, in 39 minutes on covid19_3way: docs/results.md): the same per-class
  DCGAN and GMD CNN at smaller sizes, and Adam for the classifier.

  The GAN runs at 32x32 with ngf = ndf = 32, batch 32 per class, 1200 steps
  (4-5 steps/s on a 2-core Xeon). The filter threshold is the 5 % quantile
  of D's scores of real validation images: with the papers' fixed 0.76 no fake
  passed on covid19_3way (0 of 4352; D, in inference mode, scored the real
  validation X-rays 0.000-0.712, median 0.008), so the gan arm would have been
  the real one. The GMD CNN runs at its smallest input (48x48), where one
  training step of batch 32 takes about 1 s on 2 cores, so an arm can afford
  about 100 steps: the papers' plain SGD at 1e-3 barely moves the validation
  loss in that many (measured: 1.093 -> 1.091 in 40 steps), so this variant
  uses Adam at 5e-4 with epochs of 5 steps, at most 30, patience 3. Measured on
  covid19_3way (seed 0, arms real and classical, validation loss): at 3e-4 the
  real arm still improved at epoch 15; at 1e-3 both stopped early (after 7 and
  11 epochs) with a noisy validation loss; 5e-4 lies between.
  """
  cfg.data.resolution = 32
  cfg.gan.g_base_width = 32
  cfg.gan.d_base_width = 32
  cfg.gan.batch_size = 32
  cfg.gan.num_steps = 1200
  cfg.gan.log_every = 100
  cfg.gan.sample_every = 400
  cfg.gan.checkpoint_every = 400
  cfg.synthesis.threshold_mode = 'real_quantile'
  cfg.classifier.resolution = 48
  cfg.classifier.optimizer = 'adam'
  cfg.classifier.learning_rate = 5e-4
  cfg.classifier.steps_per_epoch = 5
  cfg.classifier.max_epochs = 30
  cfg.classifier.patience = 3


def make_smoke(cfg: ml_collections.ConfigDict) -> None:
  """A few GAN steps and classifier epochs on at most 32 held-out images per
  class: checks an install, means nothing. Its time is compilation, so programs
  compile unoptimised (`fast_compile`)."""
  cfg.fast_compile = True
  cfg.data.held_out_per_class = 32
  cfg.gan.num_steps = 6
  cfg.gan.log_every = 2
  cfg.gan.sample_every = 3
  cfg.gan.checkpoint_every = 3
  cfg.gan.samples_per_class = 4
  cfg.synthesis.threshold_mode = 'none'  # Keep whatever a 6-step GAN makes.
  cfg.synthesis.target = 'count'
  cfg.synthesis.target_value = 8
  cfg.synthesis.max_attempts_multiple = 8.0
  cfg.synthesis.batch_size = 32
  cfg.classifier.max_epochs = 2
  cfg.classifier.patience = 1
  cfg.classifier.steps_per_epoch = 2
  cfg.classifier.batch_size = 16
  cfg.protocol.gan_pretrain_epochs = 1
