"""Building blocks of the paper configs: the fields every config has, with defaults.

The variants several configs share (`:smoke`, the stand-in data sets, the CPU
size of the per-class DCGAN) are `gan_aug.config_blocks.variants`.

Each paper config (configs/*.py) starts from these blocks and sets the values its
paper names; a field a paper does not mention keeps the default documented here.
"""

import os

import ml_collections

from gan_aug.classifier import augment
from gan_aug.diffusion import family as diffusion_family


def data_root() -> str:
  """Where the configs look for data sets: $GAN_AUG_DATA_DIR, else ./data."""
  return os.environ.get('GAN_AUG_DATA_DIR', 'data')


def data(**values) -> ml_collections.ConfigDict:
  """config.data: which data set, at what size, and how splits are made."""
  cfg = ml_collections.ConfigDict({
      # image_folder | npz | phantom | tfds:<source> (prepared once into TFDS
      # records: covid19_radiography, chest_xray_pneumonia, covid19_3way,
      # class_folder, medmnist; gan_aug.data.prepared)
      'name': 'image_folder',
      'dir': '',                # folders: <dir>/<split?>/<class>/*
      'path': '',               # npz, tfds:medmnist: MedMNIST-style file
      'class_names': (),        # npz: names for labels 0..C-1
      'include_classes': (),    # tfds folder sources: these classes only
      # tfds:*: where the records go ('' = ~/.cache/gan_aug/prepared), and which
      # records form each split (TFDS syntax, e.g. 'train[:50%]'; '' = as given).
      'prepared_dir': '',
      'split_strings': {'train': '', 'val': '', 'test': ''},
      # The same pixels under two classes: 'exclude' keeps them out of
      # training (listed in dataset.json), 'keep' trains them under each label.
      'label_conflict_policy': 'exclude',
      'channels': 3,
      'resolution': 64,
      'val_fraction': 0.15,     # carved from train when the data has no val split
      'test_fraction': 0.2,     # carved from train when the data has no test split
      'bad_file_policy': 'skip',
      'phantom_per_class': {'train': 100, 'val': 20, 'test': 40},
      # > 0: at most this many images per class in val and test (`:smoke` only;
      # a measurement tests on every held-out image).
      'held_out_per_class': 0,
      # A stage's training set larger than this many bytes (as it would lie on
      # the devices) is streamed by Grain, a batch per step (0: always stream;
      # gan_aug.data.streaming). Threads reading, and steps read ahead:
      'in_memory_max_bytes': 2 * 1024 ** 3,
      'stream_threads': 4,
      'stream_prefetch': 8,
  })
  cfg.update(values)
  return cfg


def gan(**values) -> ml_collections.ConfigDict:
  """config.gan: the fields every GAN family reads (families add their own)."""
  cfg = ml_collections.ConfigDict({
      'latent_dim': 100,
      'batch_size': 64,
      # Per-class GANs: 'fixed' (gan.batch_size images of each class per step;
      # refused when a class has fewer) or 'smallest_class' (at most the
      # smallest class's count: gan_aug.generator.loop.per_class_batch_size).
      'batch_size_rule': 'fixed',
      'learning_rate': 2e-4,
      'beta1': 0.5,
      'beta2': 0.999,
      'leaky_slope': 0.2,
      # DCGAN 4x4 layers: 'lax' (nn.Conv/ConvTranspose), 'matmul' (the same maths
      # as matrix products, fast on CPU) or 'auto' (matmul on CPU, lax elsewhere).
      'conv_impl': 'auto',
      # 'bfloat16': G and D compute in bf16 while parameters, batch statistics,
      # optimizer states and losses stay float32 (for GPUs/TPUs; slow on CPU).
      'compute_dtype': 'float32',
      'num_epochs': 1,
      'num_steps': 0,           # > 0 overrides num_epochs
      # D's and G's losses (gan_aug.gan.objectives): 'bce' (the papers'),
      # 'hinge' or 'lsgan' (targets +1/-1).
      'objective': 'bce',
      # R1 penalty (gamma/2) E||grad_x D(x)||^2 on real images; 0 = off. Taken
      # every r1_every steps and scaled by r1_every (lazy regularisation).
      'r1_gamma': 0.0,
      'r1_every': 16,
      # ADA (gan_aug.gan.ada): everything D sees augmented with probability p,
      # adjusted every ada_interval steps towards E[sign(D(x_real))] =
      # ada_target; p can move from 0 to 1 in ada_kimg thousand images. ADA's
      # runs use 500 over 5-25 million images; these see about 0.1 million,
      # so 10 lets p cross its range in a tenth of a run.
      'ada': False,
      'ada_target': 0.6,
      'ada_interval': 4,
      'ada_kimg': 10.0,
      'instance_noise_std': 0.0,  # Gaussian noise on D's inputs, annealed to 0
      'instance_noise_anneal_steps': 0,  # 0 = over the whole run
      # DiffAugment policy for everything D sees in training, e.g.
      # 'color,translation,cutout'; '' = off (the papers' recipe).
      'diffaug': '',
      # > 0: keep a moving average of G's weights (e.g. 0.999) and synthesise
      # with it; 0 = off.
      'ema_decay': 0.0,
      'log_every': 50,
      'sample_every': 500,
      'checkpoint_every': 500,
      'max_checkpoints_to_keep': 3,
      'samples_per_class': 8,
      # Synthesis draws from the checkpoint saved at this step (0: the newest),
      # to compare training lengths over one run's kept checkpoints; it keys
      # the synthesis stage, not the training one.
      'synthesis_step': 0,
  })
  cfg.update(values)
  return cfg


