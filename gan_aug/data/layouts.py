"""Where the X-rays are in a downloaded folder: the file listing of each layout.

A `Listing` names every image file of a data set with its split, class and
group (the patient, where file names carry one), before any file is decoded.
Both the image-folder loader and the prepared (TFDS) data sets decode a listing
with the same code, so they see the same files in the same order.

Layouts:
  * `class_folders`: <root>/[<split>/]<class>/*.png|jpg|jpeg. A class folder
    whose images sit in an `images/` subfolder (the COVID-19 Radiography
    Database's `<class>/images/` beside `<class>/masks/`) is read from there;
    its other subfolders (lung masks are not X-rays) are listed as ignored.
  * `covid19_radiography`: the class folders of the COVID-19 Radiography
    Database, a chosen subset of its four classes.
  * `chest_xray_pneumonia`: Kermany et al.'s `chest_xray/{train,val,test}/
    {NORMAL,PNEUMONIA}`; a duplicated inner `chest_xray/` is not read twice, and
    each file's patient id is its group.
Everywhere, hidden entries and `__MACOSX/` (a zip's resource forks) are skipped.
"""

import dataclasses
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

from gan_aug.core.errors import DatasetError
from gan_aug.data import images as images_lib

_SPLIT_ALIASES = {'train': 'train', 'training': 'train', 'val': 'val',
                  'valid': 'val', 'validation': 'val', 'test': 'test',
                  'testing': 'test'}
_SKIPPED_FOLDERS = ('__MACOSX',)
IMAGES_SUBFOLDER = 'images'
LAYOUT_HELP = ('    <root>/train/<class name>/*.png|jpg|jpeg (and optionally '
               '<root>/test/<class name>/..., <root>/val/<class name>/...)\n'
               '    or <root>/<class name>/*.png|jpg|jpeg (test and val are then '
               'carved from it);\n'
               '    a class folder may hold its images in an images/ subfolder '
               '(beside masks/, which is not read)')


@dataclasses.dataclass
class File:
  """One image file of a listing: its path, class index and group."""
  path: str
  label: int
  group: Optional[str] = None  # e.g. the patient; None: the file is its own


@dataclasses.dataclass
class Listing:
  """The image files of a data set by split, and what was not read."""
  root: str
  class_names: List[str]
  files: Dict[str, List[File]]
  ignored: List[str] = dataclasses.field(default_factory=list)
  notes: Dict[str, str] = dataclasses.field(default_factory=dict)

  def signature(self) -> List:
    """Every listed file's relative path, size and modification time: equal
    signatures mean the same files (cheap: no file is read)."""
    out = []
    for split in sorted(self.files):
      for f in self.files[split]:
        stat = os.stat(f.path)
        out.append([split, os.path.relpath(f.path, self.root), f.label,
                    stat.st_size, stat.st_mtime_ns])
    return out


def subdirs(path: str) -> List[str]:
  """The folders in `path`, sorted, without hidden ones and `__MACOSX`."""
  return sorted(d for d in os.listdir(path)
                if not d.startswith('.') and d not in _SKIPPED_FOLDERS
                and os.path.isdir(os.path.join(path, d)))


def _split_dirs(root: str) -> Dict[str, str]:
  """Maps split name -> folder when `root` has split folders, else {}."""
  found = {}
  for d in subdirs(root):
    split = _SPLIT_ALIASES.get(d.lower())
    if split:
      if split in found:
        raise DatasetError(
            f'{root}: two folders name the {split!r} split: {found[split]!r} and {d!r}.')
      found[split] = d
  return {k: os.path.join(root, v) for k, v in found.items()}


def list_files(folder: str) -> Tuple[List[str], List[str]]:
  """(image files, other files) directly in `folder`, sorted by name."""
  images, other = [], []
  for name in sorted(os.listdir(folder)):
    path = os.path.join(folder, name)
    if name.startswith('.') or not os.path.isfile(path):
      continue
    (images if name.lower().endswith(images_lib.IMAGE_EXTENSIONS) else other).append(path)
  return images, other


