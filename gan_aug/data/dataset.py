"""The in-memory data set every stage reads, and the split hygiene applied to it.

`finalize` turns raw splits into a `Dataset` the same way for every source:
  1. a training image whose pixels equal a validation or test image is dropped
     from training and listed (likewise a validation image equal to a test image);
  2. missing test / validation splits are carved from train, seeded, stratified
     by class, and grouped (by patient where the source knows it, else by pixel
     digest) so one patient or two copies of one image never land on both sides
     of a split (never from test);
  3. a training image of a patient who also has validation or test images (where
     the source knows patients) is dropped from training and listed;
  4. the same pixels under two different classes anywhere are listed as label
     conflicts and, with label_conflict_policy 'exclude' (the default), kept out
     of training; 'keep' trains them under each label;
  5. repeated images inside one split are listed, not dropped.
It refuses, with the reason, what no run can use: fewer than two classes, labels
outside 0..num_classes-1, a split whose images and labels differ in count, an
empty validation or test split, and a class with no training images.
"""

import collections
import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from gan_aug.core.errors import DatasetError

SPLITS = ('train', 'val', 'test')
LABEL_CONFLICT_POLICIES = ('exclude', 'keep')


@dataclasses.dataclass
class Split:
  """One split held in memory: uint8 images [N, H, W, C] and int labels [N].

  `groups[i]` names what image i must stay with when a split is carved (its
  patient); by default its pixel digest. `record_positions[i]` is where image i
  lies in prepared records, (TFDS split string, position), when it was read
  from them (`gan_aug.data.streaming` reads it there again)."""
  images: np.ndarray
  labels: np.ndarray
  sources: List[str]
  digests: List[str]
  groups: Optional[List[str]] = None
  record_positions: Optional[List[Tuple[str, int]]] = None

  def __post_init__(self):
    if self.groups is None:
      self.groups = list(self.digests)

  def __len__(self) -> int:
    return len(self.labels)

  def subset(self, keep: Sequence[int]) -> 'Split':
    keep = np.asarray(keep, dtype=np.int64)
    return Split(self.images[keep], self.labels[keep],
                 [self.sources[i] for i in keep], [self.digests[i] for i in keep],
                 [self.groups[i] for i in keep],
                 (None if self.record_positions is None
                  else [self.record_positions[i] for i in keep]))

  def class_counts(self, num_classes: int) -> List[int]:
    return np.bincount(self.labels, minlength=num_classes).tolist()


@dataclasses.dataclass
class Dataset:
  """A labelled image data set with train/val/test splits and its provenance."""
  name: str
  class_names: List[str]
  splits: Dict[str, Split]
  is_phantom: bool = False
  info: Dict = dataclasses.field(default_factory=dict)

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  def summary(self) -> Dict:
    """JSON-ready description: sizes per split and class, and what was removed."""
    return {
        'name': self.name,
        'is_phantom': self.is_phantom,
        'class_names': list(self.class_names),
        'image_shape': list(self.splits['train'].images.shape[1:]),
        'splits': {k: len(v) for k, v in self.splits.items()},
        'class_counts': {k: v.class_counts(self.num_classes)
                         for k, v in self.splits.items()},
        **self.info,
    }


def _digest_index(split: Split) -> Dict[str, List[int]]:
  index = collections.defaultdict(list)
  for i, digest in enumerate(split.digests):
    index[digest].append(i)
  return index


def _drop_overlap(keep_from: Split, other: Split, keep_name: str,
                  other_name: str, removed: List[Dict],
                  spare: frozenset = frozenset()) -> Split:
  """Drops items of `keep_from` whose pixels equal any item of `other` (but
  those whose digest is in `spare`)."""
  other_index = _digest_index(other)
  keep = []
  for i, digest in enumerate(keep_from.digests):
    if digest in other_index and digest not in spare:
      removed.append({
          'removed_from': keep_name,
          'source': keep_from.sources[i],
          'identical_to': [f'{other_name}:{other.sources[j]}'
                           for j in other_index[digest]],
      })
    else:
      keep.append(i)
  return keep_from.subset(keep)


