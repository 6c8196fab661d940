"""A paper's claim beside this run's measurement of it, with a verdict.

`config.claims` maps a name to one claim of the config's paper (see `claim`):
the metric, the classifier, the two arms compared, the paper's values before
and after, where they come from, and what the paper's number means (validation
or test split, synthetic images in its test set, read off a figure). `compare`
sets each beside the run's mean and 95 % interval of the same metric for the
same arms and the paired difference d = after - before over the seeds, with a
verdict (`verdict`; g = the claimed gain):

  as claimed   lo > 0 and d >= g
  smaller      lo > 0 and d < g
  none shown   lo <= 0 <= hi
  worse        hi < 0

overridden, with the reason, by `not comparable` (the paper's number cannot be
measured here), `not measured` (this run lacks the classifier, an arm or the
metric), `one seed` (no interval) or `not converged` (an arm of the comparison
did not stop early for some seed: its budget, not its data, may decide it).
"""

from typing import Dict, List, Optional

import ml_collections

from gan_aug.core import checks
from gan_aug.metrics import intervals
from gan_aug.protocol import arms as arms_lib

VERDICTS = ('as claimed', 'smaller', 'none shown', 'worse', 'not comparable',
            'not measured', 'one seed', 'not converged')
SPLITS = ('validation', 'test')
# Generative metrics a claim can name: lower is better, no arms compared.
GENERATIVE_METRICS = ('fid', 'kid')


def claim(**values) -> ml_collections.ConfigDict:
  """One claim of a paper, as a config records it (every field below)."""
  cfg = ml_collections.ConfigDict({
      'metric': 'accuracy',       # a report.json metric name: accuracy, macro_f1,
                                  # weighted_f1, precision_macro, ..., fid
      'classifier': '',           # the classifier it was measured with ('' = FID)
      'before_arm': 'real',       # the paper's baseline as an arm of this project
      'after_arm': 'gan',         # the paper's augmented run as an arm
      'before': None,             # the paper's values (fractions, not percent);
      'after': 0.0,               # before None: a single value (FID)
      'fraction': 1.0,            # the protocol's training fraction it matches
      'source': '',               # section / table / line of the paper's text
      'split': 'test',            # validation | test: what the paper measured on
      'test_has_synthetic': False,  # the paper's split held generated images
      'from_figure': False,       # read off a figure rather than printed
      'note': '',                 # what else a reader must know
      'not_comparable': '',       # why this run cannot measure it ('' = it can)
  })
  cfg.update(values)
  return cfg


def validate(claims: ml_collections.ConfigDict) -> None:
  """Raises ConfigError for a bad config.claims entry."""
  for name, entry in claims.items():
    p = f'claims.{name}'
    checks.one_of(entry, p, 'split', SPLITS)
    if entry.metric not in GENERATIVE_METRICS:
      for field in ('before_arm', 'after_arm'):
        arms_lib.ARMS.get(entry[field], f'config.{p}.{field}')
    for field in ('test_has_synthetic', 'from_figure'):
      checks.boolean(entry, p, field)
    checks.check(isinstance(entry.after, (int, float)), f'{p}.after', entry.after,
                 'a number, the paper\'s value')
    checks.check(entry.before is None or isinstance(entry.before, (int, float)),
                 f'{p}.before', entry.before, 'a number or None')
    checks.check(bool(entry.source), f'{p}.source', entry.source,
                 'where in the paper the values are printed')
    checks.check(entry.metric in GENERATIVE_METRICS or entry.before is not None,
                 f'{p}.before', entry.before,
                 f'a number for the classification metric {entry.metric!r}')


def verdict(d: float, lo: float, hi: float, gain: float) -> str:
  """The verdict of a paired difference d with interval [lo, hi] on a claimed
  gain `gain` (the module docstring's rule)."""
  if lo > 0:
    return 'as claimed' if d >= gain else 'smaller'
  if hi < 0:
    return 'worse'
  return 'none shown'


