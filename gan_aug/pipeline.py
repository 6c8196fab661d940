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
from typing import Any, Dict, Optional, Tuple

import ml_collections
from absl import logging

from gan_aug import compare
from gan_aug import config_validation
from gan_aug import data as data_lib
from gan_aug import errors
from gan_aug import provenance
from gan_aug import report
from gan_aug import synth
from gan_aug import trials
from gan_aug.train import gan_loop
from gan_aug.train import sharding

# Config fields that change how progress is shown, not what a stage computes.
_NON_SEMANTIC_GAN_FIELDS = ('log_every', 'sample_every', 'checkpoint_every',
                            'max_checkpoints_to_keep', 'samples_per_class')
_NON_SEMANTIC_SYNTHESIS_FIELDS = ('grid_per_class',)
# other_models get stages of their own; checkpoint timing does not change results.
_NON_SEMANTIC_CLASSIFIER_FIELDS = ('other_models', 'checkpoint_every_seconds')
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


# A diverged GAN stage may be continued by a run that differs only in these.
_OPTIMIZER_FIELDS = ('learning_rate', 'beta1', 'beta2')


def _without_optimizer(key: Dict) -> Dict:
  key = json.loads(json.dumps(key, default=str))  # As stage.json stores it.
  gan = {k: v for k, v in key['gan'].items() if k not in _OPTIMIZER_FIELDS}
  return {**{k: v for k, v in key.items() if k != 'continues_from'}, 'gan': gan}


def find_diverged_gan(workdir: str, key: Dict) -> Optional[Dict]:
  """The diverged GAN stage this key may continue, with its last good step.

  A stage qualifies when it diverged after saving a checkpoint and its key equals
  `key` in everything but the optimizer's hyperparameters; of several, the one
  that got furthest.
  """
  stages_dir = os.path.join(workdir, 'stages')
  if not os.path.isdir(stages_dir):
    return None
  best = None
  for name in sorted(os.listdir(stages_dir)):
    stage_dir = os.path.join(stages_dir, name)
    diverged_path = os.path.join(stage_dir, gan_loop.DIVERGED_FILE)
    if (not name.startswith('gan-') or not os.path.exists(diverged_path)
        or os.path.exists(os.path.join(stage_dir, 'done.json'))):
      continue
    with open(os.path.join(stage_dir, 'stage.json')) as f:
      other = json.load(f)
    with open(diverged_path) as f:
      diverged = json.load(f)
    if (diverged['last_good_step'] is None
        or _without_optimizer(other) != _without_optimizer(key)
        or other['gan'] == json.loads(json.dumps(key['gan'], default=str))):
      continue
    if best is None or diverged['last_good_step'] > best['step']:
      best = {'stage': name, 'step': diverged['last_good_step'],
              'checkpoint_dir': os.path.join(stage_dir, 'checkpoints'),
              'diverged_learning_rate': diverged['learning_rate'],
              'learning_rate': key['gan']['learning_rate']}
  return best


def check_batch_sizes(config: ml_collections.ConfigDict, num_train: int) -> None:
  """Refuses batch sizes the data or the devices cannot take, before any work starts."""
  mesh = sharding.make_mesh()
  for field in ('gan.batch_size', 'classifier.batch_size', 'classifier.eval_batch_size',
                'synthesis.batch_size'):
    section, name = field.split('.')
    value = config[section][name]
    if name == 'batch_size' and section != 'synthesis' and value > num_train:
      raise errors.ConfigError(
          f'config.{field}={value} is larger than the {num_train} training images; '
          'lower it.')
    try:
      sharding.check_divisible(value, mesh, field)
    except ValueError as e:
      raise errors.ConfigError(str(e)) from e


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


def classifier_stage_key(config: ml_collections.ConfigDict, synthesis_fp: str,
                         model_name: str = '') -> Dict:
  """The inputs that determine one classifier's trained and evaluated arms."""
  clf = {k: v for k, v in config.classifier.to_dict().items()
         if k not in _NON_SEMANTIC_CLASSIFIER_FIELDS}
  model_name = model_name or config.classifier.name
  if model_name != config.classifier.name:
    clf['name'] = model_name
  return {'stage': 'classifiers', 'synthesis_stage': synthesis_fp,
          'seed': config.seed, 'classifier': clf}


def classifier_names(config: ml_collections.ConfigDict) -> list:
  """The primary classifier first, then `classifier.other_models`."""
  names = [config.classifier.name]
  for name in config.classifier.get('other_models', ()):
    if name not in names:
      names.append(name)
  return names


def run_stage(workdir: str, kind: str, key: Dict, run_fn) -> Tuple[Dict, str]:
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


def _write_figures(figures_dir: str, config, dataset, gan_dir: str, synth_dir: str,
                   synth_summary: Dict, synth_images, synth_labels,
                   comparison: Dict) -> Dict[str, str]:
  """The report's PNGs under `figures_dir`; returns {name: path}."""
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


def trial_config(config: ml_collections.ConfigDict,
                  trial: int) -> ml_collections.ConfigDict:
  """Trial t's config: the same, with seed + t (its own subset, GAN and classifiers)."""
  result = ml_collections.ConfigDict(config.to_dict())
  result.seed = config.seed + trial
  return result


def gan_stage(config: ml_collections.ConfigDict, dataset: data_lib.Dataset,
               data_fp: str, workdir: str) -> Tuple[Dict, Dict, str]:
  """(key, summary, folder) of the GAN stage: trained, resumed, continued or reused."""
  gan_key = gan_stage_key(config, data_fp)
  continue_from = find_diverged_gan(workdir, gan_key)
  if continue_from:
    # Part of the key: the result depends on where the run starts.
    gan_key['continues_from'] = {k: continue_from[k] for k in ('stage', 'step')}
  summary, stage_dir = run_stage(
      workdir, 'gan', gan_key,
      lambda stage_dir: gan_loop.train_gan(config, dataset, stage_dir,
                                           continue_from=continue_from))
  return gan_key, summary, stage_dir


