"""The stages of a run, each keyed by a fingerprint of what it depends on.

workdir/stages/<kind>-<fp>/ holds one stage: stage.json (its inputs) and, once
complete, done.json (its summary). `STAGES` names each kind and what it computes:
  gan          the trained GAN of one (fraction, seed): checkpoints/, samples/,
               metrics.jsonl and TensorBoard events
  synthesis    its accepted fakes: sets/<id>/ (PNGs per class, images.npz,
               manifest.json), scores.npz
  filter_classifier  the classifier-agreement filter's classifier of one
               (fraction, seed), trained on the training split alone:
               filter_classifier.msgpack, checkpoints/
  classifiers  every arm of one classifier on one (fraction, seed):
               test_predictions.csv, checkpoints*/, closest_pairs.png

A stage's fingerprint hashes the config fields that change its output plus the
fingerprint of its input (the pixel digests and labels of every split, or the
upstream stage's key), so rerunning the same config resumes or skips, while a
changed config or changed data gets a new stage folder; nothing of an earlier
config is overwritten, and GAN variants and filter sweeps reuse every stage
whose key they share. A GAN stage that diverged may be continued from its last
good checkpoint by a run that changes only the optimizer's hyperparameters.
"""

import dataclasses
import json
import os
from typing import Callable, Dict, Optional, Sequence, Tuple

import ml_collections
from absl import logging

from gan_aug import data as data_lib
from gan_aug.core import atomic_files
from gan_aug.core import errors
from gan_aug.core import registry
from gan_aug.core.fingerprints import fingerprint
from gan_aug.generator import divergence as gan_divergence
from gan_aug.generator import loop as gan_loop
from gan_aug.generator import family as family_lib
from gan_aug.pipeline import config_validation
from gan_aug.runtime import sharding
from gan_aug.runtime import watchdog
from gan_aug.synthesis import agreement

# Config fields that change how progress is shown, not what a stage computes.
_NON_SEMANTIC_GAN_FIELDS = ('log_every', 'sample_every', 'checkpoint_every',
                            'max_checkpoints_to_keep', 'samples_per_class')
_NON_SEMANTIC_SYNTHESIS_FIELDS = ('grid_per_class',)
# Synthesis fields added after workdirs existed, left out of the key at these
# values (the filter off) so that earlier synthesis stages keep their keys.
_ADDED_SYNTHESIS_FIELDS = {'classifier_filter': False,
                           'classifier_filter_epochs': 10,
                           'classifier_filter_confidence': 0.0}
# config.gan's fields of every family that change only how a trained state is
# sampled, with the values left out of the synthesis key (so that earlier
# synthesis stages keep their keys): the checkpoint synthesis draws from.
_SAMPLING_GAN_FIELDS = {'synthesis_step': 0}
# other_models get stages of their own; checkpoint timing does not change results.
_NON_SEMANTIC_CLASSIFIER_FIELDS = ('other_models', 'checkpoint_every_seconds')
# Where the data is read from does not matter, only what was read (content hash);
# nor does the input path, which draws the same batches.
_NON_SEMANTIC_DATA_FIELDS = ('dir', 'path', 'prepared_dir', 'in_memory_max_bytes',
                             'stream_threads', 'stream_prefetch')
# Data fields added after workdirs existed, left out of the key at these values
# so that earlier GAN stages keep their keys (what they change shows in the data
# fingerprint anyway).
_ADDED_DATA_FIELDS = {'include_classes': [], 'label_conflict_policy': 'exclude',
                      'split_strings': {'train': '', 'val': '', 'test': ''}}
# GAN fields added after workdirs existed, left out of the key at these values
# (which reproduce the earlier steps exactly) so that earlier stages keep their keys.
_ADDED_GAN_FIELDS = {'objective': 'bce', 'r1_gamma': 0.0, 'r1_every': 16,
                     'ada': False, 'ada_target': 0.6, 'ada_interval': 4,
                     'ada_kimg': 10.0}
# The protocol's axes choose which stages run; they do not change one stage.
# Nor do the candidates the report chooses among.
_PROTOCOL_AXES = ('arms', 'seeds', 'fractions', 'generators', 'filter_sweep',
                  'candidates')


@dataclasses.dataclass(frozen=True)
class Stage:
  """A kind of stage: `key(config, upstream_fp, ...)` -> the dict its
  fingerprint hashes."""
  description: str
  key: Callable[..., Dict]


