"""Every stage of one (fraction, seed): the data subset, each generator's GAN and
synthesis stages, and the classifier stages, merged into one entry of
report.json's `runs`.

The arms without synthetic images (`real`, `classical`, `borders_only`, ...)
train once per (fraction, seed, classifier) in a stage of their own, the
controls stage, whatever the generators; each generator's arms train in a
stage keyed by its accepted set. Every arm keeps its own early stopping within
the same budget rule (`gan_aug.classifier.training`), so an arm's result does
not depend on the stage it trains in, and a rerun that adds a generator reuses
the controls. A generator's stage measures its fakes (GAN-test, quality) with the
controls stage's `real` arm.
"""

import csv
import os
from typing import Dict, List, Optional, Sequence, Tuple

import ml_collections
from absl import logging

from gan_aug import data as data_lib
from gan_aug.core import atomic_files
from gan_aug.generator import family as family_lib
from gan_aug.pipeline import classifier_stage
from gan_aug.pipeline import stages
from gan_aug.protocol import arms as arms_lib
from gan_aug.protocol import axes as protocol_lib
from gan_aug.report import figures
from gan_aug.synthesis import accepted_set
from gan_aug.synthesis import agreement
from gan_aug.synthesis import synthesize

_SYNTHESIS_FIELDS = ('filter', 'threshold', 'threshold_mode', 'threshold_setting',
                     'require_class_agreement', 'target', 'requested', 'generated',
                     'passed', 'accepted', 'acceptance_rate', 'per_class',
                     'checkpoint_steps', 'real_score_distribution', 'images_per_sec',
                     'set_dir', 'classifier_filter', 'score')
_GAN_FIELDS = ('steps', 'batch_size', 'resumed_from_step', 'continued_from_diverged',
               'final_metrics', 'images_per_sec', 'train_seconds', 'devices',
               'checkpoint_steps')
# Per-arm entries kept in the stage's done.json but not in report.json.
_STAGE_ONLY_ARM_FIELDS = ('history', 'test_correct')



def classifier_names(config: ml_collections.ConfigDict) -> List[str]:
  """The primary classifier first, then `classifier.other_models`."""
  names = [config.classifier.name]
  for name in config.classifier.get('other_models', ()):
    if name not in names:
      names.append(name)
  return names



def _real_scores(synth_summary: Dict) -> Dict:
  """D's scores of real validation and test images, beside the filter's threshold."""
  out = {}
  for split, dist in synth_summary.get('real_score_distribution', {}).items():
    if split in ('val', 'test'):
      q = dist['realness_quantiles']
      out[split] = {'median': q['0.5'], 'q05': q['0.05'], 'q95': q['0.95'],
                    'fraction_at_least_threshold':
                        dist['fraction_realness_at_least_threshold']}
  return out



def subset(config: ml_collections.ConfigDict, full: data_lib.Dataset,
            fraction: float) -> data_lib.Dataset:
  """The data set with `fraction` of its training split (drawn by config.seed),
  its batch sizes checked against it."""
  dataset = data_lib.keep_training_fraction(full, fraction, config.seed)
  logging.info('Fraction %s, seed %d: %d of %d training images.', fraction,
               config.seed, len(dataset.splits['train']), len(full.splits['train']))
  stages.check_batch_sizes(config, dataset)
  return dataset



def _filter_classifier(config: ml_collections.ConfigDict, dataset: data_lib.Dataset,
                       workdir: str) -> Tuple[synthesize.Agreement, str]:
  """The classifier-agreement filter's stage (trained on the training split
  alone; one per fraction and seed, whatever the generator): (the filter, the
  stage's fingerprint)."""
  train = dataset.splits['train']
  key = stages.filter_classifier_stage_key(config, agreement.train_fingerprint(train),
                                           dataset.num_classes)
  summary, stage_dir = stages.run_stage(
      workdir, 'filter_classifier', key,
      lambda stage_dir: agreement.train_stage(config, train, dataset.num_classes,
                                              stage_dir))
  verdict = agreement.make_agreement(config, dataset.num_classes,
                                     agreement.load_weights(stage_dir))
  # The confidence is the run's own (the stage is shared by any confidence).
  confidence = float(config.synthesis.classifier_filter_confidence)
  return (synthesize.Agreement(verdict, {**summary, 'confidence': confidence,
                                         'stage': stage_dir}),
          stages.fingerprint(key))


