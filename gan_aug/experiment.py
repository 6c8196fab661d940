"""Experiments a reviewer can trust: arms x seeds x training fractions, with intervals.

    python -m gan_aug.experiment --config=configs/pneumonia_lowdata.py --workdir=DIR

For every training fraction and seed, the training split is cut to a stratified,
seeded subset (nested: a smaller fraction's subset lies inside a larger one's for
the same seed); the GAN is trained on that subset, its filtered fakes generated,
and then every arm's classifier is trained in lockstep - same model, same
initial weights, same number of optimizer steps, early stopping on the same real
validation split - and tested on every real test image. Arms:

  real           real training images only
  classical      real + classical augmentation on device (`gan_aug.augment`)
  gan            real + accepted synthetic images
  gan_classical  both
  gan_only       synthetic images only, tested on real ones (GAN-train)
  borders_only   a shortcut control: real images with the central field blanked
                 out (a frame of `experiment.borders_only_frame` of each side kept),
                 in training, validation and test alike. Accuracy well above the
                 majority-class rate means the classes can be told apart without
                 the lungs - by source, scanner or text marks (DeGrave et al. 2021)
                 - and the other arms' comparison may rest on such shortcuts.
GAN-test (the `real` classifier's accuracy on the accepted fakes) is reported
whenever a GAN arm runs, and so are the accepted fakes' KID (+ std over subsets),
FID and precision/recall against the real test images, overall and per class,
and a memorisation check (`gan_aug.metrics.features`), all in the feature space
of the `real` arm's classifier (its penultimate layer).

`experiment.json`: `arms.<arm>.<fraction>.<metric>` -> {mean, ci95, values} over
seeds (ci95 = half-width of the 95 % Student-t interval),
`paired.<a>_minus_<b>.<fraction>.<metric>` -> {mean, ci95, values} of per-seed
differences, `mcnemar.gan_vs_real.<fraction>` -> McNemar's exact test per seed on
the test images, `synthetic_quality.<fraction>.<kid|kid_std|fid|precision|recall|
fraction_suspicious>` -> {mean, ci95, values} (per seed and class in `runs`), and
with `experiment.inception_weights` set the same in Inception-v3's pool3 space as
`synthetic_quality_inception`. `experiment.md` has the tables, `figures/` the bars
(and, with several fractions, the per-fraction curves).

`experiment.filter_sweep` (name -> config.synthesis overrides) runs the experiment
once per filter setting on the same GANs and writes `filter_sweep.json` / `.md`:
downstream metrics against the threshold, "no filter" included.
Every (fraction, seed) is a stage folder of its own: a rerun resumes or skips.
"""

import os
from typing import Dict, List, Optional

import ml_collections
import numpy as np
from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags
from sklearn import metrics as sk_metrics

from gan_aug import augment
from gan_aug import cli
from gan_aug import compare
from gan_aug import config_validation
from gan_aug import data as data_lib
from gan_aug import errors
from gan_aug import experiment_report
from gan_aug import pipeline
from gan_aug import provenance
from gan_aug import report
from gan_aug import synth
from gan_aug import visualize
from gan_aug.metrics import features as features_lib
from gan_aug.metrics import inception_features
from gan_aug.metrics import intervals
from gan_aug.models import classifiers
from gan_aug.models.backbones import inception_fid
from gan_aug.train import classifier as classifier_lib
from gan_aug.train import sharding

ARMS = ('real', 'classical', 'gan', 'gan_classical', 'gan_only', 'borders_only')
_GAN_ARMS = ('gan', 'gan_classical', 'gan_only')
_CLASSICAL_ARMS = ('classical', 'gan_classical')
# Paired comparisons reported when both arms ran: (a, b) -> a - b.
PAIRS = (('classical', 'real'), ('gan', 'real'), ('gan_classical', 'real'),
         ('gan_only', 'real'), ('gan', 'classical'), ('gan_classical', 'classical'))


