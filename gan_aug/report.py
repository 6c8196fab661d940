"""The run's report: report.json (machine-readable), report.md (for people), PNG figures."""

import os
from typing import Dict, List, Sequence

import matplotlib

matplotlib.use('Agg')  # Files only; no display needed.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from gan_aug import atomic_files  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_aug import visualize  # pylint: disable=g-import-not-at-top,wrong-import-position

PHANTOM_WARNING = ('PHANTOM DATA: generated shapes, not medical images. These numbers '
                   'say the pipeline works, nothing about chest X-rays.')


def _arm_entry(result: Dict) -> Dict:
  return {k: v for k, v in result.items() if k != 'history'}


def build_report(dataset_summary: Dict, gan_summary: Dict, synthesis: Dict,
                 comparisons: Dict[str, Dict], classifier_name: str, provenance: Dict,
                 figures: Dict[str, str]) -> Dict:
  """Assembles report.json's content from the stage summaries.

  `comparisons` maps classifier names to `compare.compare` results.
  `classifiers.<arm>` holds the primary classifier's results; with several
  classifiers, `classifiers.<arm>.models.<name>` holds each one's.
  """
  comparison = comparisons[classifier_name]
  final = gan_summary.get('final_metrics', {})
  synthesis_keys = ('threshold', 'threshold_mode', 'threshold_setting',
                    'require_class_agreement', 'target', 'requested',
                    'generated', 'passed', 'accepted', 'acceptance_rate', 'per_class',
                    'checkpoint_steps', 'real_score_distribution', 'images_per_sec',
                    'set_dir')
  return {
      'dataset': {k: dataset_summary[k] for k in (
          'name', 'class_names', 'is_phantom', 'splits', 'class_counts',
          'duplicates_removed', 'skipped_files') if k in dataset_summary},
      'gan': {
          'steps': gan_summary['steps'],
          'resumed_from_step': gan_summary.get('resumed_from_step'),
          'continued_from_diverged': gan_summary.get('continued_from_diverged'),
          'final_losses': {k: final.get(k) for k in ('d_loss', 'g_loss')},
          'final_metrics': final,
          'images_per_sec': gan_summary.get('images_per_sec'),
          'train_seconds': gan_summary.get('train_seconds'),
          'devices': gan_summary.get('devices'),
          'checkpoint_steps': gan_summary.get('checkpoint_steps'),
      },
      'synthesis': {**{k: synthesis.get(k) for k in synthesis_keys},
                    'gan_test_accuracy': comparison['gan_test_accuracy']},
      'classifiers': {
          'name': classifier_name,
          'resolution': comparison['resolution'],
          'weights': {name: c.get('weights') for name, c in comparisons.items()},
          **{arm: {**_arm_entry(result),
                   **({'models': {name: _arm_entry(c['arms'][arm])
                                  for name, c in comparisons.items()}}
                      if len(comparisons) > 1 else {})}
             for arm, result in comparison['arms'].items()},
      },
      'predictions_file': comparison['predictions_file'],
      'predictions_files': {name: c['predictions_file']
                            for name, c in comparisons.items()},
      'figures': figures,
      'provenance': provenance,
  }


def summary_line(report: Dict) -> str:
  """One line for the terminal: test accuracy and macro-F1 of both arms."""
  clf, syn = report['classifiers'], report['synthesis']
  arms = ', '.join(f'{arm}: accuracy {clf[arm]["test"]["accuracy"]:.3f} macro-F1 '
                   f'{clf[arm]["test"]["macro_f1"]:.3f}' for arm in ('real', 'augmented'))
  gan_test = syn['gan_test_accuracy']
  trials = report.get('num_trials', 1)
  return (f'Test ({clf["real"]["test"]["num_examples"]} real images'
          + (f', mean of {trials} trials' if trials > 1 else '') + f') - {arms}; '
          f'{syn["accepted"]} synthetic images accepted'
          + (f', GAN-test {gan_test:.3f}' if gan_test is not None else '')
          + ('. PHANTOM DATA, not medical images.' if report['dataset'].get('is_phantom')
             else '.'))


