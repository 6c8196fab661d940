"""Load times of the shared data sets: the direct loaders, the first (preparing)
`tfds:` load, and a prepared reload.

  GAN_AUG_DATA_DIR=../shared/data python scripts/benchmark_prepare.py \
      [--prepared_dir=/tmp/prepared] [--json=prepare.json]

Each row loads a fresh `--prepared_dir` (removed first). Prints a table and,
with --json, writes the rows. The pixels of the direct and the prepared loads
are compared (`equal`).
"""

import json
import os
import shutil
import sys
import time

from absl import app, flags
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gan_aug import data as data_lib  # pylint: disable=wrong-import-position
from gan_aug.config_blocks import blocks  # pylint: disable=wrong-import-position

_PREPARED_DIR = flags.DEFINE_string('prepared_dir', '/tmp/gan_aug_benchmark_prepared',
                                    'Where the records go (removed first).')
_JSON = flags.DEFINE_string('json', '', 'Also write the rows to this file.')

# (label, direct loader, prepared source, data fields)
_CASES = (
    ('covid19_3way 3ch 112px', 'image_folder', 'tfds:covid19_3way',
     {'dir': 'covid19_3way', 'channels': 3, 'resolution': 112}),
    ('covid19_3way 1ch 64px', 'image_folder', 'tfds:covid19_3way',
     {'dir': 'covid19_3way', 'channels': 1, 'resolution': 64}),
    ('PneumoniaMNIST 1ch 28px', 'npz', 'tfds:medmnist',
     {'path': 'pneumoniamnist.npz', 'channels': 1, 'resolution': 28}),
    ('PneumoniaMNIST 1ch 64px', 'npz', 'tfds:medmnist',
     {'path': 'pneumoniamnist.npz', 'channels': 1, 'resolution': 64}),
)


def _timed_load(cfg):
  start = time.perf_counter()
  dataset = data_lib.load_dataset(cfg, 0)
  return dataset, time.perf_counter() - start


def main(argv):
  del argv
  root = blocks.data_root()
  rows = []
  for label, direct_name, prepared_name, fields in _CASES:
    fields = dict(fields)
    for key in ('dir', 'path'):
      if key in fields:
        fields[key] = os.path.join(root, fields[key])
    shutil.rmtree(_PREPARED_DIR.value, ignore_errors=True)
    cfg = blocks.data(name=direct_name, prepared_dir=_PREPARED_DIR.value,
                      **fields)
    direct, direct_s = _timed_load(cfg)
    cfg.name = prepared_name
    _, prepare_s = _timed_load(cfg)
    reloaded, reload_s = _timed_load(cfg)
    equal = all(np.array_equal(direct.splits[s].images, reloaded.splits[s].images)
                for s in direct.splits)
    rows.append({'data set': label, 'images': sum(map(len, direct.splits.values())),
                 'direct_s': round(direct_s, 2), 'prepare_s': round(prepare_s, 2),
                 'reload_s': round(reload_s, 2), 'equal': equal})
  shutil.rmtree(_PREPARED_DIR.value, ignore_errors=True)
  header = f'{"data set":26} {"images":>7} {"direct s":>9} {"prepare s":>10} ' \
           f'{"reload s":>9}  equal'
  print(header)
  for r in rows:
    print(f'{r["data set"]:26} {r["images"]:7d} {r["direct_s"]:9.2f} '
          f'{r["prepare_s"]:10.2f} {r["reload_s"]:9.2f}  {r["equal"]}')
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump(rows, f, indent=2)


if __name__ == '__main__':
  app.run(main)
