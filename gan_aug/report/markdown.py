"""report.md, for people, and the terminal's summary line, from report.json's content.

Sections appear when their data exists: the paper's claims beside this run
(`gan_aug.report.claims`), the arms' table per training fraction (mean ± 95 % interval
over seeds) with arms that did not converge, macro/weighted averages and
per-class scores, paired differences, the shortcut control,
McNemar's test, GAN-test, the filter and the accepted sets' quality, the other
classifiers, then the synthesis, filter and GAN of the first (fraction, seed).
"""

import os
from typing import Dict, List

from gan_aug.report import claims as claims_lib
from gan_aug.report import generators as generators_lib
from gan_aug.report.cells import cell, fmt as _fmt, signed

PHANTOM_WARNING = ('PHANTOM DATA: generated shapes, not medical images. These numbers '
                   'say the pipeline works, nothing about chest X-rays.')
_HEADLINE = ('accuracy', 'macro_f1', 'weighted_f1', 'auc')
_AVERAGES = ('precision_macro', 'recall_macro', 'macro_f1', 'precision_weighted',
             'recall_weighted', 'weighted_f1')
_QUALITY = ('kid', 'kid_std', 'fid', 'precision', 'recall', 'density', 'coverage')
_CIRCULARITY = (  # The caveat of gan_aug/synthesis/agreement.py's filter.
    'The filter\'s classifier was trained on the same real training images the '
    'arms train on (and nothing else: no validation, no test image), so it keeps '
    'the fakes that look like what a classifier already learns from those images; '
    'an arm fed this set sees the real training images through the generator and '
    'again through the filter.')


def _metrics(by_arm: Dict, class_names: List[str]) -> List[str]:
  first = next(iter(by_arm.values()))
  names = list(next(iter(first.values())))
  return [m for m in _HEADLINE if m in names] + [
      f'recall_{c}' for c in class_names if f'recall_{c}' in names]


def _value(entry: Dict, digits: int = 3) -> str:
  """A claimed or measured value: a number, or a summary as `mean ± ci95`."""
  if entry is None:
    return 'n/a'
  if isinstance(entry, dict):
    return cell(entry)
  return f'{entry:.{digits}f}'


def _claims_section(claims: Dict) -> List[str]:
  """The "claim vs this run" table (gan_aug.report.claims)."""
  lines = ['## Claim vs this run', '',
           'The paper\'s values beside this run\'s mean ± 95 % interval over seeds '
           '(real test images) for the same metric and arms; d = after − before, '
           'paired over seeds, with its interval. Verdict (g = claimed gain): as '
           'claimed if lo > 0 and d ≥ g, smaller if lo > 0 and d < g, none shown if '
           'lo ≤ 0 ≤ hi, worse if hi < 0 (`gan_aug/report/claims.py`).', '',
           '| claim | metric | paper (split) | paper before → after | this run before '
           '→ after | d [lo, hi] | verdict |', '|---|---|---|---|---|---|---|']
  notes = []
  for name, row in claims.items():
    c = row['claim']
    where = c['split'] + (', synthetic images in it' if c['test_has_synthetic'] else '')
    where += ', read off a figure' if c['from_figure'] else ''
    arms = (f'`{c["classifier"]}` {c["before_arm"]} → {c["after_arm"]}'
            if c['classifier'] else 'accepted set')
    measured = row.get('measured', {})
    ours = (f'{_value(measured.get("before"))} → {_value(measured.get("after"))}'
            if 'before' in measured else _value(measured.get('after')))
    if row.get('space_label') and measured.get('after') is not None:
      ours = '; '.join([f'{c["metric"]} {ours}'] + [
          f'{m} {_value(v)}' for m, v in measured.get('also', {}).items()])
      ours += f' ({row["space_label"]})'
    d = row.get('difference')
    diff = 'n/a' if d is None else (
        signed(d) + (f' [{row["interval"][0]:+.3f}, {row["interval"][1]:+.3f}]'
                     if 'interval' in row else ''))
    lines.append(f'| {name} ({arms}) | {c["metric"]} (fraction {row["fraction"]}) | '
                 f'{c["source"]} ({where}) | {_value(c["before"])} → '
                 f'{_value(c["after"])} | {ours} | {diff} | **{row["verdict"]}** |')
    why = [row['reason']] if row.get('reason') else []
    why += [f'measured in {row["feature_space"]}'] if row.get('feature_space') else []
    why += [c['note']] if c['note'] else []
    if why:
      notes.append(f'- {name}: ' + ' '.join(w.rstrip('.') + '.' for w in why))
  return lines + [''] + notes + ([''] if notes else [])