# Overall generative metrics summarised over seeds in experiment.json.
QUALITY_METRICS = ('kid', 'kid_std', 'fid', 'precision', 'recall')


def experiment_defaults(**values) -> ml_collections.ConfigDict:
  """config.experiment: which arms, how many seeds, which training fractions."""
  cfg = ml_collections.ConfigDict({
      'arms': ('real', 'classical', 'gan', 'gan_classical'),
      'seeds': 3,
      'fractions': (1.0,),
      'classical': augment.classical_config(),
      # borders_only arm: the share of each side kept as a frame around the
      # blanked centre (0.15: the central 70 % x 70 % is zeroed).
      'borders_only_frame': 0.15,
      # name -> overrides of config.gan: the whole experiment runs once per
      # variant (workdir/<name>/) and variants.md compares them. Empty: one run.
      'gan_variants': {},
      # name -> overrides of config.synthesis (the filter): the experiment runs
      # once per setting on the same GANs (workdir/filter_sweep/<name>/) and
      # filter_sweep.md gives downstream metrics against the filter. Empty: none.
      'filter_sweep': {},
      # Converted pytorch-fid Inception weights (scripts/convert_inception_fid.py):
      # when set, the synthetic set's metrics are also computed in its pool3
      # feature space, at inception_image_size px (299 for FID as published).
      'inception_weights': '',
      'inception_image_size': 299,
  })
  cfg.update(values)
  return cfg


def validate(config: ml_collections.ConfigDict) -> None:
  """The pipeline's checks plus the experiment block's."""
  config_validation.validate(config)
  exp = config.get('experiment')
  if exp is None:
    raise errors.ConfigError(
        'config.experiment is missing: an experiment config needs arms, seeds and '
        'fractions (see gan_aug.experiment.experiment_defaults).')
  arms = tuple(exp.arms)
  unknown = [a for a in arms if a not in ARMS]
  if unknown or not arms or len(set(arms)) != len(arms):
    raise errors.ConfigError(
        f'config.experiment.arms={arms!r} is not allowed: distinct names from '
        f'{ARMS}.')
  if 'real' not in arms:
    raise errors.ConfigError(
        'config.experiment.arms must include real: every comparison is against it.')
  seeds = exp.seeds
  if not isinstance(seeds, int) or seeds < 1:
    raise errors.ConfigError(
        f'config.experiment.seeds={seeds!r} is not allowed: an integer >= 1 (3 or '
        'more for an interval that means something).')
  frame = exp.get('borders_only_frame', 0.15)
  if not isinstance(frame, (int, float)) or not 0 < frame < 0.5:
    raise errors.ConfigError(
        f'config.experiment.borders_only_frame={frame!r} is not allowed: a number in '
        '(0, 0.5), the share of each side kept around the blanked centre.')
  fractions = tuple(exp.fractions)
  if not fractions or any(not 0 < float(f) <= 1 for f in fractions):
    raise errors.ConfigError(
        f'config.experiment.fractions={fractions!r} is not allowed: numbers in '
        '(0, 1].')
  weights = exp.get('inception_weights', '')
  if weights and not os.path.isfile(weights):
    raise errors.ConfigError(
        f'config.experiment.inception_weights={weights!r}: no such file. Make it from '
        f'pytorch-fid\'s {inception_features.PTH_NAME} with '
        'scripts/convert_inception_fid.py, or set it to \'\' for the classifier\'s '
        'feature space only.')
  size = exp.get('inception_image_size', 299)
  if not isinstance(size, int) or size < inception_fid.FIDInceptionV3.min_resolution:
    raise errors.ConfigError(
        f'config.experiment.inception_image_size={size!r} is not allowed: an integer '
        f'>= {inception_fid.FIDInceptionV3.min_resolution} (299 for FID as published).')
  if exp.get('gan_variants') and exp.get('filter_sweep'):
    raise errors.ConfigError(
        'config.experiment.gan_variants and config.experiment.filter_sweep are both '
        'set: sweep the filter for one GAN recipe at a time (set one of them to {}).')


