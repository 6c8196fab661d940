"""The one runner: a config's protocol over content-fingerprinted stages.

    python -m gan_aug.main --config=configs/X.py[:variant] --workdir=DIR

For every training fraction and seed of config.protocol (`gan_aug.protocol.axes`):
data subset -> GAN -> synthesis (only when an arm needs synthetic images) ->
every arm of every classifier (`gan_aug.pipeline.classifier_stage`), each a stage of
`gan_aug.pipeline.stages`; then the summary over seeds (`gan_aug.report.summary`), the figures
and the report.

workdir/
  config.json, provenance.json, dataset.json   the resolved config, environment
                                               and data set of the last run
  stages/<kind>-<fp>/                          see gan_aug.pipeline.stages
  report.json, report.md                       the protocol's results
  figures/*.png, test_predictions.csv          of the first (fraction, seed)
With `protocol.gan_variants` the protocol runs once per variant in
workdir/<variant>/ and variants.json / .md compare them; with
`protocol.filter_sweep` once per filter setting in workdir/filter_sweep/<name>/,
on the same GANs, and filter_sweep.json / .md compare them.
"""

import math
import os
import shutil
from typing import Dict, List, Optional, Tuple

import ml_collections
import numpy as np
from absl import logging

from gan_aug import data as data_lib
from gan_aug.core import atomic_files
from gan_aug.core import errors
from gan_aug.core import provenance
from gan_aug.pipeline import classifier_stage
from gan_aug.pipeline import config_validation
from gan_aug.generator import family as family_lib
from gan_aug.pipeline import stages
from gan_aug.protocol import arms as arms_lib
from gan_aug.protocol import axes as protocol_lib
from gan_aug.report import claims as claims_lib
from gan_aug.report import figures
from gan_aug.report import markdown as report
from gan_aug.report import summary as summary_lib
from gan_aug.report import sweeps
from gan_aug.synthesis import accepted_set
from gan_aug.synthesis import synthesize

_SYNTHESIS_FIELDS = ('filter', 'threshold', 'threshold_mode', 'threshold_setting',
                     'require_class_agreement', 'target', 'requested', 'generated',
                     'passed', 'accepted', 'acceptance_rate', 'per_class',
                     'checkpoint_steps', 'real_score_distribution', 'images_per_sec',
                     'set_dir')
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
  for conflict in summary.get('label_conflicts', []):
    logging.warning('Label conflict (%s): the same pixels under two classes: %s',
                    'kept out of training' if summary['label_conflict_policy'] ==
                    'exclude' else 'trained under each label',
                    ', '.join(conflict['images']))
  for item in summary['skipped_files']:
    logging.warning('Skipped unreadable file %s', item['error'])


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


def _subset(config: ml_collections.ConfigDict, full: data_lib.Dataset,
            fraction: float) -> data_lib.Dataset:
  dataset = data_lib.keep_training_fraction(full, fraction, config.seed)
  logging.info('Fraction %s, seed %d: %d of %d training images.', fraction,
               config.seed, len(dataset.splits['train']), len(full.splits['train']))
  stages.check_batch_sizes(config, dataset)
  return dataset


def _synthetic_set(config: ml_collections.ConfigDict, dataset: data_lib.Dataset,
                   data_fp: str, workdir: str) -> Tuple[Dict, Dict]:
  """GAN and synthesis stages; (facts for the report, the accepted set)."""
  gan_key, gan_summary, gan_dir = stages.gan_stage(config, dataset, data_fp, workdir)
  synth_key = stages.synthesis_stage_key(config, stages.fingerprint(gan_key))
  synth_summary, synth_dir = stages.run_stage(
      workdir, 'synthesis', synth_key,
      lambda stage_dir: synthesize.synthesize(config, dataset,
                                              os.path.join(gan_dir, 'checkpoints'),
                                              stage_dir))
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


def _run_one(config: ml_collections.ConfigDict, full: data_lib.Dataset,
             fraction: float, seed_index: int, workdir: str,
             figures_dir: Optional[str]) -> Dict:
  """Every stage of one (fraction, seed); its entry of report.json's `runs`."""
  seed_config = protocol_lib.seed_config(config, seed_index)
  dataset = _subset(seed_config, full, fraction)
  data_fp = stages.data_fingerprint(dataset)
  arm_names = list(config.protocol.arms)
  facts, synthetic = {'stages': {}}, None
  if arms_lib.needs_synthesis(arm_names):
    facts, synthetic = _synthetic_set(seed_config, dataset, data_fp, workdir)
  train = dataset.splits['train']
  synthetic_xy = ((synthetic['images'], synthetic['labels']) if synthetic else
                  (train.images[:0], train.labels[:0]))
  synthesis_fp = facts.pop('synthesis_fingerprint', None)
  results, stage_dirs = {}, {}
  primary = config.classifier.name
  for name in classifier_names(config):
    key = stages.classifier_stage_key(seed_config, data_fp, synthesis_fp, name,
                                      arm_names)
    results[name], stage_dirs[name] = stages.run_stage(
        workdir, 'classifiers', key,
        lambda stage_dir, name=name: classifier_stage.train_and_test_arms(
            seed_config, dataset, synthetic_xy, stage_dir, name,
            measure_quality=name == primary))
  run = {'seed': seed_config.seed, 'fraction': fraction,
         'train_images': len(train), 'data_fingerprint': data_fp, **facts,
         'classifiers': results}
  run['stages']['classifiers'] = stage_dirs
  if figures_dir:
    run['figures'] = _run_figures(figures_dir, seed_config, dataset, run, synthetic)
  return run