def carve_split(split: Split, fraction: float, seed: int,
                num_classes: int) -> tuple:
  """Splits off ~`fraction` of each class, keeping each group together.

  Returns (rest, carved). Deterministic for a given seed and input order.
  """
  if not 0.0 < fraction < 1.0:
    raise DatasetError(f'split fraction must be in (0, 1), got {fraction}.')
  rng = np.random.default_rng(seed)
  carved = []
  for label in range(num_classes):
    groups = collections.OrderedDict()
    for i in np.flatnonzero(split.labels == label):
      groups.setdefault(split.groups[i], []).append(int(i))
    group_list = list(groups.values())
    if len(group_list) < 2:
      continue  # Too few distinct images to give any away.
    order = rng.permutation(len(group_list))
    target = max(1, int(round(fraction * sum(map(len, group_list)))))
    taken = 0
    for g in order:
      if taken >= target or taken + len(group_list[g]) > target + 1:
        continue
      carved.extend(group_list[g])
      taken += len(group_list[g])
  carved_set = set(carved)
  rest = [i for i in range(len(split)) if i not in carved_set]
  return split.subset(rest), split.subset(sorted(carved))


def _within_split_duplicates(split: Split) -> List[List[str]]:
  return [[split.sources[i] for i in idx]
          for idx in _digest_index(split).values() if len(idx) > 1]


def _drop_shared_patients(train: Split, held_out: Sequence[Split],
                          removed: List[Dict]) -> Split:
  """Drops training images whose patient (a group that is not a pixel digest)
  also has images in a held-out split, e.g. when split strings chose them."""
  held = {g for split in held_out for g, d in zip(split.groups, split.digests) if g != d}
  keep = []
  for i, (group, digest) in enumerate(zip(train.groups, train.digests)):
    if group != digest and group in held:
      removed.append({'source': train.sources[i], 'patient': group})
    else:
      keep.append(i)
  return train.subset(keep)


def _label_conflicts(splits: Dict[str, Split],
                     class_names: Sequence[str]) -> List[Dict]:
  """Pixels that appear under two or more classes, in any splits."""
  seen = collections.defaultdict(list)
  for split_name, split in splits.items():
    for i, digest in enumerate(split.digests):
      seen[digest].append((split_name, i))
  conflicts = []
  for digest, places in seen.items():
    labels = {int(splits[s].labels[i]) for s, i in places}
    if len(labels) > 1:
      conflicts.append({
          'digest': digest,
          'images': [f'{s}:{splits[s].sources[i]} '
                     f'({class_names[int(splits[s].labels[i])]})' for s, i in places]})
  return conflicts


def _drop_conflicts(train: Split, conflicts: List[Dict]) -> Split:
  digests = {c['digest'] for c in conflicts}
  return train.subset([i for i, d in enumerate(train.digests) if d not in digests])


def _check_labels(name: str, class_names: Sequence[str],
                  splits: Dict[str, Split]) -> None:
  """Refuses fewer than two classes, or labels/images that do not line up."""
  num_classes = len(class_names)
  if num_classes < 2:
    raise DatasetError(
        f'{name}: only {num_classes} class ({list(class_names)}); a classifier '
        'needs at least two classes to tell apart. Add the other classes.')
  for split_name, split in splits.items():
    if not len(split.images) == len(split.labels) == len(split.sources):
      raise DatasetError(
          f'{name}: the {split_name} split has {len(split.images)} images but '
          f'{len(split.labels)} labels; every image needs exactly one label.')
    outside = (split.labels < 0) | (split.labels >= num_classes)
    if outside.any():
      first = int(np.flatnonzero(outside)[0])
      raise DatasetError(
          f'{name}: {split_name} label {int(split.labels[first])} of '
          f'{split.sources[first]} is outside 0..{num_classes - 1} (classes '
          f'{list(class_names)}).')


def _check_held_out(name: str, result: Dict[str, Split],
                    split_origin: Dict[str, str]) -> None:
  """Refuses an empty validation or test split, saying where it came from."""
  for split_name in ('val', 'test'):
    if len(result[split_name]):
      continue
    if split_origin[split_name] == 'given':
      hint = (f'its folder or arrays hold no readable images; add some, or '
              f'remove it so that {split_name} is carved from train')
    else:
      hint = ('every class has fewer than two distinct training images, so '
              'none could be set aside; add images')
    raise DatasetError(f'{name}: the {split_name} split is empty: {hint}.')