def _class_images(class_dir: str, root: str) -> Tuple[List[str], List[str]]:
  """A class folder's image files (from its images/ subfolder when it has one
  and no images of its own) and what is ignored there (files; folders whole)."""
  files, other = list_files(class_dir)
  ignored = [os.path.relpath(p, root) for p in other]
  folders = subdirs(class_dir)
  if not files and IMAGES_SUBFOLDER in folders:
    files, other = list_files(os.path.join(class_dir, IMAGES_SUBFOLDER))
    ignored += [os.path.relpath(p, root) for p in other]
    folders.remove(IMAGES_SUBFOLDER)
  ignored += [os.path.relpath(os.path.join(class_dir, d), root) + '/' for d in folders]
  return files, ignored


def _check_classes(train_dir: str, class_names: List[str], root: str) -> None:
  """Refuses fewer than two classes, or a class folder without image files."""
  if not class_names:
    loose, _ = list_files(train_dir)
    hint = (f'\n  It holds {len(loose)} image file(s) directly: point the config '
            'at the folder above it, or sort them into one folder per class.'
            if loose else '')
    raise DatasetError(
        f'{train_dir}: no class folders found.{hint}\n'
        f'  Layout expected:\n{LAYOUT_HELP}')
  if len(class_names) < 2:
    raise DatasetError(
        f'{train_dir}: only one class folder ({class_names[0]!r}) found; a '
        'classifier needs at least two classes to tell apart.\n'
        '  Add a folder of images for each other class beside it.\n'
        f'  Layout expected:\n{LAYOUT_HELP}')
  for name in class_names:
    class_dir = os.path.join(train_dir, name)
    files, ignored = _class_images(class_dir, root)
    if files:
      continue
    other = [p for p in ignored if not p.endswith('/')]
    found = (f'it holds only {len(other)} file(s) of other types (e.g. '
             f'{os.path.basename(other[0])!r}); convert them to PNG' if other else
             f'it holds only the folders {ignored}' if ignored else 'the folder is empty')
    raise DatasetError(
        f'class {name!r} has no training images: {class_dir} holds no '
        f'{"/".join(images_lib.IMAGE_EXTENSIONS)} files, directly or in an '
        f'{IMAGES_SUBFOLDER}/ subfolder ({found}).\n'
        '  Add images to it, or remove the folder if the class is not wanted.')


def class_folders(root: str, include_classes: Sequence[str] = (),
                  group_of=None) -> Listing:
  """The listing of <root>/[<split>/]<class>/* (see the module docstring).

  `include_classes` keeps only those classes (all when empty); `group_of(name)`
  gives a file name's group (None: no groups).
  """
  split_dirs = _split_dirs(root)
  if not split_dirs:
    split_dirs = {'train': root}
  elif 'train' not in split_dirs:
    raise DatasetError(
        f'{root}: split folders {sorted(split_dirs)} found but no train/ folder.\n'
        f'  Layout expected:\n{LAYOUT_HELP}')
  class_names = subdirs(split_dirs['train'])
  ignored: List[str] = []
  if include_classes:
    missing = sorted(set(include_classes) - set(class_names))
    if missing:
      raise DatasetError(
          f'{split_dirs["train"]}: config.data.include_classes names {missing}, '
          f'which are not class folders there (found {class_names}).')
    ignored += [os.path.relpath(os.path.join(split_dirs['train'], c), root) + '/'
                for c in class_names if c not in include_classes]
    class_names = [c for c in class_names if c in include_classes]
  _check_classes(split_dirs['train'], class_names, root)
  unknown = {s: sorted(set(subdirs(d)) - set(class_names))
             for s, d in split_dirs.items() if s != 'train' and not include_classes}
  unknown = {s: c for s, c in unknown.items() if c}
  if unknown:
    raise DatasetError(
        f'{root}: class folders {unknown} are not in train/ (classes there: '
        f'{class_names}).')
  files: Dict[str, List[File]] = {}
  for split, split_dir in split_dirs.items():
    files[split] = []
    for label, name in enumerate(class_names):
      class_dir = os.path.join(split_dir, name)
      if not os.path.isdir(class_dir):
        continue
      paths, other = _class_images(class_dir, root)
      ignored += other
      files[split] += [File(p, label, group_of(os.path.basename(p)) if group_of
                            else None) for p in paths]
  return Listing(os.path.abspath(root), class_names, files, ignored)