def fraction_key(fraction: float) -> str:
  """A fraction as experiment.json names it: '0.1', '1.0'."""
  return repr(float(fraction))


def blank_centre(images: np.ndarray, frame: float) -> np.ndarray:
  """A copy of [N, H, W, C] `images` with all but a frame of `frame` x each side zeroed."""
  out = np.array(images, copy=True)
  height, width = out.shape[1:3]
  top, left = int(round(height * frame)), int(round(width * frame))
  out[:, top:height - top, left:width - left] = 0
  return out


def _test_metrics(labels: np.ndarray, probs: np.ndarray,
                  class_names: List[str]) -> Dict:
  predicted = np.argmax(probs, -1)
  recall = sk_metrics.recall_score(labels, predicted, labels=range(len(class_names)),
                                   average=None, zero_division=0)
  result = {
      'accuracy': float(sk_metrics.accuracy_score(labels, predicted)),
      'macro_f1': float(sk_metrics.f1_score(labels, predicted,
                                            labels=range(len(class_names)),
                                            average='macro', zero_division=0)),
      **{f'recall_{name}': float(r) for name, r in zip(class_names, recall)},
  }
  if len(class_names) == 2 and len(np.unique(labels)) == 2:
    result['auc'] = float(sk_metrics.roc_auc_score(labels, probs[:, 1]))
  return result


def train_and_test_arms(config: ml_collections.ConfigDict, dataset: data_lib.Dataset,
                        synth_images: Optional[np.ndarray],
                        synth_labels: Optional[np.ndarray], stage_dir: str) -> Dict:
  """Trains every configured arm in lockstep on `dataset`; test metrics per arm."""
  cfg, arms = config.classifier, tuple(config.experiment.arms)
  mesh = sharding.make_mesh()
  resolution = cfg.resolution
  train, val, test = (dataset.splits[s] for s in ('train', 'val', 'test'))
  real_x = compare.prepare(train.images, resolution)
  real_y = np.asarray(train.labels, np.int32)
  synth_x = (compare.prepare(synth_images, resolution) if synth_images is not None
             else real_x[:0])
  synth_y = (np.asarray(synth_labels, np.int32) if synth_labels is not None
             else real_y[:0])
  if any(a in _GAN_ARMS for a in arms) and not len(synth_x):
    logging.warning('No synthetic image was accepted: the gan arms train on the '
                    'real images alone and gan_only cannot run.')
  with_synth = (np.concatenate([real_x, synth_x]), np.concatenate([real_y, synth_y]))
  data = {'real': (real_x, real_y), 'classical': (real_x, real_y),
          'gan': with_synth, 'gan_classical': with_synth, 'gan_only': (synth_x, synth_y)}
  arm_data = {a: data[a] for a in arms if a in data and len(data[a][0])}
  classical = augment.make_classical_augment(config.experiment.classical)
  augmenters = {a: classical for a in arm_data if a in _CLASSICAL_ARMS}
  steps_per_epoch = cfg.steps_per_epoch or len(train) // cfg.batch_size
  logging.info('Arms %s: %d real training images, %d synthetic; %d steps per '
               'epoch for every arm.', list(arm_data), len(real_x), len(synth_x),
               steps_per_epoch)
  model = classifiers.build_classifier(cfg, dataset.num_classes, cfg.name)
  variables, trainable, _ = compare.initial_weights(cfg, model, cfg.name,
                                                    config.seed, real_x.shape[1:])
  trained = classifier_lib.train_arms(
      cfg, model, arm_data, (compare.prepare(val.images, resolution), val.labels),
      steps_per_epoch, config.seed, mesh, variables, trainable,
      checkpoint_dir=os.path.join(stage_dir, 'checkpoints'), augment=augmenters)
  predict = classifier_lib.make_predict(model, mesh)
  test_x = compare.prepare(test.images, resolution)
  results = {}
  for arm, run in trained.items():
    probs = classifier_lib.predict_probs(predict, run['params'], run['batch_stats'],
                                         test_x, cfg.eval_batch_size)
    results[arm] = {
        'test': _test_metrics(test.labels, probs, dataset.class_names),
        'test_correct': (np.argmax(probs, -1) == test.labels).astype(int).tolist(),
        'steps': run['steps'], 'best_step': run['best_step'],
        'train_images': run['num_train_images'],
    }
    logging.info('arm %-14s test accuracy %.4f  macro-F1 %.4f', arm,
                 results[arm]['test']['accuracy'], results[arm]['test']['macro_f1'])
  if 'borders_only' in arms:
    results['borders_only'] = _borders_only_arm(
        config, model, mesh, variables, trainable, (real_x, real_y),
        (compare.prepare(val.images, resolution), val.labels), (test_x, test.labels),
        steps_per_epoch, dataset.class_names, stage_dir)
  gan_test, quality = None, None
  if len(synth_x) and 'real' in trained:
    fake_probs = classifier_lib.predict_probs(
        predict, trained['real']['params'], trained['real']['batch_stats'], synth_x,
        cfg.eval_batch_size)
    gan_test = float(np.mean(np.argmax(fake_probs, -1) == synth_y))
    quality = _synthetic_quality(model, mesh, trained['real'], cfg.eval_batch_size,
                                 (real_x, real_y), (test_x, test.labels),
                                 (synth_x, synth_y), dataset.class_names, stage_dir,
                                 config.seed)
  inception_quality = None
  if len(synth_x) and config.experiment.get('inception_weights'):
    inception_quality = inception_set_report(
        config.experiment, (train.images, real_y), (test.images, test.labels),
        (synth_images, synth_y), dataset.class_names, config.seed)
  return {'arms': results, 'gan_test_accuracy': gan_test, 'synthetic_quality': quality,
          **({'synthetic_quality_inception': inception_quality}
             if inception_quality is not None else {}),
          'synthetic_images': int(len(synth_x)), 'real_images': int(len(real_x))}