def _arm_metrics(result: Dict, classifier: str) -> Optional[Dict]:
  if classifier == result['classifier']['name']:
    return result['arms']
  return result.get('other_classifiers', {}).get(classifier)


def converged(arm_entry: Dict) -> bool:
  """Whether an arm's early stopping triggered: its best validation loss lies
  `patience` evaluations or more before the end of training."""
  return bool(arm_entry['stopped_early'])


def not_converged(result: Dict, classifier: str, arms, fkey: str) -> List[str]:
  """'arm seed S' for every arm and seed of the comparison that did not stop early."""
  out = []
  for run in result['runs']:
    if repr(float(run['fraction'])) != fkey:
      continue
    for arm in arms:
      entry = run['classifiers'][classifier]['arms'][arm]
      if not converged(entry):
        out.append(f'{arm} seed {run["seed"]}')
  return out


def _generative_row(entry, result: Dict, fkey: str) -> Dict:
  inception = result.get('synthetic_quality_inception', {}).get(fkey, {})
  ours = result.get('synthetic_quality', {}).get(fkey, {})
  if entry.metric in inception:
    source, label = inception, 'Inception-v3 pool3'
    space = 'pool3 of pytorch-fid\'s Inception-v3'
  else:
    source, label = ours, 'real arm\'s features'
    space = ('the real arm\'s classifier\'s penultimate layer - not the paper\'s '
             'Inception-v3 FID')
  measured = source.get(entry.metric)
  # The other generative metric of the same features, shown beside the claimed one.
  also = {m: source[m] for m in GENERATIVE_METRICS
          if m != entry.metric and m in source}
  row = {'measured': {'after': measured, 'also': also}, 'feature_space': space,
         'space_label': label}
  if measured is None:
    row.update(verdict='not measured',
               reason=f'no {entry.metric} of an accepted set in this run')
  else:
    row.update(verdict='not comparable', reason=entry.not_comparable or (
        'a single value, with no baseline arm to compare'))
  return row


def _classification_row(entry, result: Dict, fkey: str) -> Dict:
  by_arm = _arm_metrics(result, entry.classifier)
  arms = (entry.before_arm, entry.after_arm)
  if by_arm is None:
    return {'verdict': 'not measured',
            'reason': f'classifier {entry.classifier!r} is not trained in this run'}
  missing = [a for a in arms if fkey not in by_arm.get(a, {})]
  if missing:
    return {'verdict': 'not measured',
            'reason': f'arm(s) {missing} not in this run at fraction {fkey}'}
  if entry.metric not in by_arm[entry.before_arm][fkey]:
    return {'verdict': 'not measured', 'reason': f'no {entry.metric} in this run'}
  before, after = (by_arm[a][fkey][entry.metric] for a in arms)
  d = intervals.paired_difference(after['values'], before['values'])
  row = {'measured': {'before': before, 'after': after}, 'difference': d}
  if entry.not_comparable:
    row.update(verdict='not comparable', reason=entry.not_comparable)
  elif d['ci95'] is None:
    row.update(verdict='one seed', reason='one seed gives no interval; raise '
               'protocol.seeds')
  else:
    row['interval'] = [d['mean'] - d['ci95'], d['mean'] + d['ci95']]
    unfinished = not_converged(result, entry.classifier, arms, fkey)
    if unfinished:
      row.update(verdict='not converged', reason='early stopping did not trigger '
                 'for ' + ', '.join(unfinished))
    else:
      row['verdict'] = verdict(d['mean'], *row['interval'], entry.after - entry.before)
  return row


def compare(claims: ml_collections.ConfigDict, result: Dict) -> Dict[str, Dict]:
  """Each claim beside this run's `result` (report.json's content): name ->
  {claim, measured, difference, interval, verdict, reason}."""
  out = {}
  for name, entry in claims.items():
    fkey = repr(float(entry.fraction))
    if entry.metric in GENERATIVE_METRICS:
      row = _generative_row(entry, result, fkey)
    else:
      row = _classification_row(entry, result, fkey)
    out[name] = {'claim': entry.to_dict(), 'fraction': fkey, **row}
  return out