def _per_class_table(by_arm: Dict, fkey: str, class_names: List[str]) -> List[str]:
  lines = ['Per class (precision / recall / F1):', '',
           '| arm | ' + ' | '.join(class_names) + ' |',
           '|---|' + '---|' * len(class_names)]
  for arm, by_fraction in by_arm.items():
    if fkey in by_fraction:
      m = by_fraction[fkey]
      lines.append(f'| {arm} | ' + ' | '.join(
          ' / '.join(f'{m[f"{score}_{c}"]["mean"]:.3f}'
                     for score in ('precision', 'recall', 'f1')) for c in class_names)
                   + ' |')
  return lines


def _convergence_warnings(runs: List[Dict], primary: str) -> List[str]:
  """A line per arm and seed whose early stopping did not trigger."""
  lines = []
  for run in runs:
    for arm, entry in run['classifiers'][primary]['arms'].items():
      if claims_lib.converged(entry):
        continue
      at_last = entry['best_step'] == entry['steps']
      lines.append(f'- {arm}, seed {run["seed"]}: best validation loss at step '
                   f'{entry["best_step"]} of {entry["steps"]}'
                   + (' (the last epoch)' if at_last else '') +
                   ' - early stopping did not trigger; more steps might still help.')
  if not lines:
    return []
  return (['', '**Not converged** (the budget, not the data, may decide these '
           'arms):', ''] + lines)


def _runs_of(result: Dict, fkey: str) -> List[Dict]:
  return [r for r in result['runs'] if repr(float(r['fraction'])) == fkey]


def _arm_table(by_arm: Dict, fkey: str, metrics: List[str]) -> List[str]:
  lines = ['| arm | ' + ' | '.join(metrics) + ' |', '|---|' + '---|' * len(metrics)]
  for arm, by_fraction in by_arm.items():
    if fkey in by_fraction:
      lines.append(f'| {arm} | ' + ' | '.join(
          cell(by_fraction[fkey][m]) for m in metrics) + ' |')
  return lines


def _fraction_section(result: Dict, fkey: str, metrics: List[str]) -> List[str]:
  runs = _runs_of(result, fkey)
  primary = result['classifier']['name']
  lines = [f'## Training fraction {fkey}', '',
           f'{runs[0]["train_images"]} training images per seed.', '']
  lines += _arm_table(result['arms'], fkey, metrics)
  lines += _convergence_warnings(runs, primary)
  class_names = result['dataset']['class_names']
  lines += ['', 'Macro and weighted (by support) averages:', '']
  lines += _arm_table(result['arms'], fkey, list(_AVERAGES))
  lines += [''] + _per_class_table(result['arms'], fkey, class_names)
  paired = {n: v for n, v in result.get('paired', {}).items() if fkey in v}
  if paired:
    lines += ['', 'Paired differences over the same seeds:', '',
              '| difference | ' + ' | '.join(metrics) + ' |',
              '|---|' + '---|' * len(metrics)]
    for name, by_fraction in paired.items():
      lines.append(f'| {name.replace("_minus_", " − ")} | ' + ' | '.join(
          signed(by_fraction[fkey][m]) for m in metrics) + ' |')
  control = result['arms'].get('borders_only', {}).get(fkey)
  if control:
    majority = max(r['classifiers'][primary]['majority_class_rate'] for r in runs)
    accuracy = control['accuracy']
    verdict = ('**well above the majority-class rate: the classes can be told apart '
               'without the lungs, so the comparison above may rest on shortcuts '
               '(source, scanner, text marks)**'
               if accuracy['mean'] - (accuracy['ci95'] or 0) > majority + 0.05 else
               'not clearly above the majority-class rate')
    lines += ['', f'Shortcut control (`borders_only`: centre blanked, only a frame '
              f'seen in training and test): accuracy {cell(accuracy)} against a '
              f'majority-class rate of {majority:.3f} - {verdict}.']
  for pair, by_fraction in result.get('mcnemar', {}).items():
    tests, arm = by_fraction.get(fkey), pair[:-len('_vs_real')]
    if tests:
      lines += ['', f'McNemar ({arm} vs real, test images right by one arm only): ' +
                '; '.join(f'seed {t["seed"]}: {arm} {t["a_only"]} / real '
                          f'{t["b_only"]}, p = {t["p_value"]:.3g}' for t in tests)
                + '.']
  if fkey in result.get('gan_test', {}):
    lines += ['', 'GAN-test (the real arm\'s classifier on the accepted fakes\' '
              f'requested classes): {cell(result["gan_test"][fkey])}.']
  empty = [r['seed'] for r in runs if r.get('synthesis') and not r['synthesis']['accepted']]
  if empty:
    lines += ['', f'**No synthetic image passed the filter for seed(s) {empty}: their '
              'GAN arms trained on the real images only.**']
  filtered = [(r['seed'], r['synthesis']) for r in runs
              if (r.get('synthesis') or {}).get('real_scores', {}).get('test')]
  if filtered:
    lines += ['', 'Filter (D scores un-augmented images): ' + '; '.join(
        _filter_line(seed, s) for seed, s in filtered) + '.']
  quality = result.get('synthetic_quality', {}).get(fkey)
  if quality:
    lines += ['', 'Accepted fakes against the real test images, in the feature space '
              'of the real arm\'s classifier (penultimate layer; its own per seed): '
              + ', '.join(f'{name} {cell(quality[name])}' for name in _QUALITY
                          if name in quality)
              + '. Memorisation: a share of '
              f'{cell(quality["fraction_suspicious"])} of the fakes lie closer to a '
              'training image than 99 % of real test images do to theirs (closest '
              'pairs: `closest_pairs.png` in each classifiers stage).']
  against_val = result.get('synthetic_quality_val', {}).get(fkey)
  if against_val:
    lines += ['', 'The same against the real validation images (for choosing '
              'settings without the test split): ' + ', '.join(
                  f'{name} {cell(against_val[name])}' for name in _QUALITY
                  if name in against_val) + '.']
  inception = result.get('synthetic_quality_inception', {}).get(fkey)
  if inception:
    lines += ['', 'The same in the pool3 space of pytorch-fid\'s Inception-v3: ' +
              ', '.join(f'{name} {cell(inception[name])}' for name in _QUALITY
                        if name in inception) +
              f'; memorisation share {cell(inception["fraction_suspicious"])}.']
  for name, by_arm in result.get('other_classifiers', {}).items():
    note = result['classifier']['weights'].get(name, {}).get('note', '')
    lines += ['', f'Classifier `{name}` ({note}):', '']
    lines += _arm_table(by_arm, fkey, metrics)
  return lines + ['']


