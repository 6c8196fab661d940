"""Synthesis and filtering: restore a trained GAN, generate per class, keep convincing fakes.

For each class, latents are drawn in large jitted batches; D scores every fake in
inference mode (running batch-norm statistics, no dropout) exactly as it will be
stored (quantised to uint8), and a fake is kept when the family's score (for a GAN,
its objective's: sigmoid(D) under bce, D itself under hinge and lsgan) >=
`threshold` (-inf in 'none' mode) and, if required (ACGAN), D's class head
predicts the requested class. Per-class GANs score each fake with its own class's D; a
conditional D (CGAN) scores it given the requested class. A class stops when it
has its target or when its attempt cap is spent.

Every image is reproducible: its latent is
  normal(fold_in(fold_in(fold_in(fold_in(PRNGKey(seed), SALT), step), class), index))
for the checkpoint step, class and latent index recorded in the manifest.

The accepted set is written and published by `gan_aug.synthesis.accepted_set`: atomically,
and class by class under `progress/`, so a rerun after a crash continues with
the next class (latents are indexed, so the result is the same).
"""

import dataclasses
import math
import os
import shutil
import time
from typing import Callable, Dict, List, Optional, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import Mesh

from gan_aug.core import atomic_files
from gan_aug.core.errors import SynthesisError
from gan_aug.data import Dataset
from gan_aug.generator import family as family_lib
from gan_aug.generator import images as images_lib
from gan_aug.models import conv_layers
from gan_aug.runtime import preemption
from gan_aug.runtime import sharding
from gan_aug.runtime import watchdog
from gan_aug.runtime.checkpoint import Checkpointer
from gan_aug.synthesis import accepted_set
from gan_aug.synthesis import agreement as agreement_lib
from gan_aug.synthesis import filter as synthesis_filter
from gan_aug.synthesis import real_scores

_SALT = 0x5A17  # Separates synthesis latents from the training run's keys.
# What `filter` says when the generator family has no scorer.
NO_FILTER = 'none (the generator family has no scorer: every sample is kept)'


def latent_class_key(seed: int, step: int, label: int) -> jax.Array:
  """The key whose fold_in with a latent index gives that image's latent."""
  key = jax.random.fold_in(jax.random.PRNGKey(seed), _SALT)
  return jax.random.fold_in(jax.random.fold_in(key, step), label)


def make_scorer(family: family_lib.Family, networks, mesh: Mesh):
  """Jitted `(state, images_u8, labels) -> (score, class probs)` from the family's
  scorer in its inference form (class probabilities None without a class head)."""
  scorer = family.make_scorer(networks, conv_layers.inference_form)

  def score(state, images_u8, labels):
    x = sharding.shard_batch(images_lib.to_unit(images_u8), mesh)
    labels = sharding.shard_batch(labels, mesh)
    return scorer.labelled(state, x, labels)

  return jax.jit(score)


def make_generate_and_score(family: family_lib.Family, networks, mesh: Mesh,
                            batch_size: int, latent_dim: int):
  """Jitted `(state, class_key, start, label) -> (images_u8, score, class probs)`.

  Latent i of the batch is normal(fold_in(class_key, start + i)); the family's
  sampler and scorer run in their inference form, the scorer on the images as
  they are stored (quantised to uint8).
  """
  sampler = family.make_sampler(networks, conv_layers.inference_form)
  scorer = (family.make_scorer(networks, conv_layers.inference_form)
            if family.make_scorer else None)

  def generate(state, class_key, start, label):
    indices = start + jnp.arange(batch_size)
    z = jax.vmap(lambda i: jax.random.normal(
        jax.random.fold_in(class_key, i), (latent_dim,), images_lib.float_dtype()))(indices)
    z = sharding.shard_batch(z, mesh)
    images_u8 = images_lib.to_uint8(sampler.one_class(state, z, label))
    if scorer is None:  # No filter: every sample passes.
      return images_u8, jnp.ones((batch_size,), jnp.float32), None
    realness, class_probs = scorer.one_class(state, images_lib.to_unit(images_u8), label)
    return images_u8, realness, class_probs

  return jax.jit(generate)