def finalize(name: str, class_names: Sequence[str], splits: Dict[str, Split],
             *, val_fraction: float, test_fraction: float, seed: int,
             label_conflict_policy: str = 'exclude', is_phantom: bool = False,
             info: Optional[Dict] = None) -> Dataset:
  """Applies the split hygiene in the module docstring and returns a Dataset."""
  if label_conflict_policy not in LABEL_CONFLICT_POLICIES:
    raise DatasetError(
        f'config.data.label_conflict_policy must be one of '
        f'{LABEL_CONFLICT_POLICIES}, got {label_conflict_policy!r}.')
  info = dict(info or {})
  num_classes = len(class_names)
  if 'train' not in splits or not len(splits['train']):
    raise DatasetError(f'{name}: no training images found.')
  _check_labels(name, class_names, splits)
  conflicts = _label_conflicts(splits, class_names)
  # Carving keeps a class's groups together, so a conflict's copies (two
  # classes) can land on both sides; with 'keep' they stay in training.
  spare = frozenset(c['digest'] for c in conflicts
                    if label_conflict_policy == 'keep')
  removed: List[Dict] = []
  split_origin = {k: 'given' for k in splits}
  train = splits['train']
  if 'test' in splits:
    train = _drop_overlap(train, splits['test'], 'train', 'test', removed)
    test = splits['test']
  else:
    train, test = carve_split(train, test_fraction, seed + 1, num_classes)
    split_origin['test'] = f'carved from train ({test_fraction:.0%}, seed {seed + 1})'
    train = _drop_overlap(train, test, 'train', 'test', removed, spare)
  if 'val' in splits:
    val = _drop_overlap(splits['val'], test, 'val', 'test', removed)
    train = _drop_overlap(train, val, 'train', 'val', removed)
  else:
    train, val = carve_split(train, val_fraction, seed, num_classes)
    split_origin['val'] = f'carved from train ({val_fraction:.0%}, seed {seed})'
    # Groups other than pixel digests (patients) can leave a copy on each side.
    train = _drop_overlap(train, val, 'train', 'val', removed, spare)
  if conflicts and label_conflict_policy == 'exclude':
    train = _drop_conflicts(train, conflicts)
  patients_removed: List[Dict] = []
  train = _drop_shared_patients(train, (val, test), patients_removed)
  result = {'train': train, 'val': val, 'test': test}

  for label, count in enumerate(train.class_counts(num_classes)):
    if count == 0:
      raise DatasetError(
          f'{name}: class {class_names[label]!r} has no training images left '
          '(empty folder, unreadable files, or every image duplicated in test). '
          'Add readable images of that class to the training data.')
  _check_held_out(name, result, split_origin)
  info.update({
      'split_origin': split_origin,
      'duplicates_removed': removed,
      'label_conflicts': conflicts,
      'patients_removed': patients_removed,
      'label_conflict_policy': label_conflict_policy,
      'duplicates_within_split': {k: _within_split_duplicates(v)
                                  for k, v in result.items()},
  })
  return Dataset(name, list(class_names), result, is_phantom, info)


def keep_training_fraction(dataset: Dataset, fraction: float, seed: int) -> Dataset:
  """The data set with a stratified, seeded `fraction` of its training split.

  Validation and test are untouched. Each class keeps round(fraction x count)
  images (at least one), the first ones of a per-class permutation drawn from
  `seed`: for one seed, a smaller fraction's subset lies inside a larger one's.
  """
  if fraction >= 1.0:
    return dataset
  train = dataset.splits['train']
  rng = np.random.default_rng([seed, 0xF4AC])
  keep: List[int] = []
  for label in range(dataset.num_classes):
    members = rng.permutation(np.flatnonzero(train.labels == label))
    keep.extend(members[:max(1, int(round(fraction * len(members))))].tolist())
  info = {**dataset.info, 'train_fraction': fraction, 'train_subset_seed': seed,
          'full_train_size': len(train)}
  splits = {**dataset.splits, 'train': train.subset(sorted(keep))}
  return Dataset(dataset.name, dataset.class_names, splits, dataset.is_phantom, info)


def cap_held_out(dataset: Dataset, per_class: int) -> Dataset:
  """The data set with at most `per_class` images of each class in validation and
  test (the first ones, in the split's order); 0 keeps them all. For runs that
  check the wiring (`:smoke`): a measurement tests on every held-out image."""
  if not per_class:
    return dataset
  splits = dict(dataset.splits)
  for name in ('val', 'test'):
    labels = splits[name].labels
    keep = np.concatenate([np.flatnonzero(labels == c)[:per_class]
                           for c in range(dataset.num_classes)])
    splits[name] = splits[name].subset(np.sort(keep))
  info = {**dataset.info, 'held_out_per_class': per_class}
  return Dataset(dataset.name, dataset.class_names, splits, dataset.is_phantom, info)