def _synthetic_set(config: ml_collections.ConfigDict, dataset: data_lib.Dataset,
                   data_fp: str, workdir: str) -> Tuple[Dict, Dict]:
  """GAN and synthesis stages; (facts for the report, the accepted set)."""
  gan_key, gan_summary, gan_dir = stages.gan_stage(config, dataset, data_fp, workdir)
  agree, filter_fp = None, None
  if config.synthesis.classifier_filter:
    agree, filter_fp = _filter_classifier(config, dataset, workdir)
  synth_key = stages.synthesis_stage_key(config, stages.fingerprint(gan_key),
                                         filter_fp)
  synth_summary, synth_dir = stages.run_stage(
      workdir, 'synthesis', synth_key,
      lambda stage_dir: synthesize.synthesize(config, dataset,
                                              os.path.join(gan_dir, 'checkpoints'),
                                              stage_dir, agreement=agree))
  images, labels, _ = accepted_set.load_set(synth_dir)
  final = gan_summary.get('final_metrics', {})
  family = family_lib.find(config.gan.name)
  facts = {
      'gan': {**{k: gan_summary.get(k) for k in _GAN_FIELDS},
              'family': config.gan.name,
              'final_losses': {m.key: final[m.key] for m in family.metrics
                               if m.panel == 'loss' and m.key in final}},
      'synthesis': {**{k: synth_summary.get(k) for k in _SYNTHESIS_FIELDS},
                    'real_scores': _real_scores(synth_summary)},
      'stages': {'gan': gan_dir, 'synthesis': synth_dir},
      'synthesis_fingerprint': stages.fingerprint(synth_key),
  }
  return facts, {'images': images, 'labels': labels}



# What a generator's classifier stage adds to the run's entry of a classifier.
_GENERATOR_CLASSIFIER_FIELDS = ('gan_test_accuracy', 'synthetic_quality',
                                'synthetic_quality_inception', 'synthetic_images',
                                'predictions_file', 'train_seconds')


def _classifier_stages(config: ml_collections.ConfigDict, dataset: data_lib.Dataset,
                       data_fp: str, workdir: str, arms: Sequence[str],
                       synthetic: Tuple, synthesis_fp: Optional[str],
                       controls: Optional[Dict[str, Tuple[str, str]]]
                       ) -> Dict[str, Tuple[Dict, str, str]]:
  """One classifier stage per classifier for the registered `arms`; {classifier:
  (result, stage dir, fingerprint)}. `controls` maps each classifier to its
  controls stage (dir, fingerprint), whose `real` arm measures the fakes."""
  out = {}
  primary = config.classifier.name
  for name in classifier_names(config):
    control_dir, control_fp = (controls or {}).get(name, (None, None))
    key = stages.classifier_stage_key(config, data_fp, synthesis_fp, name, arms,
                                      control_fp)
    real_arm = (classifier_stage.load_real_arm(control_dir)
                if control_dir and synthesis_fp else None)
    result, stage_dir = stages.run_stage(
        workdir, 'classifiers', key,
        lambda stage_dir, name=name, real_arm=real_arm:
        classifier_stage.train_and_test_arms(
            config, dataset, synthetic, stage_dir, name,
            measure_quality=name == primary, arms=arms, real_arm=real_arm))
    out[name] = (result, stage_dir, stages.fingerprint(key))
  return out


