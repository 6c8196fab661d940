"""gan_aug: GAN-based synthetic data augmentation for small medical image data sets.

The package is a house of floors, lowest first (`FLOORS`). A module may import
from its own package and from the floors below it, never from a sibling on its
own floor or from a floor above (tests/test_floors.py checks every import):

  core           errors, registries, config checks, fingerprints, atomic files,
                 TensorBoard scalars, provenance, image grids
  runtime        exit statuses, signals, watchdog, workdir lock, sharding,
                 Orbax checkpoints
  data           data sets by name, split hygiene, batch order, streaming
  models         architectures only (GANs, classifiers, torchvision ports)
  metrics        pure metric functions on predictions and feature vectors
  generator      what a generator family provides, finding one by name, and
                 the generator stage (loop, divergence, EMA) for any family
  classifier     a classifier's training, optimizer, inference, augmentation
  gan            the papers' GANs as families: networks, state, steps, ADA
  diffusion      the EDM diffusion family: formulas, U-Net, step, sampler
  synthesis      a trained generator's fakes, filtered, on disk, measured
  protocol       the arms and axes of config.protocol
  report         summary over seeds, claims, report.md, comparisons, figures
  pipeline       the runner, its stages, the classifier stage, config validation
  config_blocks  the building blocks of configs/*.py
  main, generate, multihost   the commands
"""

FLOORS = (
    ('core',),
    ('runtime',),
    ('data', 'models', 'metrics'),
    ('generator',),
    ('classifier', 'gan', 'diffusion'),
    ('synthesis',),
    ('protocol',),
    ('report',),
    ('pipeline',),
    ('config_blocks', 'main', 'generate', 'multihost'),
)
