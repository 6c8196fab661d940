"""The stages of a run, each keyed by a fingerprint of what it depends on.

workdir/
  config.json, provenance.json   the resolved config and environment of the last run
  dataset.json                   the data set summary (splits, duplicates removed, ...)
  stages/gan-<fp>/               checkpoints/, samples/, metrics.jsonl
  stages/synthesis-<fp>/         synthetic -> sets/<id>/ (PNGs per class, images.npz,
                                 manifest.json), scores.npz
  stages/classifiers-<fp>/       test_predictions.csv
  report.json, report.md         the comparison; figures/*.png; test_predictions.csv
Each stage folder also holds stage.json (its inputs) and, once complete, done.json
(its summary).

A stage's fingerprint hashes the config fields that change its output plus the
fingerprint of its input data (the pixel digests and labels of every split), so
rerunning the same config resumes or skips, while a changed config or changed data
gets a new stage folder. Nothing of an earlier config is overwritten.
"""

import hashlib
import json
import os
import shutil
from typing import Any, Dict, Tuple

import ml_collections
from absl import logging

from gan_aug import compare
from gan_aug import config_validation
from gan_aug import data as data_lib
from gan_aug import provenance
from gan_aug import report
from gan_aug import synth
from gan_aug.train import gan_loop
from gan_aug.train import sharding

# Config fields that change how progress is shown, not what a stage computes.
_NON_SEMANTIC_GAN_FIELDS = ('log_every', 'sample_every', 'checkpoint_every',
                            'max_checkpoints_to_keep', 'samples_per_class')
_NON_SEMANTIC_SYNTHESIS_FIELDS = ('grid_per_class',)
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


def _check_batch_sizes(config: ml_collections.ConfigDict, num_train: int) -> None:
  """Refuses batch sizes the data or the devices cannot take, before any work starts."""
  mesh = sharding.make_mesh()
  for field in ('gan.batch_size', 'classifier.batch_size', 'classifier.eval_batch_size',
                'synthesis.batch_size'):
    section, name = field.split('.')
    value = config[section][name]
    if name == 'batch_size' and section != 'synthesis' and value > num_train:
      raise config_validation.ConfigError(
          f'config.{field}={value} is larger than the {num_train} training images; '
          'lower it.')
    try:
      sharding.check_divisible(value, mesh, field)
    except ValueError as e:
      raise config_validation.ConfigError(str(e)) from e


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


def synthesis_stage_key(config: ml_collections.ConfigDict, gan_fp: str) -> Dict:
  """The inputs that determine an accepted synthetic set."""
  syn = {k: v for k, v in config.synthesis.to_dict().items()
         if k not in _NON_SEMANTIC_SYNTHESIS_FIELDS}
  return {'stage': 'synthesis', 'gan_stage': gan_fp, 'seed': config.seed,
          'synthesis': syn}


def classifier_stage_key(config: ml_collections.ConfigDict, synthesis_fp: str) -> Dict:
  """The inputs that determine the trained and evaluated classifier arms."""
  return {'stage': 'classifiers', 'synthesis_stage': synthesis_fp,
          'seed': config.seed, 'classifier': config.classifier.to_dict()}


def _run_stage(workdir: str, kind: str, key: Dict, run_fn) -> Tuple[Dict, str]:
  """Runs `run_fn(stage_dir)` unless the stage for `key` is already done."""
  stage_dir = os.path.join(workdir, 'stages', f'{kind}-{fingerprint(key)}')
  done_path = os.path.join(stage_dir, 'done.json')
  if os.path.exists(done_path):
    with open(done_path) as f:
      summary = json.load(f)
    logging.info('Stage %s already complete for this config and data (%s); '
                 'skipping.', kind, stage_dir)
    return summary, stage_dir
  os.makedirs(stage_dir, exist_ok=True)
  report.write_json(os.path.join(stage_dir, 'stage.json'), key)
  summary = run_fn(stage_dir)
  report.write_json(done_path, summary)
  logging.info('Stage %s complete: %s', kind, stage_dir)
  return summary, stage_dir