def restore(config: ml_collections.ConfigDict, dataset: Dataset,
            checkpoint_dir: str, num_checkpoints: int, mesh: Mesh,
            last_step: int = 0):
  """(family, networks, [(step, state), ...]) for the newest checkpoints of the
  generator stage up to the checkpoint at `last_step` (0: the newest); the states are read into
  the family's state template."""
  family = family_lib.find(config.gan.name)
  networks = family.build(config, dataset.num_classes)
  image_shape = dataset.splits['train'].images.shape[1:]
  # Only shapes, dtypes and shardings: restoring needs no initial values (and
  # compiling the initialisation would cost as long as the train step).
  replicated = sharding.replicated(mesh)
  init = family.init(networks, config, image_shape)
  target = jax.tree.map(
      lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=replicated),
      jax.eval_shape(lambda: init(seed=config.seed)))
  checkpointer = Checkpointer(checkpoint_dir, config.gan.max_checkpoints_to_keep)
  try:
    every = sorted(checkpointer.all_steps())
    if not every:
      raise SynthesisError(f'No GAN checkpoint in {checkpoint_dir} (the generator '
                           'stage); train it first (rerun the same command).')
    steps = [s for s in every if not last_step or s <= last_step]
    if last_step and last_step not in every:
      raise SynthesisError(
          f'gan.synthesis_step={last_step}: the generator stage '
          f'{checkpoint_dir} has checkpoints at steps {every} only; name one of '
          'them (or 0 for the newest).')
    chosen = steps[-num_checkpoints:]
    if len(chosen) < num_checkpoints:
      logging.warning('synthesis.num_checkpoints=%d but only %d checkpoint(s) '
                      'exist (%s); using those.', num_checkpoints, len(chosen), chosen)
    states = [(step, checkpointer.restore(target, step)[0]) for step in chosen]
  finally:
    checkpointer.close()
  return family, networks, states


@dataclasses.dataclass
class Agreement:
  """The classifier-agreement filter (`gan_aug.synthesis.agreement`): `verdict(
  images_u8, label) -> (keep, probability of label)` and its stage's summary."""
  verdict: Callable[[np.ndarray, int], Tuple[np.ndarray, np.ndarray]]
  summary: Dict


@dataclasses.dataclass
class ClassDraw:
  """One class's draw: the accepted images, per accepted image its checkpoint
  step, latent index, realness and class probabilities (None without a class
  head), the fakes generated and passed, every generated fake's realness, and
  the index of the next batch to generate."""
  images: List[np.ndarray]
  accepted: List[Dict]
  generated: int = 0
  passed: int = 0
  realness_batches: List[np.ndarray] = dataclasses.field(default_factory=list)
  next_batch: int = 0