def _fmt(value, digits: int = 3) -> str:
  if value is None:
    return 'n/a'
  if isinstance(value, float):
    return f'{value:.{digits}f}'
  return str(value)


def _with_std(entry: Dict, metric: str) -> str:
  value = _fmt(entry['test'][metric])
  return value + (f' ± {entry["std"][metric]:.3f}' if 'std' in entry else '')


def _models_section(clf: Dict, arms: List[str]) -> List[str]:
  """Every classifier's test accuracy and macro-F1, and how its weights started."""
  models = clf[arms[0]].get('models', {clf['name']: clf[arms[0]]})
  lines = ['', '### Every classifier', '',
           '| classifier | ' + ' | '.join(f'{a} accuracy' for a in arms) + ' | '
           + ' | '.join(f'{a} macro-F1' for a in arms) + ' | weights |',
           '|---|' + '---|' * (2 * len(arms) + 1)]
  for name in models:
    entries = [clf[a].get('models', {name: clf[a]})[name] for a in arms]
    weights = (clf.get('weights') or {}).get(name) or {}
    lines.append(f'| {name} | ' + ' | '.join(_with_std(e, 'accuracy') for e in entries)
                 + ' | ' + ' | '.join(_with_std(e, 'macro_f1') for e in entries)
                 + f' | {weights.get("note", "n/a")} |')
  return lines


