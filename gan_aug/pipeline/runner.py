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
With several `protocol.generators` each has its own GAN and synthesis stages and
arms, beside one controls stage (`gan_aug.pipeline.subset_run`); with
`protocol.filter_sweep` the protocol runs once per filter setting in
workdir/filter_sweep/<name>/, on the same GANs, and filter_sweep.json / .md
compare them.
"""

import math
import os
from typing import Dict, List, Optional, Tuple

import ml_collections
import numpy as np
from absl import logging

from gan_aug import data as data_lib
from gan_aug.core import atomic_files
from gan_aug.core import errors
from gan_aug.core import provenance
from gan_aug.pipeline import config_validation
from gan_aug.pipeline import stages
from gan_aug.pipeline import subset_run
from gan_aug.protocol import arms as arms_lib
from gan_aug.protocol import axes as protocol_lib
from gan_aug.report import claims as claims_lib
from gan_aug.report import figures
from gan_aug.report import generators as generators_lib
from gan_aug.report import markdown as report
from gan_aug.report import summary as summary_lib
from gan_aug.report import sweeps

classifier_names = subset_run.classifier_names


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
      runs.append(subset_run.run_subset(
          config, full, fraction, seed_index, stages_workdir,
          os.path.join(workdir, 'figures') if first else None))
      logging.info('Finished fraction %s seed %d (%d of %d runs).', fraction,
                   runs[-1]['seed'], len(runs), len(fractions) * proto.seeds)
  dataset_summary['subsets'] = [{k: r[k] for k in ('fraction', 'seed', 'train_images',
                                                    'data_fingerprint')} for r in runs]
  atomic_files.write_json(os.path.join(workdir, 'dataset.json'), dataset_summary)
  models = classifier_names(config)
  bound = arms_lib.bindings(proto.arms, protocol_lib.generator_names(proto))
  result = {
      'dataset': dataset_summary,
      'protocol': {'arms': list(proto.arms),
                   'seeds': [r['seed'] for r in runs if r['fraction'] == fractions[0]],
                   'fractions': [protocol_lib.fraction_key(f) for f in fractions]},
      'classifier': {'name': models[0], 'resolution': config.classifier.resolution,
                     'models': models,
                     'weights': {m: runs[0]['classifiers'][m]['weights']
                                 for m in models}},
      'generators': {g: {'overrides': facts['overrides'], 'arms': facts['arms'],
                         'family': facts['gan']['family']}
                     for g, facts in runs[0]['generators'].items()},
      **summary_lib.summarise(runs, bound, fractions, models),
      'runs': [subset_run.for_report(r) for r in runs],
      'provenance': run_provenance,
  }
  result['claims'] = claims_lib.compare(config.get('claims', {}), result)
  result['settings_choice'] = generators_lib.choose(
      result, {g: list(names) for g, names in proto.get('candidates', {}).items()})
  result['verdicts'] = generators_lib.verdicts(result, bound)
  result['figures'] = {**runs[0].get('figures', {}), **figures.protocol_figures(
      os.path.join(workdir, 'figures'), result)}
  predictions = os.path.join(workdir, 'test_predictions.csv')
  subset_run.predictions(runs[0], models[0], predictions)
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


def only_generators(config: ml_collections.ConfigDict,
                    names: List[str]) -> ml_collections.ConfigDict:
  """`config` with only the generators `names` and their arms (and every arm
  without synthetic images), e.g. to train one generator per machine; a later
  run of all of them reuses every finished stage."""
  known = protocol_lib.generator_names(config.protocol)
  unknown = sorted(set(names) - set(known))
  if unknown or not config.protocol.generators:
    raise errors.ConfigError(
        f'--generators={",".join(names)}: {unknown or names} not among '
        f'config.protocol.generators ({", ".join(config.protocol.generators)}).')
  out = ml_collections.ConfigDict(config.to_dict())
  out.protocol.generators = {n: dict(config.protocol.generators[n])
                             for n in known if n in names}
  bound = arms_lib.bindings(config.protocol.arms, known)
  out.protocol.arms = tuple(b.name for b in bound
                            if b.generator is None or b.generator in names)
  return out


def run(config: ml_collections.ConfigDict, workdir: str,
        generators: Optional[List[str]] = None) -> Dict:
  """run_filter_sweep with protocol.filter_sweep, else run_protocol; `generators`
  restricts the run to those of config.protocol.generators (`only_generators`)."""
  config_validation.validate(config)
  if generators:
    config = only_generators(config, generators)
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
  first = protocol_lib.generator_config(protocol_lib.seed_config(config, 0),
                                       protocol_lib.generator_names(config.protocol)[0])
  dataset = subset_run.subset(first, full, float(config.protocol.fractions[0]))
  _, summary, stage_dir = stages.gan_stage(first, dataset,
                                           stages.data_fingerprint(dataset), workdir)
  return summary, stage_dir