def inception_set_report(exp: ml_collections.ConfigDict, train, heldout, fakes,
                         class_names: List[str], seed: int) -> Dict:
  """`features_lib.synthetic_set_report` of (images, labels) sets in the pool3
  space of pytorch-fid's Inception-v3 (weights: exp.inception_weights)."""
  extract = inception_features.make_extractor(
      inception_features.load_inception(exp.inception_weights),
      image_size=exp.inception_image_size)
  logging.info('Inception features of %d training, %d held-out and %d synthetic '
               'images at %d px.', len(train[0]), len(heldout[0]), len(fakes[0]),
               exp.inception_image_size)
  feats = [extract(images) for images, _ in (train, heldout, fakes)]
  quality = features_lib.synthetic_set_report(
      feats[0], np.asarray(train[1]), feats[1], np.asarray(heldout[1]), feats[2],
      np.asarray(fakes[1]), class_names, seed=seed)
  quality['feature_space'] = (f'pool3 of pytorch-fid\'s Inception-v3 at '
                              f'{exp.inception_image_size} px')
  quality['heldout'] = 'real test images'
  return quality


def _borders_only_arm(config, model, mesh, variables, trainable, train, val, test,
                      steps_per_epoch: int, class_names: List[str],
                      stage_dir: str) -> Dict:
  """The shortcut control: the same classifier, steps and initial weights, trained,
  validated and tested on images whose centre is blanked out."""
  cfg, frame = config.classifier, config.experiment.borders_only_frame
  blank = lambda images: blank_centre(images, frame)
  run = classifier_lib.train_arms(
      cfg, model, {'borders_only': (blank(train[0]), train[1])},
      (blank(val[0]), val[1]), steps_per_epoch, config.seed, mesh, variables,
      trainable, checkpoint_dir=os.path.join(stage_dir, 'checkpoints_borders_only'),
  )['borders_only']
  probs = classifier_lib.predict_probs(classifier_lib.make_predict(model, mesh),
                                       run['params'], run['batch_stats'],
                                       blank(test[0]), cfg.eval_batch_size)
  labels = np.asarray(test[1])
  result = {'test': _test_metrics(labels, probs, class_names),
            'test_correct': (np.argmax(probs, -1) == labels).astype(int).tolist(),
            'steps': run['steps'], 'best_step': run['best_step'],
            'train_images': run['num_train_images'], 'frame': frame,
            'majority_class_rate': float(np.bincount(labels).max() / len(labels))}
  logging.info('arm %-14s test accuracy %.4f (majority class %.4f): centre blanked, '
               'frame %.2f of each side.', 'borders_only', result['test']['accuracy'],
               result['majority_class_rate'], frame)
  return result


