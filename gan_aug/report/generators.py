"""What a protocol of several generators reports beyond its arms.

Each generator's accepted fakes measured (GAN-test; KID, FID, precision,
recall, density, coverage and the memorisation share against the real test
images, KID against the real validation images, all in the real arm's
classifier's features), the settings chosen among candidates, and a verdict
per generator against its count-matched control.

The choice (`choose`), per group of config.protocol.candidates, uses the
validation split only: the candidate whose accepted fakes have the lowest KID
against the real validation images wins; candidates whose KID lies within one
KID std (the spread of that lowest estimate over its subsets) of it tie, and
the tie goes to the highest validation macro-F1 of the candidate's plain arm.

The verdict (`verdicts`), per generator g with arms g and real_oversampled_g:
d = g - real_oversampled_g in test macro-F1 over the same seeds, with its 95 %
interval [lo, hi]:

  helps       lo > 0
  none shown  lo <= 0 <= hi
  hurts       hi < 0

overridden by `one seed` (no interval) or `not converged` (an arm of the
comparison did not stop early for some seed: its budget, not its data, may
decide it; `gan_aug.report.claims.converged`).
"""

from typing import Dict, List, Sequence

from scipy import stats

from gan_aug.protocol import arms as arms_lib
from gan_aug.report import claims as claims_lib
from gan_aug.report.cells import cell, fmt, signed

VERDICT_METRIC = 'macro_f1'
_TEST_QUALITY = ('kid', 'fid', 'precision', 'recall', 'density', 'coverage',
                 'fraction_suspicious')


def _mean(entry) -> float:
  return None if entry is None else entry['mean']


def choose(result: Dict, candidates: Dict[str, Sequence[str]]) -> Dict[str, Dict]:
  """Group -> {fraction, candidates: [{name, kid, kid_std, val_macro_f1}],
  lowest, tied, chosen} (the module docstring's rule) for the first training
  fraction; {..., chosen: None, reason} where a candidate lacks its KID."""
  out = {}
  fkey = result['protocol']['fractions'][0]
  for group, names in candidates.items():
    rows = []
    for name in names:
      val = result.get('by_generator', {}).get(name, {}).get(
          'synthetic_quality_val', {}).get(fkey, {})
      f1 = result.get('validation', {}).get(name, {}).get(fkey, {}).get(VERDICT_METRIC)
      rows.append({'name': name, 'kid': _mean(val.get('kid')),
                   'kid_std': _mean(val.get('kid_std')), 'val_macro_f1': _mean(f1)})
    entry = {'fraction': fkey, 'candidates': rows, 'chosen': None}
    missing = [r['name'] for r in rows if r['kid'] is None or r['kid_std'] is None]
    if missing:
      out[group] = {**entry, 'reason': f'no validation KID for {missing}'}
      continue
    lowest = min(rows, key=lambda r: r['kid'])
    tied = [r for r in rows if r['kid'] <= lowest['kid'] + lowest['kid_std']]
    chosen = max(tied, key=lambda r: (r['val_macro_f1'] is not None,
                                      r['val_macro_f1'] or 0.0, r is lowest))
    out[group] = {**entry, 'lowest': lowest['name'],
                  'tied': [r['name'] for r in tied], 'chosen': chosen['name']}
  return out


def verdict(lo: float, hi: float) -> str:
  """The verdict of a difference whose 95 % interval is [lo, hi]."""
  if lo > 0:
    return 'helps'
  return 'hurts' if hi < 0 else 'none shown'


def verdicts(result: Dict, bound: Sequence[arms_lib.Binding]) -> Dict[str, Dict]:
  """Generator -> {fraction -> {difference, interval, verdict, reason}} of its
  plain arm against its count-matched control (the module docstring's rule)."""
  out = {}
  primary = result['classifier']['name']
  for plain in (b for b in bound if b.kind == 'gan'):
    control = next((b.name for b in bound if b.kind == 'real_oversampled'
                    and b.generator == plain.generator), None)
    if control is None:
      continue
    for fkey, metrics in result['paired'].get(f'{plain.name}_minus_{control}',
                                              {}).items():
      d = metrics[VERDICT_METRIC]
      row = {'comparison': f'{plain.name} − {control}', 'difference': d}
      if d['ci95'] is None:
        row.update(verdict='one seed', reason='one seed gives no interval')
      else:
        row['interval'] = [d['mean'] - d['ci95'], d['mean'] + d['ci95']]
        unfinished = claims_lib.not_converged(result, primary, (plain.name, control),
                                              fkey)
        if unfinished:
          row.update(verdict='not converged', reason='early stopping did not '
                     'trigger for ' + ', '.join(unfinished))
        else:
          row.update(verdict=verdict(*row['interval']), reason='')
      out.setdefault(plain.generator, {})[fkey] = row
  return out