def _run_figures(figures_dir: str, config, dataset: data_lib.Dataset, run: Dict,
                 synthetic: Optional[Dict]) -> Dict[str, str]:
  """The first run's PNGs under `figures_dir`; {name: path}."""
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
        phantom)
    figures.generator_curves(
        path('gan_curves'), os.path.join(run['stages']['gan'], 'metrics.jsonl'),
        [(m.key, m.panel) for m in family_lib.find(config.gan.name).metrics],
        phantom)
    names += ['real_vs_synthetic', 'gan_curves']
    if run['synthesis'].get('filter') != synthesize.NO_FILTER:
      figures.score_histogram(path('realness_scores'),
                              os.path.join(run['stages']['synthesis'], 'scores.npz'),
                              run['synthesis']['threshold'], phantom,
                              run['synthesis'].get('filter', 'realness'))
      names.append('realness_scores')
  return {name: path(name) for name in names}


def _for_report(run: Dict) -> Dict:
  """A run as report.json keeps it: without per-epoch histories and per-image flags."""
  out = dict(run)
  out['classifiers'] = {
      name: {**result, 'arms': {arm: {k: v for k, v in entry.items()
                                      if k not in _STAGE_ONLY_ARM_FIELDS}
                                for arm, entry in result['arms'].items()}}
      for name, result in run['classifiers'].items()}
  return out


def run_protocol(config: ml_collections.ConfigDict, workdir: str,
                 stages_workdir: Optional[str] = None) -> Dict:
  """Runs every (fraction, seed) of config.protocol; writes and returns the report.

  Stage folders go under `stages_workdir` (default `workdir`): runs that share it
  reuse each other's stages where their keys match.
  """
  config_validation.validate(config)
  os.makedirs(workdir, exist_ok=True)
  stages_workdir = stages_workdir or workdir
  atomic_files.write_json(os.path.join(workdir, 'config.json'), config.to_dict())
  run_provenance = provenance.collect(config)
  atomic_files.write_json(os.path.join(workdir, 'provenance.json'), run_provenance)
  full = data_lib.load_dataset(config.data, config.seed)
  dataset_summary = {**full.summary(), 'fingerprint': stages.data_fingerprint(full),
                     'test_images': len(full.splits['test'])}
  _log_dataset(dataset_summary)
  proto = config.protocol
  fractions = [float(f) for f in proto.fractions]
  runs = []
  for fraction in fractions:
    for seed_index in range(proto.seeds):
      first = not runs
      runs.append(_run_one(config, full, fraction, seed_index, stages_workdir,
                           os.path.join(workdir, 'figures') if first else None))
      logging.info('Finished fraction %s seed %d (%d of %d runs).', fraction,
                   runs[-1]['seed'], len(runs), len(fractions) * proto.seeds)
  dataset_summary['subsets'] = [{k: r[k] for k in ('fraction', 'seed', 'train_images',
                                                    'data_fingerprint')} for r in runs]
  atomic_files.write_json(os.path.join(workdir, 'dataset.json'), dataset_summary)
  models = classifier_names(config)
  primary = runs[0]['classifiers'][models[0]]
  result = {
      'dataset': dataset_summary,
      'protocol': {'arms': list(proto.arms),
                   'seeds': [r['seed'] for r in runs if r['fraction'] == fractions[0]],
                   'fractions': [protocol_lib.fraction_key(f) for f in fractions]},
      'classifier': {'name': models[0], 'resolution': config.classifier.resolution,
                     'models': models,
                     'weights': {m: runs[0]['classifiers'][m]['weights']
                                 for m in models}},
      **summary_lib.summarise(runs, proto.arms, fractions, models),
      'runs': [_for_report(r) for r in runs],
      'provenance': run_provenance,
  }
  result['claims'] = claims_lib.compare(config.get('claims', {}), result)
  result['figures'] = {**runs[0].get('figures', {}), **figures.protocol_figures(
      os.path.join(workdir, 'figures'), result)}
  predictions = os.path.join(workdir, 'test_predictions.csv')
  shutil.copyfile(primary['predictions_file'], predictions + '.tmp')
  os.replace(predictions + '.tmp', predictions)
  result['predictions_file'] = predictions
  atomic_files.write_json(os.path.join(workdir, 'report.json'), result)
  atomic_files.write_text(os.path.join(workdir, 'report.md'), report.markdown(result))
  logging.info('Report: %s (and report.md, figures/).',
               os.path.join(workdir, 'report.json'))
  return result