def edm(**values) -> ml_collections.ConfigDict:
  """config.gan for the EDM diffusion family (`gan_aug.diffusion.family`): the
  loop's fields of `gan`, the family's own (`FIELDS`), EDM's usual moving
  average (0.999) and a learning rate of 1e-3."""
  cfg = gan(name='edm', learning_rate=1e-3, ema_decay=0.999)
  cfg.update(dict(diffusion_family.FIELDS))
  cfg.update(values)
  return cfg


def synthesis(**values) -> ml_collections.ConfigDict:
  """config.synthesis: how many fakes to keep per class and which pass the filter."""
  cfg = ml_collections.ConfigDict({
      # none: no realness threshold | fixed: realness >= threshold | errd_fake:
      # -log(1 - realness) >= threshold (papers 000/002's printed code) |
      # real_quantile (gan_aug.synthesis.filter). A D trained under the hinge
      # or lsgan objective gives no probability: real_quantile or none only.
      'threshold_mode': 'fixed',
      'threshold': 0.76,          # Papers 000/002's text: keep D(G(z)) >= 0.76.
      'real_quantile': 0.05,      # real_quantile mode
      'require_class_agreement': False,  # ACGAN only: D's class head must agree
      'target': 'multiple',       # count | multiple | balance
      'target_value': 1.0,        # count: images per class; multiple: x real
      'max_attempts_multiple': 20.0,  # at most this x target fakes per class
      'num_checkpoints': 1,       # draw from the newest N GAN checkpoints
      'batch_size': 256,
      'grid_per_class': 8,
      # Classifier agreement, for any generator (gan_aug.synthesis.agreement):
      # also keep a fake only when config.classifier's model, trained on the
      # real training split alone for classifier_filter_epochs epochs, assigns
      # it the requested class (with at least classifier_filter_confidence).
      'classifier_filter': False,
      'classifier_filter_epochs': 10,
      'classifier_filter_confidence': 0.0,
  })
  cfg.update(values)
  return cfg


def classifier(**values) -> ml_collections.ConfigDict:
  """config.classifier: the classifier(s) trained on real and real + synthetic."""
  cfg = ml_collections.ConfigDict({
      'name': 'custom_cnn',       # the primary classifier (the report's main table)
      'other_models': (),         # more classifiers trained on the same data
      'resolution': 224,
      'batch_size': 32,
      'eval_batch_size': 64,
      'optimizer': 'adam',        # adam | sgd
      'momentum': 0.0,            # sgd only; 0 = plain SGD
      'learning_rate': 1e-4,
      # constant | cosine (decayed to 0 over max_epochs * steps_per_epoch steps)
      'lr_schedule': 'constant',
      # none | balanced: each class weighs the same in the training loss (and in
      # the validation loss early stopping watches), whatever its share.
      'class_weighting': 'none',
      # custom_cnn / gmd_cnn convolutions: auto (matmul on CPU, lax elsewhere)
      # | lax | matmul; the same layers and outputs either way.
      'conv_impl': 'auto',
      'conv_dropout': 0.25,       # custom_cnn
      'dense_dropout': 0.5,       # custom_cnn and the transfer heads
      'max_epochs': 100,
      # Steps per "epoch" (evaluation + early-stopping unit), the same for both
      # arms; 0 = one pass over the real training split.
      'steps_per_epoch': 0,
      'patience': 5,
      # Save progress after an epoch when this long has passed since the last save
      # (0 = every epoch). Does not change results, only what a kill can lose.
      'checkpoint_every_seconds': 120,
      # Transfer models: converted ImageNet weights (<dir>/<name>.msgpack).
      'pretrained_dir': '',
      'freeze_backbone': True,    # only with pretrained weights
  })
  cfg.update(values)
  return cfg


