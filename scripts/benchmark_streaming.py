"""GAN steps/s with the training images held on the device and streamed by Grain.

  python scripts/benchmark_streaming.py --folder=/tmp/phantom20k [--images=20001] \
      [--steps=40] [--json=streaming.json]

A folder of `--images` 299x299 phantom PNGs (written by scripts/export_phantom.py
when `--folder` does not exist; NOT medical data) is prepared as
`tfds:class_folder` at 112 px, 1 channel, then covid_acgan's GAN with its `:cpu`
widths (G 64, D 16, batch 32) trains `--steps` steps on the prepared training
split twice: held on the device, and streamed from the records
(`data.in_memory_max_bytes=0`). Also timed: preparing, reloading the prepared
records, a rerun's time from the command to its first GAN step, and the batches/s
the stream reads with nothing training (its ceiling). Prints a
table and, with --json, writes the rows.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app, flags
import jax

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, os.path.join(REPO_ROOT, 'configs'))
import covid_acgan  # pylint: disable=wrong-import-position
from gan_aug import data as data_lib  # pylint: disable=wrong-import-position
from gan_aug.data import streaming  # pylint: disable=wrong-import-position
from gan_aug.generator import loop as gan_loop  # pylint: disable=wrong-import-position

_FOLDER = flags.DEFINE_string('folder', '/tmp/gan_aug_streaming_phantom',
                              'Image folder (<split>/<class>/*.png); written if missing.')
_IMAGES = flags.DEFINE_integer('images', 20001, 'Images to write when the folder '
                               'is missing (3 classes; 80/10/10 % train/val/test).')
_PREPARED_DIR = flags.DEFINE_string('prepared_dir', '/tmp/gan_aug_streaming_prepared',
                                    'Where the records go (removed first).')
_STEPS = flags.DEFINE_integer('steps', 40, 'GAN steps timed on each path.')
_RESOLUTION = flags.DEFINE_integer('resolution', 112, 'Training resolution.')
_JSON = flags.DEFINE_string('json', '', 'Also write the rows to this file.')


def _write_folder(folder: str, images: int) -> float:
  per_class = images // 3
  val = test = per_class // 10
  start = time.perf_counter()
  subprocess.run([sys.executable, os.path.join(REPO_ROOT, 'scripts', 'export_phantom.py'),
                  f'--out={folder}', '--resolution=299', f'--train={per_class - 2 * val}',
                  f'--val={val}', f'--test={test}'], check=True)
  return time.perf_counter() - start


def _config(streamed: bool):
  config = covid_acgan.get_config('cpu')
  config.data.name = 'tfds:class_folder'
  config.data.dir = _FOLDER.value
  config.data.prepared_dir = _PREPARED_DIR.value
  config.data.resolution = _RESOLUTION.value
  if streamed:
    config.data.in_memory_max_bytes = 0
  config.gan.num_steps = _STEPS.value
  for field in ('log_every', 'sample_every', 'checkpoint_every'):
    config.gan[field] = _STEPS.value
  return config


def _first_step_seconds(workdir: str, cache_dir: str) -> float:
  """A fresh workdir on the prepared records, streamed, with JAX's compilation
  cache in `cache_dir`: seconds from the command to the log line of GAN step 1
  (the run is stopped there)."""
  command = [sys.executable, '-m', 'gan_aug.main', '--config=configs/covid_acgan.py:cpu',
             '--config.data.name=tfds:class_folder', f'--config.data.dir={_FOLDER.value}',
             f'--config.data.prepared_dir={_PREPARED_DIR.value}',
             f'--config.data.resolution={_RESOLUTION.value}',
             '--config.data.in_memory_max_bytes=0', '--config.gan.log_every=1',
             f'--workdir={workdir}']
  start = time.perf_counter()
  process = subprocess.Popen(command, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONUNBUFFERED='1',
                                      JAX_COMPILATION_CACHE_DIR=cache_dir))
  try:
    for line in process.stderr:
      if re.search(r'\] step 1/', line):
        return time.perf_counter() - start
    raise RuntimeError(f'the run ended before its first GAN step: {command}')
  finally:
    process.kill()
    process.wait()


def _read_only_rate(dataset, steps: int = 300) -> float:
  """Batches/s the stream reads with nothing training: its ceiling."""
  config = _config(True)
  train = dataset.splits['train']
  rows = streaming.epoch_rows(jax.random.PRNGKey(0), 0, steps, len(train),
                              config.gan.batch_size)
  batches = streaming.batches(
      streaming.source_of(train, dataset.info['prepared']['dir']), train.labels,
      rows, 0, config.data)
  next(batches)  # Opens the records.
  start = time.perf_counter()
  for _ in batches:
    pass
  return (steps - 1) / (time.perf_counter() - start)


def main(argv):
  del argv
  rows = {'folder': _FOLDER.value}
  if not os.path.isdir(_FOLDER.value):
    rows['write_folder_seconds'] = round(_write_folder(_FOLDER.value, _IMAGES.value), 1)
  shutil.rmtree(_PREPARED_DIR.value, ignore_errors=True)
  start = time.perf_counter()
  dataset = data_lib.load_dataset(_config(False).data, 0)
  rows['prepare_seconds'] = round(time.perf_counter() - start, 1)
  start = time.perf_counter()
  dataset = data_lib.load_dataset(_config(False).data, 0)
  rows['reload_seconds'] = round(time.perf_counter() - start, 1)
  train = dataset.splits['train']
  rows.update(images=sum(len(s) for s in dataset.splits.values()),
              train_images=len(train), train_megabytes=round(train.images.nbytes / 1e6, 1))
  paths = {}
  with tempfile.TemporaryDirectory() as tmp:
    for path in ('held', 'streamed'):
      summary = gan_loop.train_gan(_config(path == 'streamed'), dataset,
                                   os.path.join(tmp, path))
      paths[path] = {'steps_per_sec': summary['steps_this_run'] / summary['train_seconds'],
                     'compile_seconds': summary['compile_seconds'],
                     'final_metrics': summary['final_metrics']}
    # A new cache compiles (a rerun on another machine); the second run reads it.
    for cache in ('cold', 'warm'):
      rows[f'rerun_first_step_seconds_{cache}_cache'] = round(_first_step_seconds(
          os.path.join(tmp, f'rerun_{cache}'), os.path.join(tmp, 'jax_cache')), 1)
  rows['read_only_batches_per_sec'] = _read_only_rate(dataset)
  rows['paths'] = paths
  rows['streamed_over_held'] = (paths['streamed']['steps_per_sec']
                                / paths['held']['steps_per_sec'])
  rows['same_final_metrics'] = (paths['streamed']['final_metrics']
                                == paths['held']['final_metrics'])

  print(f'{rows["images"]} images ({rows["train_images"]} training, '
        f'{rows["train_megabytes"]} MB at {_RESOLUTION.value} px); prepared in '
        f'{rows["prepare_seconds"]} s, reloaded in {rows["reload_seconds"]} s; a '
        f'rerun reached its first GAN step in '
        f'{rows["rerun_first_step_seconds_cold_cache"]} s (compiling), '
        f'{rows["rerun_first_step_seconds_warm_cache"]} s (compilation cache).')
  print('| path | GAN steps/s | compile s |\n|---|---|---|')
  for path, row in paths.items():
    print(f'| {path} | {row["steps_per_sec"]:.3f} | {row["compile_seconds"]:.1f} |')
  print(f'streamed / held: {rows["streamed_over_held"]:.3f}; same final metrics: '
        f'{rows["same_final_metrics"]}; the stream alone reads '
        f'{rows["read_only_batches_per_sec"]:.0f} batches/s.')
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump(rows, f, indent=2)


if __name__ == '__main__':
  app.run(main)
