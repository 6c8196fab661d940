"""The report's figures as PNG files: one run's GAN, filter and classifiers, and the
protocol's arms (mean and 95 % interval over seeds) against each other and the
training fraction."""

import os
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')  # Files only; no display needed.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from gan_aug.core import atomic_files  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_aug.core import image_grids  # pylint: disable=g-import-not-at-top,wrong-import-position

# The metrics drawn per arm, where they were measured.
_DRAWN = ('accuracy', 'macro_f1', 'auc')


def _save_figure(fig, path: str, title: str, is_phantom: bool) -> None:
  """Titles (with the phantom banner where it applies), writes and closes `fig`."""
  fig.suptitle(title + (f'\n{image_grids.PHANTOM_BANNER}' if is_phantom else ''),
               fontsize=10)
  fig.tight_layout()
  atomic_files.save_figure(fig, path, dpi=100)
  plt.close(fig)


def real_vs_synthetic_grid(path: str, real_images: np.ndarray, real_labels: np.ndarray,
                           synth_images: np.ndarray, synth_labels: np.ndarray,
                           class_names: Sequence[str], per_class: int,
                           is_phantom: bool, generator: str = '') -> None:
  """Per class, a row of real training images above a row of accepted fakes
  (of `generator`, named in the title when given)."""
  rows, names = [], []
  blank = np.full((1,) + real_images.shape[1:], 255, np.uint8)
  for c, name in enumerate(class_names):
    for what, images, labels in (('real', real_images, real_labels),
                                 ('synthetic', synth_images, synth_labels)):
      chosen = images[np.flatnonzero(labels == c)[:per_class]]
      rows.append(chosen if len(chosen) else blank)
      names.append(f'{name} ({what})')
  title = 'real (training) vs accepted synthetic images' + (
      f' of {generator}' if generator else '')
  image_grids.class_grid(rows, names, title + (f'   {image_grids.PHANTOM_BANNER}'
                                               if is_phantom else ''), path)


def generator_curves(path: str, metrics_path: str,
                     metrics: Sequence[Tuple[str, str]], is_phantom: bool) -> None:
  """The generator's training curves against the step, from metrics.jsonl:
  `metrics` are the (key, panel) pairs its family declares, panel 'loss' on the
  left and the others ('score') on the right; a key a run did not log is left
  out (e.g. an ACGAN's class-head accuracy for a D without one)."""
  rows = atomic_files.read_jsonl(metrics_path)
  steps = [r['step'] for r in rows]
  fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 3.5))
  for key, panel in metrics:
    if rows and key in rows[0]:
      ax = ax_loss if panel == 'loss' else ax_score
      ax.plot(steps, [r[key] for r in rows], label=key)
  for ax, name in ((ax_loss, 'loss'), (ax_score, 'score')):
    ax.set_xlabel('step')
    ax.set_ylabel(name)
    if ax.lines:
      ax.legend(fontsize=8)
  _save_figure(fig, path, 'generator training', is_phantom)


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


def score_histogram(path: str, scores_path: str, threshold: Optional[float],
                    is_phantom: bool, score_name: str = 'realness sigmoid(D(x)), '
                    'inference mode') -> None:
  """D's realness on all generated fakes vs real held-out images, with the
  threshold (none: no line); `score_name` labels the axis."""
  with np.load(scores_path) as scores:
    series = {'generated (all)': scores['generated']}
    for split in ('train', 'val', 'test'):
      if f'real_{split}' in scores.files:
        series[f'real {split}'] = scores[f'real_{split}']
  fig, ax = plt.subplots(figsize=(6.5, 3.5))
  everything = np.concatenate(list(series.values()) + [np.zeros((0,))])
  everything = everything[np.isfinite(everything)]
  low, high = 0.0, 1.0  # A probability's range, widened for an unbounded score.
  if len(everything):
    low, high = min(low, float(everything.min())), max(high, float(everything.max()))
  bins = np.linspace(low, high, 41)
  for name, values in series.items():
    if len(values):
      ax.hist(values, bins=bins, density=True, histtype='step', label=name)
  if threshold is not None:
    ax.axvline(threshold, color='k', linestyle=':', label=f'threshold {threshold:.3f}')
  ax.set_xlabel(score_name)
  ax.set_ylabel('density')
  ax.legend(fontsize=8)
  _save_figure(fig, path, 'discriminator scores', is_phantom)


def protocol_figures(figures_dir: str, result: Dict) -> Dict[str, str]:
  """Per-arm bars with 95 % intervals, one panel per fraction, and with several
  fractions the per-fraction curves; {name: path}."""
  os.makedirs(figures_dir, exist_ok=True)
  first = next(iter(result['arms'].values()))
  metrics = [m for m in _DRAWN if m in next(iter(first.values()))]
  fractions = result['protocol']['fractions']
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
    ax.set_xticks([float(f) for f in result['protocol']['fractions']], result['protocol']['fractions'])
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
