"""The stages of a run, each keyed by a fingerprint of what it depends on.

workdir/
  config.json, provenance.json   the resolved config and environment of the last run
  dataset.json                   the data set summary (splits, duplicates removed, ...)
  stages/gan-<fingerprint>/      checkpoints/, samples/, metrics.jsonl, stage.json,
                                 done.json once complete

A stage's fingerprint hashes the config fields that change its output plus the
fingerprint of its input data (the pixel digests and labels of every split), so
rerunning the same config resumes or skips, while a changed config or changed data
gets a new stage folder. Nothing of an earlier config is overwritten.
"""

import hashlib
import json
import os
from typing import Any, Dict

import ml_collections
from absl import logging

from gan_aug import config_validation
from gan_aug import data as data_lib
from gan_aug import provenance
from gan_aug.train import gan_loop

# Config fields that change how progress is shown, not what a stage computes.
_NON_SEMANTIC_GAN_FIELDS = ('log_every', 'sample_every', 'checkpoint_every',
                            'max_checkpoints_to_keep', 'samples_per_class')
# Where the data is read from does not matter, only what was read (content hash).
_NON_SEMANTIC_DATA_FIELDS = ('dir', 'path')


def fingerprint(obj: Any) -> str:
  """A short stable hash of a JSON-serialisable object."""
  text = json.dumps(obj, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_fingerprint(dataset: data_lib.Dataset) -> str:
  """Hash of what the data set holds: class names and each split's digests and labels."""
  return fingerprint({
      'class_names': dataset.class_names,
      'splits': {name: [split.digests, split.labels.tolist(),
                        list(split.images.shape)]
                 for name, split in dataset.splits.items()},
  })


def gan_stage_key(config: ml_collections.ConfigDict, data_fp: str) -> Dict:
  """The inputs that determine a trained GAN."""
  gan = {k: v for k, v in config.gan.to_dict().items()
         if k not in _NON_SEMANTIC_GAN_FIELDS}
  data = {k: v for k, v in config.data.to_dict().items()
          if k not in _NON_SEMANTIC_DATA_FIELDS}
  return {'stage': 'gan', 'seed': config.seed, 'gan': gan, 'data': data,
          'data_fingerprint': data_fp}


def _write_json(path: str, obj: Any) -> None:
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2, default=str)
  os.replace(tmp, path)  # Atomic: a crash never leaves half a file.


def _log_dataset(summary: Dict) -> None:
  logging.info('Data set %s%s: classes %s; split sizes %s.', summary['name'],
               ' (PHANTOM, not medical data)' if summary['is_phantom'] else '',
               summary['class_names'], summary['splits'])
  removed = summary['duplicates_removed']
  if removed:
    logging.info('%d image(s) kept out of training as exact duplicates of '
                 'held-out images:', len(removed))
    for item in removed:
      logging.info('  %s:%s == %s', item['removed_from'], item['source'],
                   ', '.join(item['identical_to']))
  for item in summary['skipped_files']:
    logging.warning('Skipped unreadable file %s', item['error'])


def run(config: ml_collections.ConfigDict, workdir: str) -> Dict:
  """Runs every stage for `config` in `workdir`; returns a summary dict."""
  config_validation.validate(config)
  os.makedirs(workdir, exist_ok=True)
  _write_json(os.path.join(workdir, 'config.json'), config.to_dict())
  _write_json(os.path.join(workdir, 'provenance.json'), provenance.collect(config))

  dataset = data_lib.load_dataset(config.data, config.seed)
  summary = dataset.summary()
  data_fp = data_fingerprint(dataset)
  summary['fingerprint'] = data_fp
  _write_json(os.path.join(workdir, 'dataset.json'), summary)
  _log_dataset(summary)

  key = gan_stage_key(config, data_fp)
  stage_dir = os.path.join(workdir, 'stages', f'gan-{fingerprint(key)}')
  done_path = os.path.join(stage_dir, 'done.json')
  if os.path.exists(done_path):
    with open(done_path) as f:
      gan_summary = json.load(f)
    logging.info('GAN stage already complete for this config and data (%s); '
                 'skipping. Checkpoints: %s', stage_dir, gan_summary['checkpoint_dir'])
  else:
    os.makedirs(stage_dir, exist_ok=True)
    _write_json(os.path.join(stage_dir, 'stage.json'), key)
    gan_summary = gan_loop.train_gan(config, dataset, stage_dir)
    _write_json(done_path, gan_summary)
    logging.info('GAN stage complete: %s', stage_dir)
  return {'workdir': workdir, 'dataset': summary, 'gan': gan_summary,
          'gan_stage_dir': stage_dir}