_REALNESS = "D's realness"


def _filter_line(seed: int, syn: Dict) -> str:
  """One seed's threshold, D's scores of real test images and the pass count."""
  t = syn['real_scores']['test']
  spread = (f'median {t["median"]:.3f} (5-95 %: {t["q05"]:.3f}-{t["q95"]:.3f}'
            + (')' if syn['threshold'] is None
               else f', {t["fraction_at_least_threshold"]:.0%} at or above it)'))
  threshold = ('no threshold' if syn['threshold'] is None
               else f'threshold {syn["threshold"]:.3f}')
  return (f'seed {seed}: {threshold}, real test images scored {spread}; '
          f'{syn["passed"]} of {syn["generated"]} fakes passed')


def _circularity(syn: Dict) -> List[str]:
  """The classifier-agreement filter's caveat, when it ran."""
  return ([f'Circularity: {_CIRCULARITY}', '']
          if syn.get('classifier_filter') else [])


def _pass_table(syn: Dict) -> List[str]:
  """Per class: requested, generated, passed, accepted, pass rate."""
  lines = ['| class | requested | generated | passed | accepted | pass rate |',
           '|---|---|---|---|---|---|']
  for name, c in syn['per_class'].items():
    lines.append(f'| {name} | {c["requested"]} | {c["generated"]} | {c["passed"]} | '
                 f'{c["accepted"]} | {_fmt(c["acceptance_rate"])} |')
  return lines + [f'| all | {syn["requested"]} | {syn["generated"]} | '
                  f'{syn["passed"]} | {syn["accepted"]} | '
                  f'{_fmt(syn["acceptance_rate"])} |']


def _synthesis_section(syn: Dict) -> List[str]:
  if not syn.get('real_score_distribution'):  # A generator without a scorer.
    return (['### Synthesis and filter', '',
             f'Filter: {syn.get("filter", "none")}; checkpoint step(s) '
             f'{syn["checkpoint_steps"]}: {syn["accepted"]} of {syn["requested"]} '
             'requested samples kept.', '']
            + (_pass_table(syn) + [''] if syn.get('classifier_filter') else [])
            + _circularity(syn))
  lines = ['### Synthesis and filter', '',
           f'Filter: {syn.get("filter", _REALNESS)}. '
           + ('Keep a fake whatever D\'s realness (no threshold)'
              if syn['threshold'] is None
              else f'Keep a fake when D\'s realness >= {syn["threshold"]:.4f}')
           + (f' (the {syn["threshold_setting"]} quantile of D\'s scores of real '
              'validation images)' if syn.get('threshold_mode') == 'real_quantile'
              else f' (errD_fake = -log(1 - realness) >= {syn["threshold_setting"]}, '
              'the papers\' printed rule)' if syn.get('threshold_mode') == 'errd_fake'
              else '')
           + (' and D\'s class head agrees with the requested class'
              if syn.get('require_class_agreement') else '')
           + f'; checkpoint step(s) {syn["checkpoint_steps"]}. Pass rate = passed / '
           'generated; accepted = passed fakes kept, up to the requested number.', '']
  lines += _pass_table(syn)
  lines += ['', 'D\'s scores of real images (the filter applied to real data'
            + (', D alone: classifier agreement not applied' if
               syn.get('classifier_filter') else '') + '):', '',
            '| split | images | mean realness | realness >= threshold | class agrees '
            '| would pass |', '|---|---|---|---|---|---|']
  for split, s in syn['real_score_distribution'].items():
    if s.get('count'):
      lines.append(f'| {split} | {s["count"]} | {_fmt(s["realness_mean"])} | '
                   f'{_fmt(s["fraction_realness_at_least_threshold"])} | '
                   f'{_fmt(s["fraction_class_agrees"])} | '
                   f'{_fmt(s["fraction_would_pass_filter"])} |')
  return lines + [''] + _circularity(syn)


