"""Comparisons across whole protocol runs: filter settings (filter_sweep.json /
.md), from each run's report."""

from typing import Dict, List

from gan_aug.metrics import intervals
from gan_aug.report.cells import cell as _cell
from gan_aug.report.cells import signed as _signed


def _runs_by_fraction(result: Dict, fkey: str) -> List[Dict]:
  return [r for r in result['runs'] if repr(float(r['fraction'])) == fkey]


_SWEEP_METRICS = ('macro_f1', 'accuracy')


def filter_sweep_summary(results: Dict[str, Dict], overrides: Dict[str, Dict]) -> Dict:
  """filter_sweep.json: per filter setting and fraction, the threshold D's score
  had to reach, how many fakes were kept, GAN-test, and every arm's macro-F1 and
  accuracy with the paired differences against `real`, each {mean, ci95, values}
  over seeds: `settings.<name>.<fraction>.<entry>`."""
  out = {'settings': {}, 'overrides': overrides}
  for name, result in results.items():
    rows = {}
    for fkey in result['protocol']['fractions']:
      syntheses = [r['synthesis'] for r in _runs_by_fraction(result, fkey)
                   if r.get('synthesis')]
      row = {}
      if syntheses:
        for entry in ('threshold', 'accepted', 'acceptance_rate'):
          values = [s[entry] for s in syntheses if s[entry] is not None]
          if values:
            row[entry] = intervals.mean_ci95(values)
      if fkey in result['gan_test']:
        row['gan_test'] = result['gan_test'][fkey]
      for arm, by_fraction in result['arms'].items():
        for metric in _SWEEP_METRICS:
          if fkey in by_fraction:
            row[f'{arm}_{metric}'] = by_fraction[fkey][metric]
      for pair, by_fraction in result['paired'].items():
        if pair.endswith('_minus_real') and fkey in by_fraction:
          for metric in _SWEEP_METRICS:
            row[f'{pair}_{metric}'] = by_fraction[fkey][metric]
      rows[fkey] = row
    out['settings'][name] = rows
  return out


def filter_sweep_markdown(sweep: Dict) -> str:
  """The filter settings side by side, one table per training fraction."""
  lines = ['# Filter sweep', '',
           'The same GANs (one per fraction and seed); each setting is the experiment '
           'with these config.synthesis overrides: ' +
           '; '.join(f'`{n}` {o or "(none)"}' for n, o in sweep['overrides'].items()) +
           '. Values: mean ± 95 % interval over seeds; threshold: the realness D\'s '
           'score had to reach; accepted: fakes kept in all.', '']
  fractions = sorted({f for rows in sweep['settings'].values() for f in rows},
                     key=float)
  for fkey in fractions:
    columns = []
    for rows in sweep['settings'].values():
      columns += [c for c in rows.get(fkey, {}) if c not in columns]
    lines += [f'## Training fraction {fkey}', '',
              '| setting | ' + ' | '.join(columns) + ' |',
              '|---|' + '---|' * len(columns)]
    for name, rows in sweep['settings'].items():
      row = rows.get(fkey, {})
      cells = [('' if c not in row else _signed(row[c]) if '_minus_' in c
                else _cell(row[c])) for c in columns]
      lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    lines.append('')
  return '\n'.join(lines) + '\n'