# The COVID-19 Radiography Database (Kaggle, Chowdhury et al. 2020 and Rahman et
# al. 2021): <root>/<class>/images/*.png, 299x299, with <class>/masks/ beside.
RADIOGRAPHY_CLASSES = ('COVID', 'Lung_Opacity', 'Normal', 'Viral Pneumonia')
# Paper 003 (CovidGAN) used three of them (its section 2.1), without Lung_Opacity.
RADIOGRAPHY_PAPER_CLASSES = ('COVID', 'Normal', 'Viral Pneumonia')
RADIOGRAPHY_LAYOUT = (
    '    <root>/{COVID,Lung_Opacity,Normal,Viral Pneumonia}/images/*.png (masks/ '
    'beside images/ and the .xlsx metadata files are not read)')
RADIOGRAPHY_ORIGIN = (
    'the COVID-19 Radiography Database (Kaggle dataset '
    '"tawsifurrahman/covid19-radiography-database", 21,165 PNGs): download the '
    'archive, unpack it, and point --config.data.dir at its '
    'COVID-19_Radiography_Dataset/ folder.')


def covid19_radiography(root: str, include_classes: Sequence[str] = ()) -> Listing:
  """The Radiography Database's listing: paper 003's three classes by default."""
  return class_folders(root, include_classes or RADIOGRAPHY_PAPER_CLASSES)


# Kermany et al. (Cell 2018), "Chest X-Ray Images (Pneumonia)" on Kaggle.
CHEST_XRAY_LAYOUT = (
    '    <root>/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg (the unpacked chest_xray/ '
    'folder; a duplicated inner chest_xray/ and __MACOSX/ are not read)')
CHEST_XRAY_ORIGIN = (
    'the Kermany et al. pediatric chest X-rays (Kaggle dataset '
    '"paultimothymooney/chest-xray-pneumonia", 5,856 JPEGs): download the archive, '
    'unpack it, and point --config.data.dir at its chest_xray/ folder.')
_PATIENT_PATTERNS = (re.compile(r'^(person\d+)_'),           # person1_virus_6.jpeg
                     re.compile(r'^((?:NORMAL2-)?IM-\d+)-'))  # IM-0115-0001.jpeg
CHEST_XRAY_VAL_RULE = (
    'the 16 images of its val/ folder join train, and validation is carved from '
    'train by patient id (no patient on both sides); test is its test/ folder')


def patient_id(file_name: str) -> Optional[str]:
  """The patient a Kermany file name names (person1_virus_6 -> person1,
  IM-0115-0001 -> IM-0115, NORMAL2-IM-1427-0001 -> NORMAL2-IM-1427), else None."""
  for pattern in _PATIENT_PATTERNS:
    match = pattern.match(file_name)
    if match:
      return match.group(1)
  return None


def chest_xray_pneumonia(root: str, include_classes: Sequence[str] = ()) -> Listing:
  """The Kermany set's listing: test as given, val/ merged into train (see
  CHEST_XRAY_VAL_RULE), each file grouped by its patient."""
  if not _split_dirs(root) and 'chest_xray' in subdirs(root):
    root = os.path.join(root, 'chest_xray')  # The archive's outer folder.
  listing = class_folders(root, include_classes,
                          group_of=lambda name: patient_id(name) or name)
  inner = os.path.join(root, 'chest_xray')
  if os.path.isdir(inner):
    listing.ignored.append('chest_xray/ (a duplicate of the outer folder)')
  listing.files['train'] = listing.files['train'] + listing.files.pop('val', [])
  listing.notes['val_rule'] = CHEST_XRAY_VAL_RULE
  return listing