def markdown(result: Dict) -> str:
  """The whole report as Markdown (see the module docstring)."""
  ds, clf, proto = result['dataset'], result['classifier'], result['protocol']
  lines = ['# Report', '']
  if ds.get('is_phantom'):
    lines += [f'**{PHANTOM_WARNING}**', '']
  if result.get('claims'):
    lines += _claims_section(result['claims'])
  lines += [f'Data set `{ds["name"]}`: classes {", ".join(ds["class_names"])}; splits '
            f'{ds["splits"]}; {len(ds.get("duplicates_removed", []))} exact '
            'duplicate(s) across splits removed (kept out of training, or of '
            'validation when also in test).', '']
  conflicts = ds.get('label_conflicts', [])
  if conflicts:
    kept_out = ds.get('label_conflict_policy', 'exclude') == 'exclude'
    lines += [f'**{len(conflicts)} label conflict(s)**: the same pixels under two '
              'classes (' + ('kept out of training' if kept_out else
                             'trained under each label: `data.label_conflict_policy'
                             '=keep`') + '):', '']
    lines += [f'- {", ".join(c["images"])}' for c in conflicts] + ['']
  skipped = ds.get('skipped_files', [])
  if skipped:
    lines += [f'**{len(skipped)} unreadable file(s) skipped** '
              '(`data.bad_file_policy=skip`):', '']
    lines += [f'- {item.get("error", item)}' for item in skipped] + ['']
  lines += [f'Arms {", ".join(proto["arms"])}; seeds {proto["seeds"]}; training '
            f'fractions {", ".join(proto["fractions"])}. Classifier `{clf["name"]}` at '
            f'{clf["resolution"]} px ({clf["weights"][clf["name"]]["note"]}); every arm '
            'trained from the same initial weights under the same budget (its own '
            'early stopping within the same maximum of epochs) and tested, with its '
            f'weights of lowest validation loss, on all {ds["test_images"]} real test '
            'images. Values: mean ± half-width of the 95 % Student-t interval over '
            'seeds.', '']
  lines += generators_lib.sections(result)
  if len(proto['seeds']) == 1:
    lines += ['One seed: a difference of a few test images is within seed-to-seed '
              'noise; raise `protocol.seeds` before drawing conclusions.', '']
  metrics = _metrics(result['arms'], ds['class_names'])
  for fkey in proto['fractions']:
    lines += _fraction_section(result, fkey, metrics)
  first = result['runs'][0]
  if first.get('synthesis'):
    lines += [f'## First run (fraction {first["fraction"]}, seed {first["seed"]})', '']
    lines += _synthesis_section(first['synthesis'])
    gan = first['gan']
    losses = ', '.join(f'{k} {_fmt(v)}' for k, v in gan['final_losses'].items())
    lines += [f'### Generator ({gan.get("family", "GAN")})', '',
              f'{gan["steps"]} steps; final {losses}; '
              f'{_fmt(gan.get("images_per_sec"), 1)} images/s on '
              f'{gan.get("devices")} device(s).', '']
  lines += ['## Figures', ''] + [f'- {name}: `{os.path.basename(path)}`'
                                 for name, path in result['figures'].items()]
  lines += ['', f'Per-image test predictions (first run): '
            f'`{result["predictions_file"]}`.', '']
  return '\n'.join(lines)


def summary_line(result: Dict) -> str:
  """One line for the terminal: each arm's mean test accuracy per fraction."""
  parts = []
  for fkey in result['protocol']['fractions']:
    arms = ', '.join(f'{a} {v[fkey]["accuracy"]["mean"]:.3f}'
                     for a, v in result['arms'].items() if fkey in v)
    parts.append(f'fraction {fkey}: {arms}')
  seeds = len(result['protocol']['seeds'])
  return (f'Test accuracy ({result["dataset"]["test_images"]} real images, mean of '
          f'{seeds} seed{"s" if seeds > 1 else ""}) - ' + '; '.join(parts)
          + ('. PHANTOM DATA, not medical images.' if result['dataset'].get('is_phantom')
             else '.'))
