"""The accepted synthetic set on disk: written whole into a fresh folder under
`sets/` and published by switching the `synthetic` link to it (an atomic rename),
with each finished class saved under `progress/` meanwhile, so that a crash
leaves the previous set, never a half-written one, and a rerun continues with
the next class."""

import json
import os
import shutil
import time
import uuid
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

from gan_aug.core import atomic_files
from gan_aug.core.errors import SynthesisError

SET_LINK = 'synthetic'


def class_folder(label: int, name: str) -> str:
  """A class's folder of PNGs: the class's name (as image-folder readers expect),
  path separators replaced. Sets written before this rule have `<label>_<name>/`
  folders; nothing reads those names, so such sets load as they are."""
  folder = ''.join('_' if ch in '/\\\0' else ch for ch in name)
  return folder if folder not in ('', '.', '..') else f'class_{label}'


def image_record(file: str, label: int, class_names: Sequence[str],
                 fake: Dict) -> Dict:
  """One accepted image's manifest entry, the same in a synthesis stage's set and
  in `gan_aug.generate`'s folder: where it is, its class, D's realness and class
  probabilities (`class_probs`, by class name; absent for a GAN without a class
  head), and the checkpoint step and latent index that regenerate it."""
  row = {'file': file, 'class': class_names[label], 'label': label,
         'realness': fake['realness'], 'checkpoint_step': fake['checkpoint_step'],
         'latent_index': fake['latent_index']}
  if fake['class_probs'] is not None:
    row['class_probs'] = dict(zip(class_names, map(float, fake['class_probs'])))
  if fake.get('filter_probability') is not None:
    row['filter_probability'] = fake['filter_probability']
  return row


def write_set(stage_dir: str, images: np.ndarray, records: List[Dict],
              summary: Dict, class_names: Sequence[str]) -> str:
  """Writes the accepted set and switches the `synthetic` link to it atomically.

  A write that fails (full disk, unwritable folder: StorageError) removes what
  it wrote; the previous set stays the current one."""
  sets_dir = os.path.join(stage_dir, 'sets')
  set_id = time.strftime('%Y%m%d-%H%M%S-') + uuid.uuid4().hex[:8]
  set_dir = os.path.join(sets_dir, set_id)
  link = os.path.join(stage_dir, SET_LINK)
  tmp_link = link + '.tmp'
  try:
    os.makedirs(set_dir)
    for record, image in zip(records, images):
      path = os.path.join(set_dir, record['file'])
      os.makedirs(os.path.dirname(path), exist_ok=True)
      Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
    labels = np.asarray([r['label'] for r in records], np.int32)
    np.savez(os.path.join(set_dir, 'images.npz'), images=images, labels=labels)
    with open(os.path.join(set_dir, 'manifest.json'), 'w') as f:
      json.dump({**summary, 'class_names': list(class_names), 'images': records}, f,
                indent=1)
    if os.path.lexists(tmp_link):
      os.remove(tmp_link)
    os.symlink(os.path.join('sets', set_id), tmp_link)
    os.replace(tmp_link, link)  # Atomic: readers see the old set or the new one.
  except OSError as e:
    # The link still points at the previous set: drop this one's remains.
    shutil.rmtree(set_dir, ignore_errors=True)
    if os.path.lexists(tmp_link):
      os.remove(tmp_link)
    if e.errno in atomic_files.STORAGE_ERRNOS:
      # PNGs beside the arrays: about twice the images' bytes.
      raise atomic_files.storage_error(set_dir, e, 2 * images.nbytes) from e
    raise
  remove_unlinked_sets(stage_dir)
  return set_dir


def remove_unlinked_sets(stage_dir: str) -> None:
  """Deletes sets the link does not point to (left by a crash or replaced)."""
  sets_dir = os.path.join(stage_dir, 'sets')
  link = os.path.join(stage_dir, SET_LINK)
  current = os.path.basename(os.readlink(link)) if os.path.lexists(link) else None
  if not os.path.isdir(sets_dir):
    return
  for name in os.listdir(sets_dir):
    if name != current:
      shutil.rmtree(os.path.join(sets_dir, name), ignore_errors=True)