def markdown(report: Dict) -> str:
  """A report a person reads: data, GAN, synthesis, real vs augmented table."""
  ds, gan, syn, clf = (report['dataset'], report['gan'], report['synthesis'],
                       report['classifiers'])
  arms = [a for a in ('real', 'augmented') if a in clf]
  lines: List[str] = ['# Real vs real + synthetic', '']
  if ds.get('is_phantom'):
    lines += [f'**{PHANTOM_WARNING}**', '']
  if not syn['accepted']:
    lines += ['**No synthetic image passed the filter: the augmented arm trained on '
              'the real images only, so the comparison below says nothing about '
              'augmentation.**', '']
  short = [name for name, c in syn['per_class'].items()
           if c['accepted'] < c['requested']]
  if syn['accepted'] and short:
    lines += [f'**Fewer fakes than requested for {", ".join(short)} (attempt cap '
              'reached); see the synthesis table.**', '']
  lines += [f'Data set `{ds["name"]}`: classes {", ".join(ds["class_names"])}; '
            f'splits {ds["splits"]}; {len(ds.get("duplicates_removed", []))} '
            'exact duplicate(s) across splits removed (kept out of training, or of '
            'validation when also in test).', '']
  skipped = ds.get('skipped_files', [])
  if skipped:
    lines += [f'**{len(skipped)} unreadable file(s) skipped** '
              '(`data.bad_file_policy=skip`):', '']
    lines += [f'- {item.get("error", item)}' for item in skipped] + ['']
  lines += ['## Classifiers on the held-out real test split', '',
            f'`{clf["name"]}` at {clf["resolution"]}x{clf["resolution"]}; both arms '
            f'trained {clf[arms[0]]["steps"]} optimizer steps in lockstep from the same '
            'seed; each is tested with its weights of lowest loss on the same real '
            'validation split (steps ' + ' / '.join(
                f'{a} {clf[a]["best_step"]}' for a in arms) + ').', '',
            '| metric | ' + ' | '.join(arms) + ' | augmented - real |',
            '|---|' + '---|' * (len(arms) + 1)]
  for metric in ('accuracy', 'macro_f1', 'precision_macro', 'recall_macro'):
    values = [clf[a]['test'][metric] for a in arms]
    diff = f'{values[-1] - values[0]:+.3f}' if len(values) == 2 else 'n/a'
    lines.append(f'| {metric} | ' + ' | '.join(_fmt(v) for v in values)
                 + f' | {diff} |')
  for name in ds['class_names']:
    lines.append(f'| recall {name} | ' + ' | '.join(
        _fmt(clf[a]['test']['per_class'][name]['recall']) for a in arms) + ' | |')
  lines.append('| training images | ' + ' | '.join(
      str(clf[a]['train_images']) for a in arms) + ' | |')
  lines.append('| best validation step | ' + ' | '.join(
      str(clf[a]['best_step']) for a in arms) + ' | |')
  lines += _models_section(clf, arms)
  trials = report.get('num_trials', 1)
  lines += ['', (f'Mean over {trials} trials (seeds '
                 f'{", ".join(str(t["seed"]) for t in report["trials"])}), each with its '
                 'own training subset, GAN and classifiers; std is over trials.'
                 if trials > 1 else
                 'One seed, one split: a difference of a few test images is within '
                 'seed-to-seed noise; repeat with other seeds before drawing '
                 'conclusions.'),
            '',
            '## Synthesis and filter', '',
            f'Keep a fake when D\'s realness >= {syn["threshold"]:.4f}'
            + (f' (the {syn["threshold_setting"]} quantile of D\'s scores of real '
               'validation images)' if syn.get('threshold_mode') == 'real_quantile'
               else '')
            + (' and D\'s class head agrees with the requested class'
               if syn.get('require_class_agreement') else '')
            + f'; checkpoint step(s) {syn["checkpoint_steps"]}.', '',
            'Pass rate = passed / generated (the filter\'s acceptance rate); accepted '
            '= passed fakes kept, up to the requested number.', '',
            '| class | requested | generated | passed | accepted | pass rate |',
            '|---|---|---|---|---|---|']
  for name, c in syn['per_class'].items():
    lines.append(f'| {name} | {c["requested"]} | {c["generated"]} | {c["passed"]} | '
                 f'{c["accepted"]} | {_fmt(c["acceptance_rate"])} |')
  lines.append(f'| all | {syn["requested"]} | {syn["generated"]} | {syn["passed"]} | '
               f'{syn["accepted"]} | {_fmt(syn["acceptance_rate"])} |')
  lines += ['', f'GAN-test accuracy (real-data classifier on the accepted fakes\' '
            f'requested classes): {_fmt(syn["gan_test_accuracy"])}.', '',
            'D\'s scores of real images (the filter applied to real data):', '',
            '| split | images | mean realness | realness >= threshold | class agrees '
            '| would pass |', '|---|---|---|---|---|---|']
  for split, s in syn['real_score_distribution'].items():
    if s.get('count'):
      lines.append(f'| {split} | {s["count"]} | {_fmt(s["realness_mean"])} | '
                   f'{_fmt(s["fraction_realness_at_least_threshold"])} | '
                   f'{_fmt(s["fraction_class_agrees"])} | '
                   f'{_fmt(s["fraction_would_pass_filter"])} |')
  losses = gan['final_losses']
  lines += ['', '## GAN', '',
            f'{gan["steps"]} steps; final d_loss {_fmt(losses.get("d_loss"))}, '
            f'g_loss {_fmt(losses.get("g_loss"))}; '
            f'{_fmt(gan.get("images_per_sec"), 1)} images/s on '
            f'{gan.get("devices")} device(s).', '', '## Figures', '']
  lines += [f'- {name}: `{os.path.basename(path)}`'
            for name, path in report['figures'].items()]
  lines += ['', f'Per-image test predictions: `{report["predictions_file"]}`.', '']
  return '\n'.join(lines)


write_json = atomic_files.write_json
write_text = atomic_files.write_text


def _save_figure(fig, path: str, title: str, is_phantom: bool) -> None:
  """Titles (with the phantom banner where it applies), writes and closes `fig`."""
  fig.suptitle(title + (f'\n{visualize.PHANTOM_BANNER}' if is_phantom else ''),
               fontsize=10)
  fig.tight_layout()
  atomic_files.save_figure(fig, path, dpi=100)
  plt.close(fig)


def real_vs_synthetic_grid(path: str, real_images: np.ndarray, real_labels: np.ndarray,
                           synth_images: np.ndarray, synth_labels: np.ndarray,
                           class_names: Sequence[str], per_class: int,
                           is_phantom: bool) -> None:
  """Per class, a row of real training images above a row of accepted fakes."""
  rows, names = [], []
  blank = np.full((1,) + real_images.shape[1:], 255, np.uint8)
  for c, name in enumerate(class_names):
    for what, images, labels in (('real', real_images, real_labels),
                                 ('synthetic', synth_images, synth_labels)):
      chosen = images[np.flatnonzero(labels == c)[:per_class]]
      rows.append(chosen if len(chosen) else blank)
      names.append(f'{name} ({what})')
  title = 'real (training) vs accepted synthetic images'
  visualize.class_grid(rows, names, title + (f'   {visualize.PHANTOM_BANNER}'
                                             if is_phantom else ''), path)


