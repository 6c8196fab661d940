"""experiment.md and the experiment's figures, from experiment.json's content."""

import os
from typing import Dict, List

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from gan_aug import atomic_files  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_aug.metrics import intervals  # pylint: disable=g-import-not-at-top,wrong-import-position

_HEADLINE = ('accuracy', 'macro_f1', 'auc')


def _cell(entry: Dict) -> str:
  if entry['ci95'] is None:
    return f'{entry["mean"]:.3f}'
  return f'{entry["mean"]:.3f} ± {entry["ci95"]:.3f}'


def _signed(entry: Dict) -> str:
  if entry['ci95'] is None:
    return f'{entry["mean"]:+.3f}'
  return f'{entry["mean"]:+.3f} ± {entry["ci95"]:.3f}'


def _metrics(result: Dict) -> List[str]:
  first = next(iter(result['arms'].values()))
  names = list(next(iter(first.values())))
  return [m for m in _HEADLINE if m in names] + [
      m for m in names if m.startswith('recall_')]


def markdown(result: Dict) -> str:
  """The comparison tables, as in the papers plus 95 % intervals over seeds."""
  metrics = _metrics(result)
  ds = result['dataset']
  seeds = result['seeds']
  lines = ['# Experiment', '',
           f'Data set `{ds["name"]}`{" (PHANTOM, not medical data)" if ds["is_phantom"] else ""}: '
           f'classes {", ".join(ds["class_names"])}; every arm tested on all '
           f'{ds["test_images"]} real test images. Classifier `{result["classifier"]["name"]}` '
           f'at {result["classifier"]["resolution"]} px; seeds {seeds}; every arm '
           'trained from the same initial weights for the same number of optimizer '
           'steps. Values: mean ± half-width of the 95 % Student-t interval over '
           'seeds.', '']
  for fkey in result['fractions']:
    lines += [f'## Training fraction {fkey}', '',
              '| arm | ' + ' | '.join(metrics) + ' |',
              '|---|' + '---|' * len(metrics)]
    for arm, by_fraction in result['arms'].items():
      if fkey in by_fraction:
        lines.append(f'| {arm} | ' + ' | '.join(
            _cell(by_fraction[fkey][m]) for m in metrics) + ' |')
    lines += ['', 'Paired differences over the same seeds:', '',
              '| difference | ' + ' | '.join(metrics) + ' |',
              '|---|' + '---|' * len(metrics)]
    for name, by_fraction in result['paired'].items():
      if fkey in by_fraction:
        label = name.replace('_minus_', ' − ')
        lines.append(f'| {label} | ' + ' | '.join(
            _signed(by_fraction[fkey][m]) for m in metrics) + ' |')
    control = result['arms'].get('borders_only', {}).get(fkey)
    if control:
      majority = max(r['arms']['borders_only']['majority_class_rate']
                     for r in _runs_by_fraction(result, fkey))
      accuracy = control['accuracy']
      verdict = ('**well above the majority-class rate: the classes can be told '
                 'apart without the lungs, so the comparison above may rest on '
                 'shortcuts (source, scanner, text marks)**'
                 if accuracy['mean'] - (accuracy['ci95'] or 0) > majority + 0.05 else
                 'not clearly above the majority-class rate')
      lines += ['', f'Shortcut control (`borders_only`: centre blanked, only a frame '
                f'seen in training and test): accuracy {_cell(accuracy)} against a '
                f'majority-class rate of {majority:.3f} - {verdict}.']
    tests = result['mcnemar'].get('gan_vs_real', {}).get(fkey)
    if tests:
      lines += ['', 'McNemar (gan vs real, test images right by one arm only): ' +
                '; '.join(f'seed {t["seed"]}: gan {t["a_only"]} / real {t["b_only"]}, '
                          f'p = {t["p_value"]:.3g}' for t in tests) + '.']
    if fkey in result['gan_test']:
      lines += ['', f'GAN-test (real classifier on accepted fakes): '
                    f'{_cell(result["gan_test"][fkey])}.']
    filtered = [(r['seed'], r['synthesis']) for r in _runs_by_fraction(result, fkey)
                if (r.get('synthesis') or {}).get('real_scores', {}).get('test')]
    if filtered:
      lines += ['', 'Filter (D scores un-augmented images): ' + '; '.join(
          f'seed {seed}: threshold {s["threshold"]:.3f}, real test images scored '
          f'median {t["median"]:.3f} (5-95 %: {t["q05"]:.3f}-{t["q95"]:.3f}, '
          f'{t["fraction_at_least_threshold"]:.0%} at or above it); '
          f'{s["passed"]} of {s["generated"]} fakes passed'
          for seed, s in filtered for t in [s['real_scores']['test']]) + '.']
    quality = result.get('synthetic_quality', {}).get(fkey)
    if quality:
      lines += ['', 'Accepted fakes against the real test images, in the feature '
                'space of the real arm\'s classifier (penultimate layer; its own '
                'per seed): ' + ', '.join(
                    f'{name} {_cell(quality[name])}' for name in
                    ('kid', 'kid_std', 'fid', 'precision', 'recall') if name in quality)
                + '. Memorisation: a share of '
                f'{_cell(quality["fraction_suspicious"])} of the fakes lie closer to '
                'a training image than 99 % of real test images do to theirs '
                '(closest pairs: `closest_pairs.png` in each arms stage).']
    inception = result.get('synthetic_quality_inception', {}).get(fkey)
    if inception:
      lines += ['', 'The same in the pool3 space of pytorch-fid\'s Inception-v3: ' +
                ', '.join(f'{name} {_cell(inception[name])}' for name in
                          ('kid', 'kid_std', 'fid', 'precision', 'recall')
                          if name in inception) +
                f'; memorisation share {_cell(inception["fraction_suspicious"])}.']
    lines.append('')
  lines += ['## Figures', ''] + [f'- `{os.path.basename(p)}`'
                                 for p in result.get('figures', {}).values()]
  return '\n'.join(lines) + '\n'