def accept_class(generate, states, seed: int, label: int, target: int, cap: int,
                 threshold: float, require_agreement: bool, batch_size: int,
                 draw: Optional[ClassDraw] = None,
                 stop: Callable[[], bool] = lambda: False,
                 agree: Optional[Callable] = None) -> Tuple[ClassDraw, bool]:
  """Generates class `label` in batches until `target` fakes pass the filter or
  `cap` are generated; (the draw, whether it is complete). Batch b comes from
  checkpoint b mod len(states), at latent indices from (b // len(states)) x
  batch_size: the same fakes for the same (seed, checkpoints, class) whoever
  asks. `draw` (an incomplete one) continues where it stopped; `stop()`, asked
  after each batch, ends the draw early (incomplete). `agree` (an Agreement's
  verdict) also keeps only the fakes an independent classifier agrees with."""
  keys = [latent_class_key(seed, step, label) for step, _ in states]
  draw = draw or ClassDraw([], [])
  while len(draw.images) < target and draw.generated < cap:
    batch_number = draw.next_batch
    which = batch_number % len(states)
    step, state = states[which]
    start = (batch_number // len(states)) * batch_size
    images, realness, class_probs = jax.device_get(
        generate(state, keys[which], start, label))
    predicted = (np.full(len(realness), label) if class_probs is None
                 else np.argmax(class_probs, -1))
    keep = synthesis_filter.accept_mask(realness, predicted, label, threshold,
                                        require_agreement)
    filter_probs = None
    if agree is not None:
      agrees, filter_probs = agree(images, label)
      keep &= agrees
    draw.generated += batch_size
    draw.passed += int(keep.sum())
    draw.realness_batches.append(realness)
    for i in np.flatnonzero(keep)[:target - len(draw.images)]:
      draw.images.append(images[i])
      draw.accepted.append({
          'checkpoint_step': int(step), 'latent_index': int(start + i),
          'realness': float(realness[i]),
          'class_probs': None if class_probs is None else class_probs[i],
          **({} if filter_probs is None
             else {'filter_probability': float(filter_probs[i])})})
    draw.next_batch += 1
    if stop() and len(draw.images) < target and draw.generated < cap:
      return draw, False
  return draw, True


def _partial_draw(progress_dir: str, label: int) -> Optional[ClassDraw]:
  """The draw of a class a stop request interrupted, or None."""
  partial = accepted_set.load_partial_class(progress_dir, label)
  if partial is None:
    return None
  images, realness, accepted, counts = partial
  return ClassDraw(images, accepted, counts['generated'], counts['passed'],
                   realness, counts['next_batch'])


def filter_rule(family: family_lib.Family, networks,
                cfg: ml_collections.ConfigDict) -> Tuple[bool, bool]:
  """(scored, require_agreement): whether the family's scorer filters the fakes
  (a family without one keeps every sample), and whether D's class head must
  also agree (where it has one and config.synthesis asks for it)."""
  scored = family.make_scorer is not None
  return scored, bool(scored and cfg.require_class_agreement
                      and getattr(networks, 'has_class_head', False))


def manifest_fake(fake: Dict, scored: bool) -> Dict:
  """An accepted fake as a manifest records it: no realness without a scorer."""
  return fake if scored else {**fake, 'realness': None}


def threshold_setting(cfg: ml_collections.ConfigDict) -> Optional[float]:
  """The config value behind the filter's threshold: the quantile in
  real_quantile mode, none in 'none' mode, else synthesis.threshold."""
  if cfg.threshold_mode == 'none':
    return None
  return cfg.real_quantile if cfg.threshold_mode == 'real_quantile' else cfg.threshold


def synthesize(config: ml_collections.ConfigDict, dataset: Dataset,
               checkpoint_dir: str, stage_dir: str,
               mesh: Optional[Mesh] = None,
               agreement: Optional[Agreement] = None) -> Dict:
  """Generates, filters and writes the accepted set; returns the stage summary.
  `agreement` adds the classifier-agreement filter to the family's own."""
  mesh = mesh if mesh is not None else sharding.make_mesh()
  os.makedirs(stage_dir, exist_ok=True)
  cfg = config.synthesis
  batch_size = cfg.batch_size
  sharding.check_divisible(batch_size, mesh, 'synthesis.batch_size')
  real_counts = dataset.splits['train'].class_counts(dataset.num_classes)
  targets = synthesis_filter.class_targets(cfg.target, cfg.target_value, real_counts)
  caps = [synthesis_filter.attempt_cap(t, cfg.max_attempts_multiple, batch_size)
          for t in targets]
  family, networks, states = restore(config, dataset, checkpoint_dir,
                                     cfg.num_checkpoints, mesh,
                                     config.gan.get('synthesis_step', 0))
  generate = make_generate_and_score(family, networks, mesh, batch_size,
                                     family.latent_dim(config))
  scored, require_agreement = filter_rule(family, networks, cfg)
  if scored:
    filter_used = family.make_scorer(networks).description or 'the family\'s scorer'
    scorer = make_scorer(family, networks, mesh)
    real_raw = real_scores.score_real_splits(scorer, states[-1][1], dataset, batch_size)
    threshold = synthesis_filter.filter_threshold(cfg, real_raw['val'])
    logging.info('Synthesis: targets per class %s (%s %g), threshold %.4f (%s), '
                 'class agreement %s, checkpoint step(s) %s. Real validation images '
                 'score %.3f-%.3f (median %.3f).',
                 dict(zip(dataset.class_names, targets)), cfg.target,
                 cfg.target_value, threshold, cfg.threshold_mode, require_agreement,
                 [s for s, _ in states], real_raw['val'][0].min(),
                 real_raw['val'][0].max(), np.median(real_raw['val'][0]))
  else:
    filter_used = NO_FILTER
    real_raw, threshold = {}, 0.0
    logging.info('Synthesis: targets per class %s (%s %g); generator family %r '
                 'has no scorer, so %s; checkpoint step(s) %s.',
                 dict(zip(dataset.class_names, targets)), cfg.target,
                 cfg.target_value, config.gan.name,
                 'only classifier agreement filters' if agreement
                 else 'every sample is kept', [s for s, _ in states])

  # Compile before timing, so images_per_sec measures generation and scoring.
  jax.block_until_ready(generate(states[0][1], latent_class_key(config.seed, 0, 0), 0, 0))
  start_time = time.perf_counter()
  kept_images, records, per_class = [], [], {}
  generated_scores = []
  progress_dir = os.path.join(stage_dir, 'progress')
  os.makedirs(progress_dir, exist_ok=True)
  for label, name in enumerate(dataset.class_names):
    done = accepted_set.load_class_progress(progress_dir, label)
    if done is not None:
      class_images, class_realness, class_records, per_class[name] = done
      kept_images.extend(class_images)
      generated_scores.append(class_realness)
      records.extend(class_records)
      logging.info('Synthesis: class %s already done in an earlier run (%d '
                   'accepted); reusing it.', name, len(class_records))
      continue
    first_record, first_realness = len(records), len(generated_scores)
    target, cap = targets[label], caps[label]
    draw = _partial_draw(progress_dir, label)
    if draw:
      logging.info('Synthesis: class %s continues at batch %d (stopped there by '
                   'a stop request).', name, draw.next_batch)


    def stop_requested(name=name) -> bool:
      watchdog.progress(f'synthesis of class {name}')
      return preemption.requested()

    with preemption.stop_points():
      draw, complete = accept_class(generate, states, config.seed, label, target,
                                    cap, threshold, require_agreement, batch_size,
                                    draw, stop=stop_requested,
                                    agree=agreement and agreement.verdict)
      if not complete:
        accepted_set.save_partial_class(
            progress_dir, label, draw.images, draw.realness_batches, draw.accepted,
            {'generated': draw.generated, 'passed': draw.passed,
             'next_batch': draw.next_batch}, dataset.splits['train'].images.shape[1:])
        preemption.stop(f'in synthesis, class {name} ({len(draw.images)} of '
                        f'{target} accepted)')
    generated, passed, kept = draw.generated, draw.passed, len(draw.images)
    generated_scores.extend(draw.realness_batches)
    kept_images.extend(draw.images)
    for fake in draw.accepted:
      records.append(accepted_set.image_record(
          os.path.join(accepted_set.class_folder(label, name),
                       f'{len(records):06d}.png'),
          label, dataset.class_names, manifest_fake(fake, scored)))
    per_class[name] = {
        'requested': target, 'generated': generated, 'passed': passed,
        'accepted': kept,
        'acceptance_rate': passed / generated if generated else None,
        'attempt_cap': cap,
    }
    if kept < target:
      logging.warning('Synthesis: class %s reached its attempt cap: %d of %d '
                      'requested images accepted (%d generated).', name, kept,
                      target, generated)
    logging.info('Synthesis: %-20s accepted %d/%d, pass rate %s over %d generated.',
                 name, kept, target,
                 'n/a' if not generated else f'{passed / generated:.3f}', generated)
    accepted_set.save_class_progress(progress_dir, label, kept_images[first_record:],
                        generated_scores[first_realness:], records[first_record:],
                        per_class[name], dataset.splits['train'].images.shape[1:])
    accepted_set.remove_partial_class(progress_dir, label)
  seconds = time.perf_counter() - start_time

  real_summary = {
      name: real_scores.summarise(realness, predicted == dataset.splits[name].labels,
                              threshold)
      for name, (realness, predicted) in real_raw.items()}
  generated_scores = (np.concatenate(generated_scores) if generated_scores
                        else np.zeros((0,), np.float32))
  atomic_files.save_npz(os.path.join(stage_dir, 'scores.npz'),
                        generated=generated_scores,
                        accepted=np.asarray([r['realness'] for r in records
                                             if r['realness'] is not None],
                                            np.float32),
                        **{f'real_{k}': v[0] for k, v in real_raw.items()})
  total_generated = sum(c['generated'] for c in per_class.values())
  total_passed = sum(c['passed'] for c in per_class.values())
  score = filter_used if scored else None
  if agreement is not None:
    agreeing = agreement_lib.describe(agreement.summary)
    filter_used = f'{filter_used}; and {agreeing}' if scored else agreeing
  summary = {
      'filter': filter_used,
      'score': score,
      'classifier_filter': agreement and agreement.summary,
      'threshold': threshold if math.isfinite(threshold) else None,
      'threshold_mode': cfg.threshold_mode,
      'threshold_setting': threshold_setting(cfg),
      'require_class_agreement': require_agreement,
      'target': {'mode': cfg.target, 'value': cfg.target_value},
      'seed': config.seed,
      'checkpoint_steps': [int(s) for s, _ in states],
      'requested': sum(targets),
      'generated': total_generated,
      'passed': total_passed,
      'accepted': len(records),
      'acceptance_rate': total_passed / total_generated if total_generated else None,
      'per_class': per_class,
      'real_score_distribution': real_summary,
      'seconds': seconds,
      'images_per_sec': total_generated / seconds if seconds > 0 else None,
  }
  image_shape = dataset.splits['train'].images.shape[1:]
  images = (np.stack(kept_images) if kept_images
            else np.zeros((0,) + image_shape, np.uint8))
  set_dir = accepted_set.write_set(stage_dir, images, records, summary,
                                   dataset.class_names)
  shutil.rmtree(progress_dir, ignore_errors=True)  # The set now holds it all.
  summary['set_dir'] = set_dir
  return summary
