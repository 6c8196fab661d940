"""Averaging repeated trials (paper 001's protocol) into one report.

Each trial's report has the pipeline's schema; the combined report keeps trial
0's layout, and every classifier entry (`classifiers.<arm>` and
`classifiers.<arm>.models.<name>`) gets `test` = the mean over trials (per-class
values averaged, confusion matrices summed), `mean` and `std` (sample standard
deviation over trials) of the headline metrics, and `trials`, each trial's values.
"""

import copy
from typing import Dict, List

import numpy as np

HEADLINE_METRICS = ('accuracy', 'macro_f1', 'precision_macro', 'recall_macro')


def _mean_test(tests: List[Dict]) -> Dict:
  per_class = {
      name: {key: float(np.mean([t['per_class'][name][key] for t in tests]))
             for key in tests[0]['per_class'][name]}
      for name in tests[0]['per_class']}
  return {
      'num_examples': tests[0]['num_examples'],
      **{m: float(np.mean([t[m] for t in tests])) for m in HEADLINE_METRICS},
      'per_class': per_class,
      'confusion_matrix': np.sum([t['confusion_matrix'] for t in tests],
                                 axis=0).tolist(),
  }


def combine_entries(entries: List[Dict], seeds: List[int]) -> Dict:
  """One classifier arm over trials: mean `test`, `mean`/`std`, per-trial values."""
  tests = [e['test'] for e in entries]
  values = {m: [t[m] for t in tests] for m in HEADLINE_METRICS}
  combined = {k: v for k, v in entries[0].items() if k not in ('test', 'models')}
  combined.update(
      test=_mean_test(tests),
      mean={m: float(np.mean(v)) for m, v in values.items()},
      std={m: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
           for m, v in values.items()},
      trials=[{'seed': seed, 'test': e['test'], 'train_images': e['train_images'],
               'steps': e['steps'], 'best_step': e['best_step']}
              for seed, e in zip(seeds, entries)])
  return combined


def combine_trials(reports: List[Dict]) -> Dict:
  """The combined report of several trials' reports (see the module docstring)."""
  combined = copy.deepcopy(reports[0])
  seeds = [r['seed'] for r in reports]
  clf = combined['classifiers']
  for arm in ('real', 'augmented'):
    entry = combine_entries([r['classifiers'][arm] for r in reports], seeds)
    if 'models' in clf[arm]:
      entry['models'] = {
          name: combine_entries([r['classifiers'][arm]['models'][name]
                                 for r in reports], seeds)
          for name in clf[arm]['models']}
    clf[arm] = entry
  gan_tests = [r['synthesis']['gan_test_accuracy'] for r in reports]
  combined['synthesis']['gan_test_accuracy'] = (
      float(np.mean(gan_tests)) if all(g is not None for g in gan_tests) else None)
  combined['trials'] = [{
      'seed': r['seed'],
      'train_images': r['dataset']['splits']['train'],
      'synthesis': {k: r['synthesis'][k] for k in (
          'accepted', 'requested', 'generated', 'acceptance_rate',
          'gan_test_accuracy')},
      'stages': r['stages'],
      'figures': r['figures'],
  } for r in reports]
  combined['num_trials'] = len(reports)
  return combined