def _synthetic_quality(model, mesh, real_run: Dict, batch_size: int, train, heldout,
                       fakes, class_names: List[str], stage_dir: str,
                       seed: int) -> Dict:
  """KID/FID/precision-recall and memorisation of the accepted fakes, in the
  feature space of the `real` arm's classifier; a grid of the closest pairs."""
  extract = classifier_lib.make_features(model, mesh)
  feats = [classifier_lib.features_of(extract, real_run['params'],
                                      real_run['batch_stats'], images, batch_size)
           for images, _ in (train, heldout, fakes)]
  quality = features_lib.synthetic_set_report(
      feats[0], np.asarray(train[1]), feats[1], np.asarray(heldout[1]), feats[2],
      np.asarray(fakes[1]), class_names, seed=seed)
  quality['feature_space'] = 'penultimate layer of the real arm\'s classifier'
  quality['heldout'] = 'real test images'
  pairs = quality.get('memorisation', {}).get('closest_pairs', [])
  if pairs:
    path = os.path.join(stage_dir, 'closest_pairs.png')
    visualize.class_grid(
        [fakes[0][[p['fake_index'] for p in pairs]],
         train[0][[p['train_index'] for p in pairs]]],
        ['synthetic', 'nearest real'],
        'Accepted fakes closest to a real training image (feature space), and that '
        'image', path)
    quality['closest_pairs_grid'] = path
  logging.info('Synthetic set: KID %.4g +- %.2g against %d real test images; %.1f %% '
               'of fakes closer to a training image than 99 %% of real test images '
               'are.', quality.get('overall', {}).get('kid', float('nan')),
               quality.get('overall', {}).get('kid_std', float('nan')),
               len(heldout[0]),
               100 * quality.get('memorisation', {}).get('fraction_suspicious',
                                                         float('nan')))
  return quality


def _run_one(config: ml_collections.ConfigDict, full: data_lib.Dataset,
             fraction: float, seed_index: int, workdir: str) -> Dict:
  """GAN, synthesis and every arm for one (fraction, seed)."""
  trial_config = pipeline.trial_config(config, seed_index)
  dataset = data_lib.keep_training_fraction(full, fraction, trial_config.seed)
  logging.info('Fraction %s, seed %d: %d of %d training images.', fraction,
               trial_config.seed, len(dataset.splits['train']),
               len(full.splits['train']))
  data_fp = pipeline.data_fingerprint(dataset)
  pipeline.check_batch_sizes(trial_config, len(dataset.splits['train']))
  synth_fp, synth_images, synth_labels, synth_summary = None, None, None, None
  if any(a in _GAN_ARMS for a in config.experiment.arms):
    gan_key, _, gan_dir = pipeline.gan_stage(trial_config, dataset, data_fp, workdir)
    synth_key, synth_summary, synth_dir = pipeline.synthesis_stage(
        trial_config, dataset, gan_key, gan_dir, workdir)
    synth_fp = pipeline.fingerprint(synth_key)
    synth_images, synth_labels, _ = synth.load_set(synth_dir)
  key = {'stage': 'arms', 'data_fingerprint': data_fp, 'synthesis_stage': synth_fp,
         'seed': trial_config.seed, 'arms': list(config.experiment.arms),
         'classical': config.experiment.classical.to_dict(),
         **({'borders_only_frame': config.experiment.borders_only_frame}
            if 'borders_only' in config.experiment.arms else {}),
         **({'inception': [config.experiment.inception_weights,
                           config.experiment.inception_image_size]}
            if config.experiment.get('inception_weights') else {}),
         'classifier': pipeline.classifier_stage_key(trial_config, '')['classifier']}
  result, stage_dir = pipeline.run_stage(
      workdir, 'arms', key, lambda stage_dir: train_and_test_arms(
          trial_config, dataset, synth_images, synth_labels, stage_dir))
  return {**result, 'seed': trial_config.seed, 'fraction': fraction,
          'train_images': len(dataset.splits['train']), 'stage': stage_dir,
          'synthesis': None if synth_summary is None else {
              **{k: synth_summary[k] for k in ('accepted', 'requested', 'generated',
                                               'passed', 'acceptance_rate',
                                               'threshold')},
              'real_scores': _real_scores(synth_summary)}}