def _write_comparison(workdir: str, name: str, content: Dict, text: str) -> None:
  """workdir/<name>.json and .md of a comparison across protocol runs."""
  atomic_files.write_json(os.path.join(workdir, f'{name}.json'), content)
  atomic_files.write_text(os.path.join(workdir, f'{name}.md'), text)
  logging.info('Compared: %s (and %s.md).', os.path.join(workdir, f'{name}.json'), name)


def run_variants(config: ml_collections.ConfigDict, workdir: str,
                 only: Optional[List[str]] = None) -> Dict:
  """The whole protocol once per GAN variant (workdir/<variant>/), then
  `variants.json` / `variants.md` side by side.

  `only` restricts the run to those variants (e.g. one per machine); a later run
  of all of them reuses every finished stage.
  """
  variants = config.protocol.gan_variants
  # The paper's recipe first, the others in the config's order.
  names = sorted(variants, key=lambda n: n != 'paper')
  if only:
    unknown = sorted(set(only) - set(names))
    if unknown:
      raise errors.ConfigError(
          f'--gan_variants={",".join(only)}: {unknown} not in '
          f'config.protocol.gan_variants ({", ".join(names)}).')
    names = [n for n in names if n in only]
  configs = {n: protocol_lib.with_overrides(config, 'gan_variants', n) for n in names}
  for variant in configs.values():
    config_validation.validate(variant)
  results = {}
  for name in names:
    logging.info('GAN variant %s: config.gan overrides %s', name, dict(variants[name]))
    results[name] = run_protocol(configs[name], os.path.join(workdir, name))
  comparison = sweeps.variant_comparison(
      results, {n: dict(variants[n]) for n in names})
  _write_comparison(workdir, 'variants', comparison,
                    sweeps.variants_markdown(comparison))
  return comparison


def _mean_threshold(result: Dict) -> float:
  """The mean threshold over runs; no threshold ('none') counts as -inf."""
  thresholds = [-math.inf if r['synthesis']['threshold'] is None
                else r['synthesis']['threshold']
                for r in result['runs'] if r.get('synthesis')]
  return float(np.mean(thresholds)) if thresholds else -math.inf


def run_filter_sweep(config: ml_collections.ConfigDict, workdir: str) -> Dict:
  """The protocol once per setting of config.protocol.filter_sweep, on the same
  GANs, then `filter_sweep.json` / `.md` and `figures/filter_sweep.png`.

  Every setting's stages live in `workdir/stages`, so the GAN of each (fraction,
  seed) is trained once, and a setting equal to config.synthesis reuses the plain
  protocol's stages run in the same workdir.
  """
  sweep = config.protocol.filter_sweep
  names = list(sweep)
  configs = {n: protocol_lib.with_overrides(config, 'filter_sweep', n) for n in names}
  for setting in configs.values():
    config_validation.validate(setting)
  results = {}
  for name in names:
    logging.info('Filter setting %s: config.synthesis overrides %s', name,
                 dict(sweep[name]))
    results[name] = run_protocol(configs[name],
                                 os.path.join(workdir, 'filter_sweep', name),
                                 stages_workdir=workdir)
  # From the most permissive setting to the strictest (config keys are sorted
  # alphabetically, which means nothing here).
  names.sort(key=lambda n: (_mean_threshold(results[n]),
                            configs[n].synthesis.require_class_agreement))
  summary = sweeps.filter_sweep_summary({n: results[n] for n in names},
                                        {n: dict(sweep[n]) for n in names})
  summary['figure'] = figures.write_filter_sweep_figure(
      os.path.join(workdir, 'figures'), summary)
  _write_comparison(workdir, 'filter_sweep', summary,
                    sweeps.filter_sweep_markdown(summary))
  return summary


def run(config: ml_collections.ConfigDict, workdir: str,
        only_variants: Optional[List[str]] = None) -> Dict:
  """run_variants with protocol.gan_variants, run_filter_sweep with
  protocol.filter_sweep, else run_protocol."""
  config_validation.validate(config)
  if config.protocol.gan_variants:
    return run_variants(config, workdir, only_variants)
  if config.protocol.filter_sweep:
    return run_filter_sweep(config, workdir)
  return run_protocol(config, workdir)


def run_gan_only(config: ml_collections.ConfigDict, workdir: str) -> Tuple[Dict, str]:
  """Trains (or resumes) the GAN stage of the protocol's first (fraction, seed),
  and nothing else.

  For multi-process training (`gan_aug.multihost`): the stage folder is the one
  `run` uses, so a later `run` with the same config and workdir reuses it.
  """
  config_validation.validate(config)
  os.makedirs(workdir, exist_ok=True)
  full = data_lib.load_dataset(config.data, config.seed)
  first = protocol_lib.seed_config(config, 0)
  dataset = _subset(first, full, float(config.protocol.fractions[0]))
  _, summary, stage_dir = stages.gan_stage(first, dataset,
                                           stages.data_fingerprint(dataset), workdir)
  return summary, stage_dir