STAGES: registry.Registry[Stage] = registry.Registry('stage')


def data_fingerprint(dataset: data_lib.Dataset) -> str:
  """Hash of what the data set holds: class names and each split's digests and labels."""
  return fingerprint({
      'class_names': dataset.class_names,
      'splits': {name: [split.digests, split.labels.tolist(),
                        list(split.images.shape)]
                 for name, split in dataset.splits.items()},
  })


def _compilation(config: ml_collections.ConfigDict) -> Dict:
  """An unoptimised compile rounds differently: its stages are not an optimised
  run's (absent when off, so earlier workdirs keep their keys)."""
  return {'fast_compile': True} if config.get('fast_compile', False) else {}


def _at_added_default(added: Dict, name: str, value) -> bool:
  """Whether `name` is a field added later, at the value it was added with."""
  return name in added and json.loads(json.dumps(value)) == added[name]


def _sampling_fields(config: ml_collections.ConfigDict) -> Tuple[str, ...]:
  """config.gan's fields that key the synthesis stage instead of the training one
  (a config.gan that names no family has only the fields every family has)."""
  name = config.gan.get('name')
  return tuple(_SAMPLING_GAN_FIELDS) + (
      family_lib.find(name).sampling_fields if name else ())


def gan_stage_key(config: ml_collections.ConfigDict, data_fp: str) -> Dict:
  """The inputs that determine a trained GAN (not its family's sampling
  fields, which key the synthesis stage)."""
  sampling = _sampling_fields(config)
  gan = {k: v for k, v in config.gan.to_dict().items()
         if k not in _NON_SEMANTIC_GAN_FIELDS and k not in sampling
         and not _at_added_default(_ADDED_GAN_FIELDS, k, v)}
  if 'r1_gamma' not in gan:  # No penalty: its period changes nothing.
    gan.pop('r1_every', None)
  if 'ada' not in gan:  # No ADA: its settings change nothing.
    for name in ('ada_target', 'ada_interval', 'ada_kimg'):
      gan.pop(name, None)
  data = {k: v for k, v in config.data.to_dict().items()
          if k not in _NON_SEMANTIC_DATA_FIELDS
          and not _at_added_default(_ADDED_DATA_FIELDS, k, v)}
  return {'stage': 'gan', 'seed': config.seed, 'gan': gan, 'data': data,
          'data_fingerprint': data_fp, **_compilation(config)}


def synthesis_stage_key(config: ml_collections.ConfigDict, gan_fp: str,
                        filter_classifier_fp: Optional[str] = None) -> Dict:
  """The inputs that determine an accepted synthetic set: config.synthesis,
  config.gan's sampling fields (`_sampling_fields`, where set) and, with the
  classifier filter on, the fingerprint of its classifier's stage."""
  syn = {k: v for k, v in config.synthesis.to_dict().items()
         if k not in _NON_SEMANTIC_SYNTHESIS_FIELDS}
  sampling = {k: config.gan[k] for k in _sampling_fields(config)
              if k in config.gan
              and not _at_added_default(_SAMPLING_GAN_FIELDS, k, config.gan[k])}
  if not syn.get('classifier_filter', False):
    for name in _ADDED_SYNTHESIS_FIELDS:
      syn.pop(name, None)
  if syn.get('threshold_mode') == 'none':
    # Spelled 'fixed' with threshold 0 before 'none' existed; it keeps the same
    # fakes, so it keeps that key and earlier synthesis stages stay found.
    syn.update(threshold_mode='fixed', threshold=0.0)
  return {'stage': 'synthesis', 'gan_stage': gan_fp, 'seed': config.seed,
          'synthesis': syn, **_compilation(config),
          **({'sampling': sampling} if sampling else {}),
          **({'filter_classifier_stage': filter_classifier_fp}
             if filter_classifier_fp else {})}


def filter_classifier_stage_key(config: ml_collections.ConfigDict, train_fp: str,
                                num_classes: int) -> Dict:
  """The inputs that determine the classifier-agreement filter's classifier:
  the training split's fingerprint (no other split's), the number of classes,
  the classifier's fields (those it uses: it loads no pretrained weights), the
  epochs and the seed."""
  clf = {k: v for k, v in config.classifier.to_dict().items()
         if k not in _NON_SEMANTIC_CLASSIFIER_FIELDS
         and k not in ('max_epochs', 'patience',
                       *agreement.UNUSED_CLASSIFIER_FIELDS)}
  return {'stage': 'filter_classifier', 'seed': config.seed,
          'train_fingerprint': train_fp, 'num_classes': num_classes,
          'classifier': clf,
          'epochs': int(config.synthesis.classifier_filter_epochs),
          **_compilation(config)}