def gan_curves(path: str, metrics_path: str, is_phantom: bool) -> None:
  """GAN losses and D's mean scores against the step, from metrics.jsonl."""
  rows = atomic_files.read_jsonl(metrics_path)
  steps = [r['step'] for r in rows]
  fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 3.5))
  for key in ('d_loss', 'g_loss'):
    ax_loss.plot(steps, [r[key] for r in rows], label=key)
  for key in ('d_real', 'd_fake', 'aux_acc_real', 'aux_acc_fake'):
    if rows and key in rows[0]:  # aux_* only for a D with a class head.
      ax_score.plot(steps, [r[key] for r in rows], label=key)
  for ax, name in ((ax_loss, 'loss'), (ax_score, 'D score / aux accuracy')):
    ax.set_xlabel('step')
    ax.set_ylabel(name)
    ax.legend(fontsize=8)
  _save_figure(fig, path, 'GAN training', is_phantom)


def classifier_curves(path: str, histories: Dict[str, List[Dict]],
                      is_phantom: bool) -> None:
  """Train/validation loss and validation accuracy of each arm against the step."""
  fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
  for arm, history in histories.items():
    steps = [h['step'] for h in history]
    line, = ax_loss.plot(steps, [h['val_loss'] for h in history], label=f'{arm} val')
    ax_loss.plot(steps, [h['train_loss'] for h in history], '--',
                 color=line.get_color(), label=f'{arm} train')
    ax_acc.plot(steps, [h['val_accuracy'] for h in history], label=f'{arm} val')
  ax_loss.set_ylabel('cross-entropy')
  ax_acc.set_ylabel('validation accuracy')
  for ax in (ax_loss, ax_acc):
    ax.set_xlabel('optimizer step')
    ax.legend(fontsize=8)
  _save_figure(fig, path, 'classifier training', is_phantom)


def confusion_matrices(path: str, matrices: Dict[str, List[List[int]]],
                       class_names: Sequence[str], is_phantom: bool) -> None:
  """Test confusion matrices side by side (rows = true class)."""
  fig, axes = plt.subplots(1, len(matrices), figsize=(4.5 * len(matrices), 4))
  axes = np.atleast_1d(axes)
  for ax, (arm, matrix) in zip(axes, matrices.items()):
    matrix = np.asarray(matrix)
    ax.imshow(matrix, cmap='Blues')
    for (i, j), v in np.ndenumerate(matrix):
      ax.text(j, i, str(v), ha='center', va='center',
              color='white' if v > matrix.max() / 2 else 'black')
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=30, ha='right', fontsize=8)
    ax.set_yticks(ticks, class_names, fontsize=8)
    ax.set_xlabel('predicted')
    ax.set_ylabel('true')
    ax.set_title(f'{arm} (test)')
  _save_figure(fig, path, 'confusion matrices', is_phantom)


def score_histogram(path: str, scores_path: str, threshold: float,
                    is_phantom: bool) -> None:
  """D's realness on all generated fakes vs real held-out images, with the threshold."""
  with np.load(scores_path) as scores:
    series = {'generated (all)': scores['generated']}
    for split in ('train', 'val', 'test'):
      if f'real_{split}' in scores.files:
        series[f'real {split}'] = scores[f'real_{split}']
  fig, ax = plt.subplots(figsize=(6.5, 3.5))
  bins = np.linspace(0, 1, 41)
  for name, values in series.items():
    if len(values):
      ax.hist(values, bins=bins, density=True, histtype='step', label=name)
  ax.axvline(threshold, color='k', linestyle=':', label=f'threshold {threshold:.3f}')
  ax.set_xlabel('realness sigmoid(D(x)), inference mode')
  ax.set_ylabel('density')
  ax.legend(fontsize=8)
  _save_figure(fig, path, 'discriminator scores', is_phantom)