def _progress_path(progress_dir: str, label: int) -> str:
  return os.path.join(progress_dir, f'class_{label:02d}.npz')


def _image_and_score_arrays(images: List[np.ndarray], realness: List[np.ndarray],
                            image_shape) -> Dict[str, np.ndarray]:
  """A class's accepted images and every generated fake's realness, as arrays."""
  return {'images': (np.stack(images) if images
                     else np.zeros((0,) + tuple(image_shape), np.uint8)),
          'realness': (np.concatenate(realness) if realness
                       else np.zeros((0,), np.float32))}


def save_class_progress(progress_dir: str, label: int, images: List[np.ndarray],
                        realness: List[np.ndarray], records: List[Dict],
                        class_summary: Dict, image_shape) -> None:
  """Saves one finished class (accepted images, all scores, records) atomically."""
  atomic_files.save_npz(
      _progress_path(progress_dir, label),
      **_image_and_score_arrays(images, realness, image_shape),
      meta=np.asarray(json.dumps({'records': records, 'summary': class_summary})))


def _load_arrays_and_meta(path: str):
  """(arrays, JSON meta) of a progress file written by this module, or None."""
  if not os.path.exists(path):
    return None
  with np.load(path) as arrays:
    return ({k: arrays[k] for k in arrays.files if k != 'meta'},
            json.loads(str(arrays['meta'])))


def load_class_progress(progress_dir: str, label: int):
  """(images, realness, records, summary) of a class an earlier run finished, or None."""
  loaded = _load_arrays_and_meta(_progress_path(progress_dir, label))
  if loaded is None:
    return None
  arrays, meta = loaded
  return list(arrays['images']), arrays['realness'], meta['records'], meta['summary']


def _partial_path(progress_dir: str, label: int) -> str:
  return os.path.join(progress_dir, f'class_{label:02d}.partial.npz')


def save_partial_class(progress_dir: str, label: int, images: List[np.ndarray],
                       realness: List[np.ndarray], accepted: List[Dict],
                       counts: Dict, image_shape) -> None:
  """Saves a class stopped part-way (its images, scores, accepted fakes and
  `counts`: generated, passed, next batch) atomically; `load_partial_class`
  reads it back exactly."""
  probs = [a['class_probs'] for a in accepted]
  atomic_files.save_npz(
      _partial_path(progress_dir, label),
      **_image_and_score_arrays(images, realness, image_shape),
      class_probs=(np.stack(probs) if probs and probs[0] is not None
                   else np.zeros((0,), np.float32)),
      meta=np.asarray(json.dumps({
          'accepted': [{k: v for k, v in a.items() if k != 'class_probs'}
                       for a in accepted], 'counts': counts})))


def load_partial_class(progress_dir: str, label: int):
  """(images, realness, accepted, counts) of a class stopped part-way, or None."""
  loaded = _load_arrays_and_meta(_partial_path(progress_dir, label))
  if loaded is None:
    return None
  arrays, meta = loaded
  probs = arrays['class_probs']
  accepted = [{**a, 'class_probs': probs[i] if len(probs) else None}
              for i, a in enumerate(meta['accepted'])]
  realness = arrays['realness']
  return (list(arrays['images']), [realness] if len(realness) else [], accepted,
          meta['counts'])


def remove_partial_class(progress_dir: str, label: int) -> None:
  """Drops a class's part-way save once the class is saved whole."""
  path = _partial_path(progress_dir, label)
  if os.path.exists(path):
    os.remove(path)


def load_set(stage_dir: str) -> Tuple[np.ndarray, np.ndarray, Dict]:
  """(images uint8, labels, manifest) of the current accepted set."""
  set_dir = os.path.join(stage_dir, SET_LINK)
  with open(os.path.join(set_dir, 'manifest.json')) as f:
    manifest = json.load(f)
  with np.load(os.path.join(set_dir, 'images.npz')) as arrays:
    images, labels = arrays['images'], arrays['labels']
  if len(images) != len(manifest['images']):
    raise SynthesisError(f'{set_dir}: {len(images)} images but '
                         f'{len(manifest["images"])} manifest entries.')
  return images, labels, manifest