def run_subset(config: ml_collections.ConfigDict, full: data_lib.Dataset,
               fraction: float, seed_index: int, workdir: str,
               figures_dir: Optional[str]) -> Dict:
  """Every stage of one (fraction, seed); its entry of report.json's `runs`.

  `classifiers.<name>.arms` holds every arm by its protocol name; a generator's
  GAN, synthesis and measurement of its fakes are under `generators.<name>`, and
  the first generator's also where a one-generator run has them (`gan`,
  `synthesis`, `stages`, `classifiers.<name>.gan_test_accuracy`, ...).
  """
  seed_config = protocol_lib.seed_config(config, seed_index)
  dataset = subset(seed_config, full, fraction)
  data_fp = stages.data_fingerprint(dataset)
  generators = protocol_lib.generator_names(config.protocol)
  bound = arms_lib.bindings(config.protocol.arms, generators)
  train = dataset.splits['train']
  run = {'seed': seed_config.seed, 'fraction': fraction, 'train_images': len(train),
         'data_fingerprint': data_fp, 'stages': {'classifiers': {}},
         'classifiers': {}, 'generators': {}}
  controls = [b.kind for b in bound if b.generator is None]
  control_stages = _classifier_stages(seed_config, dataset, data_fp, workdir, controls,
                                      (train.images[:0], train.labels[:0]), None, None)
  for name, (result, stage_dir, _) in control_stages.items():
    run['classifiers'][name] = dict(result)
    run['stages']['classifiers'][name] = stage_dir
  first_synthetic, first_config, later = None, seed_config, {}
  for generator in generators:
    mine = [b for b in bound if b.generator == generator]
    if not mine:
      continue
    g_config = protocol_lib.generator_config(seed_config, generator)
    facts, synthetic = _synthetic_set(g_config, dataset, data_fp, workdir)
    synthesis_fp = facts.pop('synthesis_fingerprint')
    names = {b.kind: b.name for b in mine}
    g_stages = _classifier_stages(
        g_config, dataset, data_fp, workdir, list(names),
        (synthetic['images'], synthetic['labels']), synthesis_fp,
        {n: (d, fp) for n, (_, d, fp) in control_stages.items()})
    facts['arms'] = {b.name: b.kind for b in mine}
    facts['overrides'] = dict(config.protocol.generators.get(generator, {}))
    facts['classifiers'] = {}
    for name, (result, stage_dir, _) in g_stages.items():
      facts['stages'].setdefault('classifiers', {})[name] = stage_dir
      facts['classifiers'][name] = {k: result.get(k)
                                    for k in _GENERATOR_CLASSIFIER_FIELDS}
      merged = run['classifiers'][name]
      merged['arms'] = {**merged['arms'], **{names[k]: v
                                              for k, v in result['arms'].items()}}
      merged['arms_skipped'] = (list(merged['arms_skipped'])
                                + [names[k] for k in result['arms_skipped']])
      if first_synthetic is None:
        merged.update({k: result.get(k) for k in _GENERATOR_CLASSIFIER_FIELDS
                       if k != 'predictions_file'})
    run['generators'][generator] = facts
    if first_synthetic is not None:
      later[generator] = synthetic
    else:
      first_synthetic, first_config = synthetic, g_config
      run.update(gan=facts['gan'], synthesis=facts['synthesis'])
      run['stages'].update(gan=facts['stages']['gan'],
                           synthesis=facts['stages']['synthesis'])
  order = list(config.protocol.arms)
  for merged in run['classifiers'].values():
    merged['arms'] = dict(sorted(merged['arms'].items(),
                                 key=lambda item: order.index(item[0])))
  if figures_dir:
    run['figures'] = _run_figures(figures_dir, first_config, dataset, run,
                                  first_synthetic, later)
  return run