def _write_figures(workdir: str, config, dataset, gan_dir: str, synth_dir: str,
                   synth_summary: Dict, synth_images, synth_labels,
                   comparison: Dict) -> Dict[str, str]:
  """The report's PNGs under workdir/figures/; returns {name: path}."""
  figures_dir = os.path.join(workdir, 'figures')
  os.makedirs(figures_dir, exist_ok=True)
  paths = {name: os.path.join(figures_dir, f'{name}.png') for name in (
      'real_vs_synthetic', 'gan_curves', 'realness_scores', 'classifier_curves',
      'confusion_matrices')}
  phantom = dataset.is_phantom
  train = dataset.splits['train']
  report.real_vs_synthetic_grid(
      paths['real_vs_synthetic'], train.images, train.labels, synth_images,
      synth_labels, dataset.class_names, config.synthesis.grid_per_class, phantom)
  report.gan_curves(paths['gan_curves'], os.path.join(gan_dir, 'metrics.jsonl'),
                    phantom)
  report.score_histogram(paths['realness_scores'],
                         os.path.join(synth_dir, 'scores.npz'),
                         synth_summary['threshold'], phantom)
  report.classifier_curves(paths['classifier_curves'],
                           {arm: r['history'] for arm, r in comparison['arms'].items()},
                           phantom)
  report.confusion_matrices(
      paths['confusion_matrices'],
      {arm: r['test']['confusion_matrix'] for arm, r in comparison['arms'].items()},
      dataset.class_names, phantom)
  return paths


def run(config: ml_collections.ConfigDict, workdir: str) -> Dict:
  """Runs every stage for `config` in `workdir`; returns the report dict."""
  config_validation.validate(config)
  os.makedirs(workdir, exist_ok=True)
  report.write_json(os.path.join(workdir, 'config.json'), config.to_dict())
  run_provenance = provenance.collect(config)
  report.write_json(os.path.join(workdir, 'provenance.json'), run_provenance)

  dataset = data_lib.load_dataset(config.data, config.seed)
  summary = dataset.summary()
  data_fp = data_fingerprint(dataset)
  summary['fingerprint'] = data_fp
  report.write_json(os.path.join(workdir, 'dataset.json'), summary)
  _log_dataset(summary)
  _check_batch_sizes(config, len(dataset.splits['train']))

  gan_key = gan_stage_key(config, data_fp)
  gan_summary, gan_dir = _run_stage(
      workdir, 'gan', gan_key,
      lambda stage_dir: gan_loop.train_gan(config, dataset, stage_dir))

  synth_key = synthesis_stage_key(config, fingerprint(gan_key))
  synth_summary, synth_dir = _run_stage(
      workdir, 'synthesis', synth_key,
      lambda stage_dir: synth.synthesize(config, dataset,
                                         os.path.join(gan_dir, 'checkpoints'),
                                         stage_dir))
  synth_images, synth_labels, _ = synth.load_set(synth_dir)

  clf_key = classifier_stage_key(config, fingerprint(synth_key))
  comparison, clf_dir = _run_stage(
      workdir, 'classifiers', clf_key,
      lambda stage_dir: compare.compare(config, dataset, synth_images, synth_labels,
                                        stage_dir))
  predictions = os.path.join(workdir, 'test_predictions.csv')
  shutil.copyfile(comparison['predictions_file'], predictions + '.tmp')
  os.replace(predictions + '.tmp', predictions)
  comparison = {**comparison, 'predictions_file': predictions}

  figures = _write_figures(workdir, config, dataset, gan_dir, synth_dir,
                           synth_summary, synth_images, synth_labels, comparison)
  result = report.build_report(summary, gan_summary, synth_summary, comparison,
                               config.classifier.name, run_provenance, figures)
  result['stages'] = {'gan': gan_dir, 'synthesis': synth_dir, 'classifiers': clf_dir}
  report.write_json(os.path.join(workdir, 'report.json'), result)
  report.write_text(os.path.join(workdir, 'report.md'), report.markdown(result))
  logging.info('Report: %s (and report.md, figures/).',
               os.path.join(workdir, 'report.json'))
  return result
