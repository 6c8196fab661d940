"""Mixed precision against float32: the same pipeline runs, seeds x compute dtypes.

  python scripts/compare_precision.py --config=configs/covid_acgan.py:phantom \
      --workdir=DIR --seeds=3 [--jobs=6] [--json=out.json]

Runs `python -m gan_aug.main` once per (seed, config.gan.compute_dtype) in
DIR/<dtype>-seed<k> (`--jobs` at a time; a finished run is reused), then prints
per run: GAN throughput, the GAN's mean D and G losses over the last quarter of
training, accepted fakes and GAN-test, and both classifier arms' test accuracy and
macro-F1; then per dtype the mean and seed spread, and how far the bf16 loss
curves lie from float32's of the same seed (mean absolute difference of the
logged d_loss / g_loss) beside how far float32's curves of different seeds lie
from each other - the yardstick for "tracks".
"""

import itertools
import json
import os
import subprocess
import sys
from concurrent import futures
from typing import Dict

from absl import app, flags
import numpy as np

_CONFIG = flags.DEFINE_string('config', 'configs/covid_acgan.py:phantom',
                              'Config path with variants.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Folder for the runs.')
_SEEDS = flags.DEFINE_integer('seeds', 3, 'Seeds 0..N-1.')
_DTYPES = flags.DEFINE_list('dtypes', ['float32', 'bfloat16'], 'Compute dtypes.')
_JOBS = flags.DEFINE_integer('jobs', 1, 'Runs at a time.')
_JSON = flags.DEFINE_string('json', None, 'Write the table as JSON here.')
flags.mark_flag_as_required('workdir')


def _run(dtype: str, seed: int) -> str:
  workdir = os.path.join(_WORKDIR.value, f'{dtype}-seed{seed}')
  command = [sys.executable, '-m', 'gan_aug.main', f'--config={_CONFIG.value}',
             f'--workdir={workdir}', f'--config.seed={seed}',
             f'--config.gan.compute_dtype={dtype}']
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, 'log.txt'), 'w') as log:
    subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True)
  return workdir


def _curves(gan_dir: str) -> Dict[str, np.ndarray]:
  with open(os.path.join(gan_dir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  return {k: np.array([r[k] for r in rows]) for k in ('step', 'd_loss', 'g_loss')}


def _summary(workdir: str) -> Dict:
  with open(os.path.join(workdir, 'report.json')) as f:
    report = json.load(f)
  run = report['runs'][0]
  curves = _curves(run['stages']['gan'])
  tail = slice(len(curves['step']) * 3 // 4, None)
  primary = run['classifiers'][report['classifier']['name']]
  arms = primary['arms']
  return {
      'gan_images_per_sec': run['gan']['images_per_sec'],
      'd_loss_last_quarter': float(curves['d_loss'][tail].mean()),
      'g_loss_last_quarter': float(curves['g_loss'][tail].mean()),
      'accepted': run['synthesis']['accepted'],
      'gan_test_accuracy': primary['gan_test_accuracy'],
      **{f'{arm}_{m}': arms[arm]['test'][m] for arm in ('real', 'gan')
         for m in ('accuracy', 'macro_f1')},
      'curves': {k: v.tolist() for k, v in curves.items()},
  }


def _curve_distance(a: Dict, b: Dict) -> Dict[str, float]:
  n = min(len(a['step']), len(b['step']))
  return {k: float(np.mean(np.abs(np.array(a[k][:n]) - np.array(b[k][:n]))))
          for k in ('d_loss', 'g_loss')}


def main(argv):
  del argv
  jobs = list(itertools.product(_DTYPES.value, range(_SEEDS.value)))
  with futures.ThreadPoolExecutor(_JOBS.value) as pool:
    dirs = dict(zip(jobs, pool.map(lambda j: _run(*j), jobs)))
  runs = {job: _summary(d) for job, d in dirs.items()}
  columns = ('gan_images_per_sec', 'd_loss_last_quarter', 'g_loss_last_quarter',
             'accepted', 'gan_test_accuracy', 'real_accuracy', 'real_macro_f1',
             'gan_accuracy', 'gan_macro_f1')
  print(f"{'dtype':<10}{'seed':>5}" + ''.join(f'{c[:18]:>20}' for c in columns))
  for (dtype, seed), r in runs.items():
    print(f'{dtype:<10}{seed:>5}' + ''.join(f'{r[c]:>20.4g}' for c in columns))
  summary = {}
  for dtype in _DTYPES.value:
    rows = [runs[(dtype, s)] for s in range(_SEEDS.value)]
    summary[dtype] = {c: {'mean': float(np.mean([r[c] for r in rows])),
                          'std': float(np.std([r[c] for r in rows], ddof=1))
                          if len(rows) > 1 else 0.0} for c in columns}
    print(f'{dtype:<10}{"mean":>5}' + ''.join(
        f"{summary[dtype][c]['mean']:>20.4g}" for c in columns))
    print(f'{"":<10}{"std":>5}' + ''.join(
        f"{summary[dtype][c]['std']:>20.4g}" for c in columns))
  base = _DTYPES.value[0]
  across_seeds = [_curve_distance(runs[(base, a)]['curves'], runs[(base, b)]['curves'])
                  for a, b in itertools.combinations(range(_SEEDS.value), 2)]
  distances = {'across_seeds_' + base: {
      k: float(np.mean([d[k] for d in across_seeds])) for k in ('d_loss', 'g_loss')}
      if across_seeds else None}
  for dtype in _DTYPES.value[1:]:
    same_seed = [_curve_distance(runs[(dtype, s)]['curves'], runs[(base, s)]['curves'])
                 for s in range(_SEEDS.value)]
    distances[f'{dtype}_vs_{base}_same_seed'] = {
        k: float(np.mean([d[k] for d in same_seed])) for k in ('d_loss', 'g_loss')}
  print('\nMean |difference| of the logged loss curves:')
  for name, value in distances.items():
    print(f'  {name:<36} {value}')
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump({'config': _CONFIG.value, 'summary': summary,
                 'curve_distances': distances,
                 'runs': [{'dtype': d, 'seed': s, **{k: v for k, v in r.items()
                                                     if k != 'curves'}}
                          for (d, s), r in runs.items()]}, f, indent=1)
    print(f'Wrote {_JSON.value}')


if __name__ == '__main__':
  app.run(main)