def _real_scores(synth_summary: Dict) -> Dict:
  """D's scores of real validation and test images, beside the filter's threshold."""
  out = {}
  for split, dist in synth_summary.get('real_score_distribution', {}).items():
    if split in ('val', 'test'):
      q = dist['realness_quantiles']
      out[split] = {'median': q['0.5'], 'q05': q['0.05'], 'q95': q['0.95'],
                    'fraction_at_least_threshold':
                        dist['fraction_realness_at_least_threshold']}
  return out


def summarise(runs: List[Dict], arms, fractions) -> Dict:
  """experiment.json's `arms`, `paired`, `mcnemar` and `gan_test` from per-seed runs."""
  out = {'arms': {}, 'paired': {}, 'mcnemar': {}, 'gan_test': {},
         'synthetic_quality': {}}
  for fraction in fractions:
    fkey = fraction_key(fraction)
    mine = sorted((r for r in runs if r['fraction'] == fraction),
                  key=lambda r: r['seed'])
    present = [a for a in arms if all(a in r['arms'] for r in mine)]
    for arm in present:
      metric_names = mine[0]['arms'][arm]['test'].keys()
      out['arms'].setdefault(arm, {})[fkey] = {
          m: intervals.mean_ci95([r['arms'][arm]['test'][m] for r in mine])
          for m in metric_names}
    for a, b in PAIRS:
      if a in present and b in present:
        out['paired'].setdefault(f'{a}_minus_{b}', {})[fkey] = {
            m: intervals.paired_difference(
                [r['arms'][a]['test'][m] for r in mine],
                [r['arms'][b]['test'][m] for r in mine])
            for m in mine[0]['arms'][a]['test']}
    if 'gan' in present:
      out['mcnemar'].setdefault('gan_vs_real', {})[fkey] = [
          {'seed': r['seed'], **intervals.mcnemar(r['arms']['gan']['test_correct'],
                                                  r['arms']['real']['test_correct'])}
          for r in mine]
    gan_tests = [r['gan_test_accuracy'] for r in mine
                 if r['gan_test_accuracy'] is not None]
    if gan_tests:
      out['gan_test'][fkey] = intervals.mean_ci95(gan_tests)
    for name in ('synthetic_quality', 'synthetic_quality_inception'):
      qualities = [r.get(name) or {} for r in mine]
      if qualities and all('overall' in q for q in qualities):
        out.setdefault(name, {})[fkey] = {
            **{m: intervals.mean_ci95([q['overall'][m] for q in qualities])
               for m in QUALITY_METRICS if all(m in q['overall'] for q in qualities)},
            'fraction_suspicious': intervals.mean_ci95(
                [q['memorisation']['fraction_suspicious'] for q in qualities])}
  return out