def protocol(**values) -> ml_collections.ConfigDict:
  """config.protocol (`gan_aug.protocol.axes`): arms x seeds x training fractions;
  by default one seed of real vs gan on all of the training split."""
  cfg = ml_collections.ConfigDict({
      'arms': ('real', 'gan'),
      'seeds': 1,
      'fractions': (1.0,),
      'classical': augment.classical_config(),
      # gan_pretrain arm: epochs (of classifier.steps_per_epoch steps) on the
      # accepted fakes before the real images; < classifier.max_epochs.
      'gan_pretrain_epochs': 2,
      # borders_only arm: the share of each side kept as a frame around the
      # blanked centre (0.15: the central 70 % x 70 % is zeroed).
      'borders_only_frame': 0.15,
      # name -> overrides of config.gan: the generators of one protocol, each
      # with its own stages; arms name theirs (<name>, <name>_classical, ...,
      # real_oversampled_<name>). Empty: the config's own generator, `gan`.
      'generators': {},
      # name -> overrides of config.synthesis (the filter): the protocol runs
      # once per setting on the same GANs (workdir/filter_sweep/<name>/) and
      # filter_sweep.md gives downstream metrics against the filter. Empty: none.
      'filter_sweep': {},
      # group -> names of generators: the candidates of one setting; the report
      # chooses one per group on validation (gan_aug.report.generators). Empty:
      # nothing to choose.
      'candidates': {},
      # Converted pytorch-fid Inception weights (scripts/convert_inception_fid.py):
      # when set, the synthetic set's metrics are also computed in its pool3
      # feature space, at inception_image_size px (299 for FID as published).
      'inception_weights': '',
      'inception_image_size': 299,
  })
  cfg.update(values)
  return cfg


# The controls a reviewer asks for, beside each paper's own comparison.
CONTROL_ARMS = ('classical', 'gan_classical', 'real_oversampled', 'gan_pretrain')


def paper_protocol(paper_arms, **values) -> ml_collections.ConfigDict:
  """A paper config's default protocol: the paper's own comparison (`paper_arms`)
  plus `CONTROL_ARMS`, three seeds."""
  arms = tuple(paper_arms) + tuple(a for a in CONTROL_ARMS if a not in paper_arms)
  return protocol(**{'arms': arms, 'seeds': 3, **values})


def config(seed: int = 0, **blocks) -> ml_collections.ConfigDict:
  """The top-level config from its blocks (data, gan, synthesis, classifier,
  protocol, claims; a missing protocol gets `protocol()`'s defaults, missing
  claims none)."""
  # fast_compile: XLA's unoptimised backend (gan_aug.runtime.cli.set_up_compilation),
  # for runs whose time is compilation, such as `:smoke`.
  cfg = ml_collections.ConfigDict({'seed': seed, 'fast_compile': False})
  for name, block in blocks.items():
    cfg[name] = block
  if 'protocol' not in cfg:
    cfg.protocol = protocol()
  if 'run' not in cfg:
    # How the process is looked after; changes no result. watchdog_seconds: no
    # step, save or stage change for this long ends the run (gan_aug.runtime.watchdog;
    # 0: off). Generous: it must outlast the slowest compilation.
    cfg.run = ml_collections.ConfigDict({'watchdog_seconds': 3600.0})
  if 'claims' not in cfg:
    # name -> gan_aug.report.claims.claim(...): the paper's claims, set beside the
    # measurement at the top of report.md. Changes no result.
    cfg.claims = ml_collections.ConfigDict()
  return cfg