def synthesis_stage(config: ml_collections.ConfigDict, dataset: data_lib.Dataset,
                    gan_key: Dict, gan_dir: str, workdir: str) -> Tuple[Dict, Dict, str]:
  """(key, summary, folder) of the synthesis stage from the GAN in `gan_dir`."""
  synth_key = synthesis_stage_key(config, fingerprint(gan_key))
  summary, stage_dir = run_stage(
      workdir, 'synthesis', synth_key,
      lambda stage_dir: synth.synthesize(config, dataset,
                                         os.path.join(gan_dir, 'checkpoints'),
                                         stage_dir))
  return synth_key, summary, stage_dir


def run_gan_only(config: ml_collections.ConfigDict, workdir: str) -> Tuple[Dict, str]:
  """Trains (or resumes) the GAN stage of `run`'s first trial, and nothing else.

  For multi-process training (`gan_aug.multihost`): the stage folder is the one
  `run` uses, so a later `run` with the same config and workdir reuses it.
  """
  config_validation.validate(config)
  os.makedirs(workdir, exist_ok=True)
  full = data_lib.load_dataset(config.data, config.seed)
  this_trial = trial_config(config, 0)
  dataset = data_lib.keep_training_fraction(
      full, config.data.get('train_fraction', 1.0), this_trial.seed)
  check_batch_sizes(this_trial, len(dataset.splits['train']))
  _, summary, stage_dir = gan_stage(this_trial, dataset, data_fingerprint(dataset),
                                     workdir)
  return summary, stage_dir


def _run_trial(config: ml_collections.ConfigDict, dataset: data_lib.Dataset,
               workdir: str, figures_dir: str, run_provenance: Dict) -> Dict:
  """GAN, synthesis and every classifier on one training subset; the trial's report."""
  summary = dataset.summary()
  data_fp = data_fingerprint(dataset)
  summary['fingerprint'] = data_fp
  check_batch_sizes(config, len(dataset.splits['train']))

  gan_key, gan_summary, gan_dir = gan_stage(config, dataset, data_fp, workdir)

  synth_key, synth_summary, synth_dir = synthesis_stage(config, dataset, gan_key,
                                                         gan_dir, workdir)
  synth_images, synth_labels, _ = synth.load_set(synth_dir)

  comparisons, clf_dirs = {}, {}
  for name in classifier_names(config):
    clf_key = classifier_stage_key(config, fingerprint(synth_key), name)
    comparisons[name], clf_dirs[name] = run_stage(
        workdir, 'classifiers', clf_key,
        lambda stage_dir, name=name: compare.compare(
            config, dataset, synth_images, synth_labels, stage_dir,
            model_name=name))
  primary = comparisons[config.classifier.name]
  figures = _write_figures(figures_dir, config, dataset, gan_dir, synth_dir,
                           synth_summary, synth_images, synth_labels, primary)
  result = report.build_report(summary, gan_summary, synth_summary, comparisons,
                               config.classifier.name, run_provenance, figures)
  result['seed'] = config.seed
  result['stages'] = {'gan': gan_dir, 'synthesis': synth_dir,
                      'classifiers': clf_dirs[config.classifier.name],
                      'classifier_models': clf_dirs}
  return result


def run(config: ml_collections.ConfigDict, workdir: str) -> Dict:
  """Runs every stage for `config` in `workdir`; returns the report dict.

  With `config.trials` > 1, trial t runs the whole pipeline with seed + t (its own
  training subset when `data.train_fraction` < 1); the report averages the
  trials' test metrics and keeps each trial's values.
  """
  config_validation.validate(config)
  os.makedirs(workdir, exist_ok=True)
  report.write_json(os.path.join(workdir, 'config.json'), config.to_dict())
  run_provenance = provenance.collect(config)
  report.write_json(os.path.join(workdir, 'provenance.json'), run_provenance)

  full = data_lib.load_dataset(config.data, config.seed)
  full_summary = full.summary()
  full_summary['fingerprint'] = data_fingerprint(full)
  _log_dataset(full_summary)
  num_trials = config.get('trials', 1)
  fraction = config.data.get('train_fraction', 1.0)
  trial_reports = []
  for trial in range(num_trials):
    this_trial = trial_config(config, trial)
    dataset = data_lib.keep_training_fraction(full, fraction, this_trial.seed)
    if num_trials > 1 or fraction < 1.0:
      logging.info('Trial %d/%d (seed %d): %d of %d training images.', trial + 1,
                   num_trials, this_trial.seed, len(dataset.splits['train']),
                   len(full.splits['train']))
    figures_dir = os.path.join(workdir, 'figures',
                               *([f'trial{trial}'] if num_trials > 1 else []))
    trial_reports.append(_run_trial(this_trial, dataset, workdir, figures_dir,
                                    run_provenance))
  full_summary['trials'] = [r['dataset'] for r in trial_reports]
  report.write_json(os.path.join(workdir, 'dataset.json'), full_summary)

  result = (trial_reports[0] if num_trials == 1
            else trials.combine_trials(trial_reports))
  predictions = os.path.join(workdir, 'test_predictions.csv')
  shutil.copyfile(result['predictions_file'], predictions + '.tmp')
  os.replace(predictions + '.tmp', predictions)
  result['predictions_file'] = predictions
  report.write_json(os.path.join(workdir, 'report.json'), result)
  report.write_text(os.path.join(workdir, 'report.md'), report.markdown(result))
  logging.info('Report: %s (and report.md, figures/).',
               os.path.join(workdir, 'report.json'))
  return result