def run_experiment(config: ml_collections.ConfigDict, workdir: str,
                   stages_workdir: Optional[str] = None) -> Dict:
  """Runs every (fraction, seed) and writes experiment.json / .md and figures.

  Stage folders go under `stages_workdir` (default `workdir`): experiments that
  share it reuse each other's GAN and synthesis stages where their keys match.
  """
  validate(config)
  os.makedirs(workdir, exist_ok=True)
  stages_workdir = stages_workdir or workdir
  report.write_json(os.path.join(workdir, 'config.json'), config.to_dict())
  full = data_lib.load_dataset(config.data, config.seed)
  exp = config.experiment
  fractions = [float(f) for f in exp.fractions]
  runs = []
  for fraction in fractions:
    for seed_index in range(exp.seeds):
      runs.append(_run_one(config, full, fraction, seed_index, stages_workdir))
  result = {
      'dataset': {**full.summary(), 'test_images': len(full.splits['test'])},
      'arms_run': list(exp.arms), 'seeds': [r['seed'] for r in runs
                                            if r['fraction'] == fractions[0]],
      'fractions': [fraction_key(f) for f in fractions],
      'classifier': {'name': config.classifier.name,
                     'resolution': config.classifier.resolution},
      **summarise(runs, exp.arms, fractions),
      'runs': [{k: v for k, v in r.items() if k != 'arms'} | {
          'arms': {a: {k: v for k, v in arm.items() if k != 'test_correct'}
                   for a, arm in r['arms'].items()}} for r in runs],
      'provenance': provenance.collect(config),
  }
  result['figures'] = experiment_report.write_figures(
      os.path.join(workdir, 'figures'), result)
  report.write_json(os.path.join(workdir, 'experiment.json'), result)
  report.write_text(os.path.join(workdir, 'experiment.md'),
                    experiment_report.markdown(result))
  logging.info('Experiment: %s (and experiment.md, figures/).',
               os.path.join(workdir, 'experiment.json'))
  return result


def _with_overrides(config: ml_collections.ConfigDict, block: str, sweep: str,
                    name: str) -> ml_collections.ConfigDict:
  """`config` with config.experiment.<sweep>[name]'s overrides of config.<block>,
  and no sweep left in it."""
  overrides = config.experiment[sweep][name]
  unknown = sorted(set(overrides) - set(config[block]))
  if unknown:
    raise errors.ConfigError(
        f'config.experiment.{sweep}.{name} sets {unknown}, which config.{block} '
        'does not have.')
  out = ml_collections.ConfigDict(config.to_dict())
  out[block].update(dict(overrides))
  out.experiment.gan_variants = {}
  out.experiment.filter_sweep = {}
  return out


def variant_config(config: ml_collections.ConfigDict,
                   name: str) -> ml_collections.ConfigDict:
  """`config` with GAN variant `name`'s overrides of config.gan applied."""
  return _with_overrides(config, 'gan', 'gan_variants', name)


def filter_config(config: ml_collections.ConfigDict,
                  name: str) -> ml_collections.ConfigDict:
  """`config` with filter setting `name`'s overrides of config.synthesis applied."""
  return _with_overrides(config, 'synthesis', 'filter_sweep', name)


def run_variants(config: ml_collections.ConfigDict, workdir: str,
                 only: Optional[List[str]] = None) -> Dict:
  """The whole experiment once per GAN variant (workdir/<variant>/), then
  `variants.json` / `variants.md` side by side.

  `only` restricts the run to those variants (e.g. one per machine); a later run
  of all of them reuses every finished stage.
  """
  names = list(config.experiment.gan_variants)
  # The paper's recipe first, the others in the config's order.
  names = sorted(names, key=lambda n: n != 'paper')
  if only:
    unknown = sorted(set(only) - set(names))
    if unknown:
      raise errors.ConfigError(
          f'--variants={",".join(only)}: {unknown} not in '
          f'config.experiment.gan_variants ({", ".join(names)}).')
    names = [n for n in names if n in only]
  configs = {name: variant_config(config, name) for name in names}
  for variant in configs.values():
    validate(variant)
  results = {}
  for name in names:
    logging.info('GAN variant %s: config.gan overrides %s', name,
                 dict(config.experiment.gan_variants[name]))
    results[name] = run_experiment(configs[name], os.path.join(workdir, name))
  comparison = experiment_report.variant_comparison(
      results, {n: dict(config.experiment.gan_variants[n]) for n in names})
  report.write_json(os.path.join(workdir, 'variants.json'), comparison)
  report.write_text(os.path.join(workdir, 'variants.md'),
                    experiment_report.variants_markdown(comparison))
  logging.info('GAN variants compared: %s (and variants.md).',
               os.path.join(workdir, 'variants.json'))
  return comparison