def classifier_stage_key(config: ml_collections.ConfigDict, data_fp: str,
                         synthesis_fp: Optional[str], model_name: str,
                         arm_names: Sequence[str],
                         controls_fp: Optional[str] = None) -> Dict:
  """The inputs that determine one classifier's trained and tested arms (the
  registered arms `arm_names`); `controls_fp` is the controls stage whose `real`
  arm measures the fakes.

  `arm_stopping: own` marks stages whose arms stop on their own patience; an
  earlier stage trained its arms until all had stopped, so its results are not
  these and it is not reused."""
  clf = {k: v for k, v in config.classifier.to_dict().items()
         if k not in _NON_SEMANTIC_CLASSIFIER_FIELDS}
  clf['name'] = model_name
  protocol = {k: v for k, v in config.protocol.to_dict().items()
              if k not in _PROTOCOL_AXES}
  return {'stage': 'classifiers', 'data_fingerprint': data_fp,
          'synthesis_stage': synthesis_fp, 'seed': config.seed,
          'arms': list(arm_names), 'protocol': protocol, 'classifier': clf,
          'arm_stopping': 'own',
          **({'controls_stage': controls_fp} if controls_fp else {}),
          **_compilation(config)}


STAGES.register('gan')(Stage('the GAN trained on one training subset',
                             gan_stage_key))
STAGES.register('synthesis')(Stage('the filtered fakes of one GAN',
                                   synthesis_stage_key))
STAGES.register('filter_classifier')(Stage(
    'the classifier-agreement filter\'s classifier, trained on the training '
    'split alone', filter_classifier_stage_key))
STAGES.register('classifiers')(Stage(
    'every arm of one classifier, trained and tested', classifier_stage_key))


def run_stage(workdir: str, kind: str, key: Dict,
              run_fn: Callable[[str], Dict]) -> Tuple[Dict, str]:
  """Runs `run_fn(stage_dir)` unless the `kind` stage for `key` is already done;
  (summary, stage folder)."""
  STAGES.get(kind)
  stage_dir = os.path.join(workdir, 'stages', f'{kind}-{fingerprint(key)}')
  done_path = os.path.join(stage_dir, 'done.json')
  if os.path.exists(done_path):
    with open(done_path) as f:
      summary = json.load(f)
    logging.info('Stage %s already complete for this config and data (%s); '
                 'skipping.', kind, stage_dir)
    return summary, stage_dir
  os.makedirs(stage_dir, exist_ok=True)
  atomic_files.write_json(os.path.join(stage_dir, 'stage.json'), key)
  watchdog.progress(f'the {kind} stage in {stage_dir}')
  summary = run_fn(stage_dir)
  atomic_files.write_json(done_path, summary)
  logging.info('Stage %s complete: %s', kind, stage_dir)
  return summary, stage_dir


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
    diverged_path = os.path.join(stage_dir, gan_divergence.DIVERGED_FILE)
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


def check_batch_sizes(config: ml_collections.ConfigDict,
                      dataset: data_lib.Dataset) -> None:
  """Refuses batch sizes the (training subset of the) data or the devices cannot
  take, before any work starts; a per-class GAN needs its batch of every class."""
  mesh = sharding.make_mesh()
  train = dataset.splits['train']
  num_train = len(train)
  generator = family_lib.find(config.gan.name).build(config, dataset.num_classes)
  if generator.one_per_class:
    counts = train.class_counts(dataset.num_classes)
    gan_loop.check_class_sizes(
        dataset.class_names, counts,
        gan_loop.per_class_batch_size(config.gan, counts, mesh.devices.size))
  for field in config_validation.GLOBAL_BATCH_FIELDS:
    section, name = field.split('.')
    value = config[section][name]
    fitted = (field == 'gan.batch_size' and generator.one_per_class
              and config.gan.get('batch_size_rule', 'fixed') == 'smallest_class')
    if (name == 'batch_size' and section != 'synthesis' and not fitted
        and value > num_train):
      raise errors.ConfigError(
          f'config.{field}={value} is larger than the {num_train} training images; '
          'lower it.')
    try:
      sharding.check_divisible(value, mesh, field)
    except ValueError as e:
      raise errors.ConfigError(str(e)) from e
