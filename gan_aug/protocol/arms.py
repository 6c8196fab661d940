"""The classifier arms a protocol can compare, as a registry.

An arm says how its training set is made from the real training images and the
accepted synthetic ones, whether it needs a GAN and synthesis at all, which
on-device augmentation its train step applies, and how it transforms images
before training, validation and test (`borders_only` blanks the centre). Every
arm is validated on the real validation split and tested on the real test split;
every arm trains from the same initial weights under the same budget rule (its own
early stopping within `classifier.max_epochs`). An arm with a `pretraining_set` trains its first
`protocol.gan_pretrain_epochs` epochs on that set, without early stopping, and
the rest on its training set, within the same step budget as the others.
Adding an arm is one `ARMS.register` entry.
"""

import dataclasses
import difflib
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import ml_collections
import numpy as np

from gan_aug.classifier import augment
from gan_aug.core import registry
from gan_aug.core.errors import UnknownComponentError

Arrays = Tuple[np.ndarray, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Arm:
  """One arm: `training_set(real, synthetic)` -> (images, labels) at the
  classifier's resolution; `augment(protocol)` -> the train step's on-device
  augmentation or None; `image_transform(images, protocol)` -> the images this
  arm trains, validates and tests on (None: as they are)."""
  description: str
  training_set: Callable[[Arrays, Arrays], Arrays]
  needs_synthesis: bool = False
  augment: Optional[Callable[[ml_collections.ConfigDict], Callable]] = None
  image_transform: Optional[Callable[[np.ndarray, ml_collections.ConfigDict],
                                     np.ndarray]] = None
  pretraining_set: Optional[Callable[[Arrays, Arrays], Arrays]] = None


ARMS: registry.Registry[Arm] = registry.Registry('arm')


def _real(real: Arrays, synthetic: Arrays) -> Arrays:
  del synthetic
  return real


def _real_and_synthetic(real: Arrays, synthetic: Arrays) -> Arrays:
  return (np.concatenate([real[0], synthetic[0]]),
          np.concatenate([real[1], synthetic[1]]))


def _synthetic(real: Arrays, synthetic: Arrays) -> Arrays:
  del real
  return synthetic


def _real_oversampled(real: Arrays, synthetic: Arrays) -> Arrays:
  """Each class's real images repeated, in order, to the count that class has in
  the real + synthetic set."""
  images, labels = real
  num_classes = int(max(labels.max(initial=-1), synthetic[1].max(initial=-1))) + 1
  extra = np.bincount(synthetic[1], minlength=num_classes)
  picks = []
  for label in range(num_classes):
    members = np.flatnonzero(labels == label)
    if len(members):
      total = len(members) + int(extra[label])
      picks.append(members[np.arange(total) % len(members)])
  index = np.concatenate(picks) if picks else np.zeros(0, np.int64)
  return images[index], labels[index]


def _classical(protocol: ml_collections.ConfigDict) -> Callable:
  return augment.make_classical_augment(protocol.classical)


def blank_centre(images: np.ndarray, frame: float) -> np.ndarray:
  """A copy of [N, H, W, C] `images` with all but a frame of `frame` x each side zeroed."""
  out = np.array(images, copy=True)
  height, width = out.shape[1:3]
  top, left = int(round(height * frame)), int(round(width * frame))
  out[:, top:height - top, left:width - left] = 0
  return out


ARMS.register('real')(Arm('real training images only', _real))
ARMS.register('classical')(Arm(
    'real images, classical augmentation on device (gan_aug.classifier.augment)', _real,
    augment=_classical))
ARMS.register('gan')(Arm('real + accepted synthetic images', _real_and_synthetic,
                         needs_synthesis=True))
ARMS.register('gan_classical')(Arm(
    'real + accepted synthetic images, classical augmentation on device',
    _real_and_synthetic, needs_synthesis=True, augment=_classical))
ARMS.register('real_oversampled')(Arm(
    'real images, each class repeated to its count in the gan arm (real + '
    'accepted synthetic): the gan arm\'s class mix and set size without synthetic '
    'pixels; it differs from real only in class mix and order', _real_oversampled,
    needs_synthesis=True))
ARMS.register('gan_pretrain')(Arm(
    'accepted synthetic images for protocol.gan_pretrain_epochs epochs (no early '
    'stopping), then the real images (early stopping); one optimizer throughout, '
    'its state not reset between the phases', _real, needs_synthesis=True,
    pretraining_set=_synthetic))
ARMS.register('gan_only')(Arm(
    'accepted synthetic images only, tested on real ones (GAN-train)', _synthetic,
    needs_synthesis=True))
# The shortcut control: accuracy well above the majority-class rate means the
# classes can be told apart without the lungs - by source, scanner or text marks
# (DeGrave et al. 2021) - and the other arms' comparison may rest on such shortcuts.
ARMS.register('borders_only')(Arm(
    'real images with the central field blanked out (a frame of '
    'protocol.borders_only_frame of each side kept), in training, validation and '
    'test alike', _real,
    image_transform=lambda images, protocol: blank_centre(
        images, protocol.borders_only_frame)))


# The generator a protocol has when it names none (`config.protocol.generators`
# empty): the config's own, whose arms are the registered names (`gan`, ...).
DEFAULT_GENERATOR = 'gan'
# Registered synthetic arms named after this prefix are named after their
# generator: `gan_classical` is `<generator>_classical` for every generator.
_GENERATOR_PREFIX = 'gan'


@dataclasses.dataclass(frozen=True)
class Binding:
  """An arm of a protocol: its name, the registered arm it is (`kind`), and the
  generator whose accepted set it uses (None for an arm without synthetic
  images)."""
  name: str
  kind: str
  generator: Optional[str] = None


def _names_for(kind: str, generators: Sequence[str]) -> Dict[str, str]:
  """Arm name -> generator for a registered synthetic arm `kind`."""
  if kind.startswith(_GENERATOR_PREFIX):
    return {g + kind[len(_GENERATOR_PREFIX):]: g for g in generators}
  # Others (real_oversampled) follow the first generator, or name one.
  return {kind: generators[0], **{f'{kind}_{g}': g for g in generators}}


def bindings(arm_names: Sequence[str], generators: Sequence[str]) -> List[Binding]:
  """Every arm of `arm_names` bound to its registered arm and generator, for a
  protocol whose generators are `generators` (the first is the default one of
  arms such as `real_oversampled`). UnknownComponentError for a name no arm
  has; ValueError for a name two generators could claim."""
  names: Dict[str, List[Binding]] = {}
  for kind in ARMS.names():
    if ARMS.get(kind).needs_synthesis:
      for name, generator in _names_for(kind, generators).items():
        names.setdefault(name, []).append(Binding(name, kind, generator))
    else:
      names.setdefault(kind, []).append(Binding(kind, kind))
  out = []
  for name in arm_names:
    if name not in names:
      close = difflib.get_close_matches(str(name), list(names), n=1)
      raise UnknownComponentError(
          f'Unknown arm {name!r} (config field config.protocol.arms) for generators '
          f'{list(generators)}. Valid names: {", ".join(sorted(names))}.'
          + (f' Did you mean {close[0]!r}?' if close else ''))
    if len(names[name]) > 1:
      raise ValueError(f'Arm {name!r} could mean ' + ' or '.join(
          f'{b.kind} of generator {b.generator!r}' if b.generator else b.kind
          for b in names[name]) + ': rename a generator.')
    out.append(names[name][0])
  return out


def needs_synthesis(arm_names) -> bool:
  """Whether any of the registered arms `arm_names` trains on synthetic images."""
  return any(ARMS.get(name).needs_synthesis for name in arm_names)