def _mean_threshold(result: Dict) -> float:
  thresholds = [r['synthesis']['threshold'] for r in result['runs']
                if r.get('synthesis')]
  return float(np.mean(thresholds)) if thresholds else 0.0


def run_filter_sweep(config: ml_collections.ConfigDict, workdir: str) -> Dict:
  """The experiment once per filter setting of config.experiment.filter_sweep, on
  the same GANs, then `filter_sweep.json` / `.md` and `figures/filter_sweep.png`.

  Every setting's stages live in `workdir/stages`, so the GAN of each (fraction,
  seed) is trained once, and a setting equal to config.synthesis reuses the plain
  experiment's stages run in the same workdir.
  """
  names = list(config.experiment.filter_sweep)
  configs = {name: filter_config(config, name) for name in names}
  for setting in configs.values():
    validate(setting)
  results = {}
  for name in names:
    logging.info('Filter setting %s: config.synthesis overrides %s', name,
                 dict(config.experiment.filter_sweep[name]))
    results[name] = run_experiment(
        configs[name], os.path.join(workdir, 'filter_sweep', name),
        stages_workdir=workdir)
  # From the most permissive setting to the strictest (config keys are sorted
  # alphabetically, which means nothing here).
  names.sort(key=lambda n: (_mean_threshold(results[n]),
                            configs[n].synthesis.require_class_agreement))
  sweep = experiment_report.filter_sweep_summary(
      {n: results[n] for n in names},
      {n: dict(config.experiment.filter_sweep[n]) for n in names})
  sweep['figure'] = experiment_report.write_filter_sweep_figure(
      os.path.join(workdir, 'figures'), sweep)
  report.write_json(os.path.join(workdir, 'filter_sweep.json'), sweep)
  report.write_text(os.path.join(workdir, 'filter_sweep.md'),
                    experiment_report.filter_sweep_markdown(sweep))
  logging.info('Filter sweep: %s (and filter_sweep.md).',
               os.path.join(workdir, 'filter_sweep.json'))
  return sweep


def run(config: ml_collections.ConfigDict, workdir: str,
        only_variants: Optional[List[str]] = None) -> Dict:
  """run_variants when config.experiment.gan_variants is set, run_filter_sweep
  when config.experiment.filter_sweep is, else run_experiment."""
  if config.experiment.get('gan_variants'):
    return run_variants(config, workdir, only_variants)
  if config.experiment.get('filter_sweep'):
    validate(config)
    return run_filter_sweep(config, workdir)
  return run_experiment(config, workdir)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.set_up_logging()
  result = cli.run_or_exit(run, flags.FLAGS.config, flags.FLAGS.workdir,
                           flags.FLAGS.variants)
  if 'variants' in result:
    print(experiment_report.variants_markdown(result))
  elif 'settings' in result:
    print(experiment_report.filter_sweep_markdown(result))
  else:
    print(experiment_report.summary_line(result))


if __name__ == '__main__':
  # Defined here, not at import, so that tests can import this module beside
  # gan_aug.main (absl flags are global).
  config_flags.DEFINE_config_file(
      'config', None, 'Path to an experiment config, optionally with :variant.',
      lock_config=True)
  flags.DEFINE_string('workdir', None, 'Folder for all outputs.')
  flags.DEFINE_list('variants', None, 'Run only these of config.experiment.'
                    'gan_variants (default: all).')
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main)