def write_figures(figures_dir: str, result: Dict) -> Dict[str, str]:
  """Per-arm bars with 95 % intervals, one panel per fraction, and with several
  fractions the per-fraction curves; {name: path}."""
  os.makedirs(figures_dir, exist_ok=True)
  metrics = [m for m in _metrics(result) if m in ('accuracy', 'macro_f1', 'auc')]
  fractions = result['fractions']
  fig, axes = plt.subplots(1, len(fractions), figsize=(4.5 * len(fractions), 3.5),
                           squeeze=False)
  for ax, fkey in zip(axes[0], fractions):
    arms = [a for a, v in result['arms'].items() if fkey in v]
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
      entries = [result['arms'][a][fkey][metric] for a in arms]
      ax.bar(np.arange(len(arms)) + i * width, [e['mean'] for e in entries], width,
             yerr=[e['ci95'] or 0.0 for e in entries], capsize=3, label=metric)
    ax.set_xticks(np.arange(len(arms)) + width * (len(metrics) - 1) / 2, arms,
                  rotation=20)
    ax.set_ylim(0, 1)
    ax.set_title(f'training fraction {fkey}')
  axes[0][0].legend(loc='lower left', fontsize=8)
  fig.suptitle(f'{result["dataset"]["name"]}: test metrics, mean and 95 % interval '
               'over seeds', fontsize=10)
  fig.tight_layout()
  path = os.path.join(figures_dir, 'arms.png')
  atomic_files.save_figure(fig, path, dpi=100)
  plt.close(fig)
  paths = {'arms': path}
  if len(fractions) > 1:
    paths['fractions'] = _write_fraction_curves(figures_dir, result, metrics)
  return paths


def _write_fraction_curves(figures_dir: str, result: Dict, metrics: List[str]) -> str:
  """One panel per metric: each arm's mean and 95 % interval against the training
  fraction (log scale), as in a low-data study."""
  fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.5),
                           squeeze=False)
  for ax, metric in zip(axes[0], metrics):
    for arm, by_fraction in result['arms'].items():
      fkeys = sorted(by_fraction, key=float)
      means = np.array([by_fraction[f][metric]['mean'] for f in fkeys])
      half = np.array([by_fraction[f][metric]['ci95'] or 0.0 for f in fkeys])
      xs = [float(f) for f in fkeys]
      ax.plot(xs, means, marker='o', label=arm)
      ax.fill_between(xs, means - half, means + half, alpha=0.15)
    ax.set_xscale('log')
    ax.set_xticks([float(f) for f in result['fractions']], result['fractions'])
    ax.set_xlabel('training fraction')
    ax.set_title(metric)
  axes[0][0].legend(fontsize=8)
  fig.suptitle(f'{result["dataset"]["name"]}: test metrics against the training '
               'fraction, mean and 95 % interval over seeds', fontsize=10)
  fig.tight_layout()
  path = os.path.join(figures_dir, 'fractions.png')
  atomic_files.save_figure(fig, path, dpi=100)
  plt.close(fig)
  return path


def summary_line(result: Dict) -> str:
  """One line per fraction: each arm's mean test accuracy."""
  parts = []
  for fkey in result['fractions']:
    arms = ', '.join(f'{a} {v[fkey]["accuracy"]["mean"]:.3f}'
                     for a, v in result['arms'].items() if fkey in v)
    parts.append(f'fraction {fkey}: {arms}')
  return 'Test accuracy (mean over seeds) - ' + '; '.join(parts) + '.'


def _runs_by_fraction(result: Dict, fkey: str) -> List[Dict]:
  return [r for r in result['runs'] if repr(float(r['fraction'])) == fkey]