def _generators_table(result: Dict) -> List[str]:
  lines = ['## Generators', '',
           'Each generator is config.gan with its overrides, trained per (fraction, '
           'seed); the arms without synthetic images are trained once and shared. '
           'GAN-test and KID/FID (accepted fakes against the real test images, and '
           'KID against the real validation images, in the real arm\'s feature '
           'space): mean ± 95 % interval over seeds.', '',
           '| generator | family | overrides | arms | fraction | GAN-test | KID | '
           'FID | KID (val) |', '|---|---|---|---|---|---|---|---|---|']
  for name, g in result['generators'].items():
    measured = result.get('by_generator', {}).get(name, {})
    for fkey in result['protocol']['fractions']:
      quality = measured.get('synthetic_quality', {}).get(fkey, {})
      against_val = measured.get('synthetic_quality_val', {}).get(fkey, {})
      gan_test = measured.get('gan_test', {}).get(fkey)
      lines.append(
          f'| {name} | {g["family"]} | {g["overrides"] or "(none)"} | '
          f'{", ".join(g["arms"])} | {fkey} | '
          f'{cell(gan_test) if gan_test else "n/a"} | '
          + ' | '.join(cell(quality[m]) if m in quality else 'n/a'
                       for m in ('kid', 'fid'))
          + f' | {cell(against_val["kid"]) if "kid" in against_val else "n/a"} |')
  lines += ['', 'Against the real test images (memorised: the share of accepted '
            'fakes closer to their nearest training image than 99 % of real test '
            'images are to theirs):', '',
            '| generator | fraction | ' + ' | '.join(
                'memorised' if m == 'fraction_suspicious' else m
                for m in _TEST_QUALITY[2:]) + ' |',
            '|---|---|' + '---|' * len(_TEST_QUALITY[2:])]
  for name in result['generators']:
    for fkey in result['protocol']['fractions']:
      quality = result.get('by_generator', {}).get(name, {}).get(
          'synthetic_quality', {}).get(fkey, {})
      lines.append(f'| {name} | {fkey} | ' + ' | '.join(
          cell(quality[m]) if m in quality else 'n/a' for m in _TEST_QUALITY[2:])
                   + ' |')
  return lines + ['']


def _choice_section(choices: Dict[str, Dict], result: Dict) -> List[str]:
  lines = ['## Settings chosen on validation', '',
           'Per group, the candidate with the lowest KID of its accepted fakes '
           'against the real validation images; candidates within one KID std of '
           'it tie, and the tie goes to the highest validation macro-F1 of the '
           'candidate\'s plain arm. No test image enters the choice.', '',
           '| group | candidate | overrides | KID (val) | KID std | val macro-F1 '
           '| tied | chosen |', '|---|---|---|---|---|---|---|---|']
  for group, entry in choices.items():
    for row in entry['candidates']:
      overrides = result['generators'].get(row['name'], {}).get('overrides', {})
      shown = {k: v for k, v in overrides.items()
               if k in ('synthesis_step', 'guidance', 'ada', 'r1_gamma', 'num_steps')}
      lines.append(
          f'| {group} | {row["name"]} | {shown or "(defaults)"} | {fmt(row["kid"], 4)} | '
          f'{fmt(row["kid_std"], 4)} | {fmt(row["val_macro_f1"])} | '
          f'{"yes" if row["name"] in entry.get("tied", ()) else ""} | '
          f'{"**chosen**" if row["name"] == entry["chosen"] else ""} |')
    if entry['chosen'] is None:
      lines.append(f'| {group} | (none chosen: {entry["reason"]}) | | | | | | |')
  return lines + ['']


def _verdict_section(found: Dict[str, Dict], seeds: int) -> List[str]:
  lines = ['## Each generator against its count-matched control', '',
           'd = the plain arm − real_oversampled of the same generator (real images '
           'repeated to the plain arm\'s class counts), test macro-F1 over the same '
           'seeds: helps if its 95 % interval lies above 0, hurts if below, none '
           'shown if it holds 0; not converged where an arm of the pair did not '
           'stop early.', '',
           '| generator | fraction | comparison | d (macro-F1) | 95 % interval | '
           'verdict |', '|---|---|---|---|---|---|']
  for generator, by_fraction in found.items():
    for fkey, row in by_fraction.items():
      interval = row.get('interval')
      lines.append(
          f'| {generator} | {fkey} | {row["comparison"]} | {signed(row["difference"])} '
          f'| {"[%+.3f, %+.3f]" % tuple(interval) if interval else "n/a"} | '
          f'**{row["verdict"]}**{" (" + row["reason"] + ")" if row["reason"] else ""} |')
  if seeds > 1:
    lines += ['', f'With {seeds} seeds the 95 % interval is the mean ± '
              f't({seeds - 1}) = {stats.t.ppf(0.975, seeds - 1):.2f} times the '
              'standard error: only a large effect can show.']
  return lines + ['']


def sections(result: Dict) -> List[str]:
  """report.md's sections for a protocol of several generators (none for one)."""
  if len(result.get('generators', {})) < 2:
    return []
  lines = _generators_table(result)
  if result.get('settings_choice'):
    lines += _choice_section(result['settings_choice'], result)
  if result.get('verdicts'):
    lines += _verdict_section(result['verdicts'], len(result['protocol']['seeds']))
  return lines