def predictions(run: Dict, model: str, path: str) -> None:
  """The run's test predictions of classifier `model`, every arm by its protocol
  name: the controls stage's file joined with each generator stage's."""
  sources = [(run['classifiers'][model]['predictions_file'], {})]
  for facts in run['generators'].values():
    kinds = {kind: arm for arm, kind in facts['arms'].items()}
    sources.append((facts['classifiers'][model]['predictions_file'], kinds))
  columns, rows = [], []
  for source, kinds in sources:
    with open(source, newline='') as f:
      table = list(csv.reader(f))
    skip = 0 if not columns else 2  # source and true class, once
    renamed = [_arm_column(c, kinds) for c in table[0][skip:]]
    columns += renamed
    for i, row in enumerate(table[1:]):
      if i == len(rows):
        rows.append([])
      rows[i] += row[skip:]
  with atomic_files.replacing(path, newline='') as f:
    writer = csv.writer(f)
    writer.writerow(columns)
    writer.writerows(rows)


def _arm_column(column: str, kinds: Dict[str, str]) -> str:
  """A predictions column (`<arm>_predicted`, `<arm>_p_<class>`) with a registered
  arm's name replaced by its protocol name."""
  for kind in sorted(kinds, key=len, reverse=True):
    for tail in ('_predicted', '_p_'):
      if column.startswith(kind + tail):
        return kinds[kind] + column[len(kind):]
  return column


def _run_figures(figures_dir: str, config, dataset: data_lib.Dataset, run: Dict,
                 synthetic: Optional[Dict],
                 later: Optional[Dict[str, Dict]] = None) -> Dict[str, str]:
  """The first run's PNGs under `figures_dir`; {name: path}. `synthetic` is the
  first generator's accepted set, `later` every other generator's by name (each
  gets its own grid beside the same real images)."""
  os.makedirs(figures_dir, exist_ok=True)
  path = lambda name: os.path.join(figures_dir, f'{name}.png')
  phantom, primary = dataset.is_phantom, run['classifiers'][config.classifier.name]
  arms = primary['arms']
  figures.classifier_curves(path('classifier_curves'),
                            {a: r['history'] for a, r in arms.items()}, phantom)
  figures.confusion_matrices(
      path('confusion_matrices'),
      {a: r['test']['confusion_matrix'] for a, r in arms.items()},
      dataset.class_names, phantom)
  names = ['classifier_curves', 'confusion_matrices']
  if synthetic is not None:
    train = dataset.splits['train']
    figures.real_vs_synthetic_grid(
        path('real_vs_synthetic'), train.images, train.labels, synthetic['images'],
        synthetic['labels'], dataset.class_names, config.synthesis.grid_per_class,
        phantom, next(iter(run['generators'])) if later else '')
    figures.generator_curves(
        path('gan_curves'), os.path.join(run['stages']['gan'], 'metrics.jsonl'),
        [(m.key, m.panel) for m in family_lib.find(config.gan.name).metrics],
        phantom)
    names += ['real_vs_synthetic', 'gan_curves']
    for generator, accepted in (later or {}).items():
      figures.real_vs_synthetic_grid(
          path(f'real_vs_synthetic_{generator}'), train.images, train.labels,
          accepted['images'], accepted['labels'], dataset.class_names,
          config.synthesis.grid_per_class, phantom, generator)
      names.append(f'real_vs_synthetic_{generator}')
    if run['synthesis'].get('real_score_distribution'):  # The family scores.
      figures.score_histogram(path('realness_scores'),
                              os.path.join(run['stages']['synthesis'], 'scores.npz'),
                              run['synthesis']['threshold'], phantom,
                              run['synthesis'].get('score')
                              or run['synthesis'].get('filter', 'realness'))
      names.append('realness_scores')
  return {name: path(name) for name in names}



def for_report(run: Dict) -> Dict:
  """A run as report.json keeps it: without per-epoch histories and per-image flags."""
  out = dict(run)
  out['classifiers'] = {
      name: {**result, 'arms': {arm: {k: v for k, v in entry.items()
                                      if k not in _STAGE_ONLY_ARM_FIELDS}
                                for arm, entry in result['arms'].items()}}
      for name, result in run['classifiers'].items()}
  return out