def variant_comparison(results: Dict[str, Dict], overrides: Dict[str, Dict]) -> Dict:
  """variants.json: per GAN variant and fraction, the synthetic set's KID (mean of
  the seeds' KIDs, and of their subset stds), the accepted fraction of generated
  fakes, and the gan / gan_classical arms' macro-F1, each {mean, ci95, values}."""
  out = {'variants': {}, 'overrides': overrides}
  for name, result in results.items():
    rows = {}
    for fkey in result['fractions']:
      runs = _runs_by_fraction(result, fkey)
      rates = [r['synthesis']['acceptance_rate'] for r in runs if r['synthesis']]
      row = {'acceptance_rate': intervals.mean_ci95(rates)} if rates else {}
      quality = result.get('synthetic_quality', {}).get(fkey, {})
      for metric in ('kid', 'kid_std', 'fid', 'fraction_suspicious'):
        if metric in quality:
          row[metric] = quality[metric]
      for arm in ('real', 'gan', 'gan_classical'):
        if fkey in result['arms'].get(arm, {}):
          row[f'{arm}_macro_f1'] = result['arms'][arm][fkey]['macro_f1']
      for pair in ('gan_minus_real', 'gan_classical_minus_classical'):
        if fkey in result['paired'].get(pair, {}):
          row[f'{pair}_macro_f1'] = result['paired'][pair][fkey]['macro_f1']
      rows[fkey] = row
    out['variants'][name] = rows
  return out


def variants_markdown(comparison: Dict) -> str:
  """The GAN variants side by side, one table per training fraction."""
  columns = ('kid', 'kid_std', 'fid', 'acceptance_rate', 'fraction_suspicious',
             'real_macro_f1', 'gan_macro_f1', 'gan_classical_macro_f1',
             'gan_minus_real_macro_f1')
  lines = ['# GAN variants', '',
           'Each variant is the whole experiment with these config.gan overrides: ' +
           '; '.join(f'`{n}` {o or "(none)"}' for n, o in
                     comparison['overrides'].items()) + '.',
           'KID/FID: accepted fakes against the real test images in the feature '
           'space of the real arm\'s classifier. Values: mean ± 95 % interval over '
           'seeds.', '']
  fractions = sorted({f for rows in comparison['variants'].values() for f in rows},
                     key=float)
  for fkey in fractions:
    lines += [f'## Training fraction {fkey}', '',
              '| variant | ' + ' | '.join(columns) + ' |',
              '|---|' + '---|' * len(columns)]
    for name, rows in comparison['variants'].items():
      row = rows.get(fkey, {})
      cells = []
      for c in columns:
        if c not in row:
          cells.append('')
        elif c.startswith('kid'):
          cells.append(f'{row[c]["mean"]:.4f} ± {row[c]["ci95"] or 0:.4f}')
        elif 'minus' in c:
          cells.append(_signed(row[c]))
        else:
          cells.append(_cell(row[c]))
      lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    lines.append('')
  return '\n'.join(lines) + '\n'


_SWEEP_METRICS = ('macro_f1', 'accuracy')


def filter_sweep_summary(results: Dict[str, Dict], overrides: Dict[str, Dict]) -> Dict:
  """filter_sweep.json: per filter setting and fraction, the threshold D's score
  had to reach, how many fakes were kept, GAN-test, and every arm's macro-F1 and
  accuracy with the paired differences against `real`, each {mean, ci95, values}
  over seeds: `settings.<name>.<fraction>.<entry>`."""
  out = {'settings': {}, 'overrides': overrides}
  for name, result in results.items():
    rows = {}
    for fkey in result['fractions']:
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


def write_filter_sweep_figure(figures_dir: str, sweep: Dict) -> str:
  """Macro-F1 of every arm, and of each arm minus `real`, against the filter
  setting (in the config's order), one column of panels per fraction."""
  os.makedirs(figures_dir, exist_ok=True)
  names = list(sweep['settings'])
  fractions = sorted({f for rows in sweep['settings'].values() for f in rows},
                     key=float)
  width = max(6.5, 1.2 * len(names) + 3)
  fig, axes = plt.subplots(2, len(fractions), figsize=(width * len(fractions), 6.5),
                           squeeze=False)
  for column, fkey in enumerate(fractions):
    rows = [sweep['settings'][n].get(fkey, {}) for n in names]
    for panel, suffix in ((0, 'macro_f1'), (1, 'minus_real_macro_f1')):
      ax = axes[panel][column]
      series = sorted({c for row in rows for c in row if c.endswith(suffix)
                       and (panel == 1 or '_minus_' not in c)})
      for i, label in enumerate(series):
        xs = [j + 0.08 * (i - (len(series) - 1) / 2) for j, row in enumerate(rows)
              if label in row]
        entries = [row[label] for row in rows if label in row]
        ax.errorbar(xs, [e['mean'] for e in entries],
                    yerr=[e['ci95'] or 0.0 for e in entries], marker='o',
                    capsize=3, linestyle='-', label=label.replace(
                        '_macro_f1', '').replace('_minus_', ' − '))
      ax.set_xticks(range(len(names)), names, rotation=20)
      ax.set_ylabel('macro-F1' if panel == 0 else 'macro-F1 difference')
      if panel == 1:
        ax.axhline(0.0, color='grey', linewidth=0.8)
      ax.legend(fontsize=8)
      ax.set_title(f'training fraction {fkey}', fontsize=9)
  fig.suptitle('Downstream macro-F1 against the synthesis filter\n(mean and 95 % '
               'interval over seeds)', fontsize=10)
  fig.tight_layout()
  path = os.path.join(figures_dir, 'filter_sweep.png')
  atomic_files.save_figure(fig, path, dpi=100)
  plt.close(fig)
  return path
