"""Classifier training as pure jitted steps, several arms side by side.

Arms (e.g. `real` and `gan`) share the model, the seed (same initial
weights, dropout keys), the batch size and the validation split, and the same
budget rule: one "epoch" is the real training split's steps per epoch, each arm
is evaluated on the validation split after each of its epochs, and early
stopping on validation loss with patience P keeps each arm's best weights and
stops that arm once it has gone P evaluations without improving (or at
`max_epochs`). An arm's batches, keys and stopping depend on its own data and
state only, so its result is the same whichever arms train beside it, in this
call or in another stage. Prediction, features and the validation loss:
`gan_aug.classifier.inference"""

import functools
import shutil
import time
from typing import Any, Callable, Dict, Optional, Tuple

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from jax.sharding import Mesh

from gan_aug.classifier import inference as classifier_inference
from gan_aug.classifier import progress as classifier_progress
from gan_aug.classifier import step_batches
from gan_aug.classifier.optimizer import class_weights, make_optimizer
from gan_aug.core import scalars as scalars_lib
from gan_aug.data import streaming
from gan_aug.runtime import preemption
from gan_aug.runtime import sharding
from gan_aug.runtime import watchdog
from gan_aug.runtime.checkpoint import Checkpointer, sums_from_meta

Arrays = Tuple[np.ndarray, np.ndarray]  # (images uint8 NHWC, int labels)


@flax.struct.dataclass
class ClassifierState:
  """Parameters, batch statistics, optimizer state, step and key of one arm."""
  step: jax.Array
  rng: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any


_AUGMENT_SALT = 0x0A06_0000  # Augmentation keys apart from batch-order keys.


def initial_variables(model, seed: int, image_shape: Tuple[int, ...]) -> Dict:
  """The model's initial variables for `seed`, as `init_state` draws them."""
  init_key, _ = jax.random.split(jax.random.PRNGKey(seed))
  return jax.jit(functools.partial(model.init, train=False))(
      init_key, jnp.zeros((1,) + tuple(image_shape)))


def init_state(model, tx: optax.GradientTransformation, seed: int,
               image_shape: Tuple[int, ...], variables: Optional[Dict] = None
               ) -> ClassifierState:
  """Initial state (pure; jit it). The same seed gives every arm the same start.

  `variables` (e.g. with pretrained weights loaded) replaces the initialisation.
  """
  init_key, run_key = jax.random.split(jax.random.PRNGKey(seed))
  if variables is None:
    variables = model.init(init_key, jnp.zeros((1,) + tuple(image_shape)),
                           train=False)
  return ClassifierState(step=jnp.zeros((), jnp.int32), rng=run_key,
                         params=variables['params'],
                         batch_stats=variables.get('batch_stats', {}),
                         opt_state=tx.init(variables['params']))


def make_train_step(model, tx: optax.GradientTransformation, mesh: Mesh,
                    augment: Optional[Callable] = None) -> Callable:
  """Pure `(state, images_u8, labels, index, weights) -> (state, metrics)`, metrics
  {'loss', 'accuracy'}.

  `index` (`step_batches.batch_indices`) picks the batch out of `images`: the images may be
  padded past the arm's examples, so arms of different sizes share one compile.
  `augment(key, images)` (e.g. `gan_aug.classifier.augment.make_classical_augment`) transforms
  each batch on device before the forward pass, with a key of its own per step.
  `weights` (per class, `class_weights`; None for none) weigh each example's
  cross-entropy; as an argument, arms with different weights share one compile.
  """

  def train_step(state: ClassifierState, images, labels, index, weights=None):
    data_key, dropout_key = jax.random.split(state.rng)
    index = sharding.shard_batch(index, mesh)
    x = sharding.shard_batch(classifier_inference.scale_images(images[index]),
                             mesh)
    if augment is not None:
      x = sharding.shard_batch(
          augment(jax.random.fold_in(data_key, _AUGMENT_SALT + state.step), x), mesh)
    y = sharding.shard_batch(labels[index], mesh)

    def loss_fn(params):
      logits, updates = model.apply(
          {'params': params, 'batch_stats': state.batch_stats}, x, train=True,
          rngs={'dropout': jax.random.fold_in(dropout_key, state.step)},
          mutable=['batch_stats'])
      losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
      if weights is not None:
        losses = losses * weights[y]
      return losses.mean(), (updates['batch_stats'], logits)

    (loss, (batch_stats, logits)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = state.replace(step=state.step + 1,
                              params=optax.apply_updates(state.params, updates),
                              batch_stats=batch_stats, opt_state=opt_state)
    return new_state, {'loss': loss,
                       'accuracy': (jnp.argmax(logits, -1) == y).mean()}

  return train_step


def train_arms(cfg: ml_collections.ConfigDict, model, arms: Dict[str, Arrays],
               val: Optional[Arrays], steps_per_epoch: int, seed: int, mesh: Mesh,
               variables: Optional[Dict] = None,
               trainable: Optional[Any] = None,
               checkpoint_dir: Optional[str] = None,
               augment: Optional[Dict[str, Callable]] = None,
               scalars_dir: Optional[str] = None,
               predict: Optional[Callable] = None,
               pretrain: Optional[Dict[str, Arrays]] = None,
               pretrain_epochs: int = 0,
               data_cfg: Optional[ml_collections.ConfigDict] = None
               ) -> Dict[str, Dict]:
  """Trains every arm, each with its own early stopping; returns per-arm results.

  `variables` are the initial weights (default: the model's init for `seed`);
  `trainable` freezes the params marked False. Each result holds `params` /
  `batch_stats` of the best validation loss, the `history` of per-epoch train
  and validation metrics, `best_step` and `steps`. With `checkpoint_dir`, every
  arm's state, best weights and early-stopping counters are saved after an epoch
  once `cfg.checkpoint_every_seconds` have passed since the last save, and a
  rerun continues after the newest saved epoch with the same result as an
  uninterrupted run. `augment` maps arm names to on-device augmentations. With
  `scalars_dir`, each arm's per-epoch curves also go to TensorBoard event files.
  `predict` (the model's `make_predict`, to share its compiled program with the
  caller's testing) evaluates on the validation split; by default one is made.
  `pretrain` maps arm names to the images of a first phase: such an arm trains
  its first `pretrain_epochs` epochs on them - validated, but without early
  stopping - and then on its own images, with the same optimizer (its state
  carries over) and within the same `max_epochs`. With `data_cfg` (config.data),
  an arm's images larger than `data_cfg.in_memory_max_bytes` stay in host memory
  and each step's batch is streamed to the devices (`gan_aug.data.streaming`;
  the same batches as on the devices).
  `val` None: no validation and no early stopping; every arm trains
  `cfg.max_epochs` epochs and its result holds the last epoch's weights (a
  fixed-length run, for a classifier that must not see the validation split).
  """
  tx = make_optimizer(cfg, trainable, total_steps=steps_per_epoch * cfg.max_epochs)
  batch_size = cfg.batch_size
  replicated = sharding.replicated(mesh)
  image_shape = np.asarray(next(iter(arms.values()))[0]).shape[1:]
  # Given variables and the seed are arguments, not constants baked into the
  # compiled init: every seed shares one program.
  init_fn = jax.jit(lambda v, s: init_state(model, tx, s, image_shape, v),
                    out_shardings=replicated)
  init = lambda: init_fn(variables, seed)
  augment = augment or {}
  num_classes = model.num_classes
  step_fns, index_fns = {}, {}

  def step_fn(augment_fn):
    if augment_fn not in step_fns:
      step_fns[augment_fn] = jax.jit(
          make_train_step(model, tx, mesh, augment_fn),
          in_shardings=(replicated,) * 5,
          out_shardings=(replicated, replicated), donate_argnums=(0,))
    return step_fns[augment_fn]

  def index_fn(num_examples):
    if num_examples not in index_fns:
      index_fns[num_examples] = jax.jit(functools.partial(
          step_batches.batch_indices, num_examples=num_examples, batch_size=batch_size),
                                        out_shardings=replicated)
    return index_fns[num_examples]

  # Every arm's images padded to the largest arm's count (the padding is never
  # drawn): one compiled train step serves arms of different sizes.
  pretrain = pretrain or {}
  padded_size = max(len(images) for images, _ in
                    list(arms.values()) + list(pretrain.values()))
  pad = lambda x: np.concatenate(
      [x, np.zeros((padded_size - len(x),) + x.shape[1:], x.dtype)])

  predict = predict or classifier_inference.make_predict(model, mesh)
  eval_batch = cfg.eval_batch_size

  def training_data(images, labels, weights):
    images, labels = np.asarray(images), np.asarray(labels, np.int32)
    streamed = data_cfg is not None and streaming.streams(
        data_cfg, padded_size * images[:1].nbytes)
    return {
        'images': None if streamed else jax.device_put(pad(images), replicated),
        'labels': None if streamed else jax.device_put(pad(labels), replicated),
        'stream': (images, labels) if streamed else None,
        'num_train': int(len(images)),
        'class_weights': weights,
        'device_weights': (None if weights is None
                           else jax.device_put(weights, replicated)),
        'index_fn': index_fn(int(len(images))),
    }

  runs = {}
  streamed = [name for name, (images, _) in arms.items()
              if data_cfg is not None and streaming.streams(
                  data_cfg, padded_size * np.asarray(images[:1]).nbytes)]
  if streamed:
    logging.info('Classifier input of arm(s) %s: streamed, a batch per step '
                 '(config.data.in_memory_max_bytes=%d).', streamed,
                 data_cfg.in_memory_max_bytes)
  for name, (images, labels) in arms.items():
    state = init()
    # The arm's own class weights, in its pretraining phase too (whose set may
    # lack a class) and in the validation loss.
    weights = class_weights(labels, num_classes, cfg.get('class_weighting', 'none'))
    runs[name] = {
        'state': state,
        **training_data(images, labels, weights),
        'pretrain': (training_data(*pretrain[name], weights) if name in pretrain
                     else None),
        'history': [], 'best_loss': np.inf, 'best_step': 0, 'since_best': 0,
        # Until an epoch improves on it, the "best" is the initial model.
        'best': jax.tree.map(jnp.copy, (state.params, state.batch_stats)),
        'step_fn': step_fn(augment.get(name)),
    }
  checkpointer = (Checkpointer(checkpoint_dir, max_to_keep=1) if checkpoint_dir
                  else None)
  try:
    epoch, position = (classifier_progress.restore_progress(checkpointer, runs)
                       if checkpointer else (0, None))
    with scalars_lib.ScalarWriter(scalars_dir) as scalars, preemption.stop_points():
      _train_epochs(cfg, runs, val, steps_per_epoch, predict, eval_batch, epoch,
                    checkpointer, scalars, pretrain_epochs, position,
                    step_batches.StepData(batch_size, mesh, data_cfg))
  finally:
    if checkpointer:
      checkpointer.close()
  if checkpoint_dir:
    shutil.rmtree(classifier_progress.preempted_dir(checkpoint_dir), ignore_errors=True)
  results = {}
  for name, run in runs.items():
    epochs = len(run['history'])
    params, batch_stats = run['best']
    results[name] = {
        'params': params, 'batch_stats': batch_stats, 'history': run['history'],
        'best_step': run['best_step'], 'best_val_loss': run['best_loss'],
        'steps': epochs * steps_per_epoch, 'epochs': epochs,
        'num_train_images': run['num_train'],
        'num_val_images': 0 if val is None else int(len(val[1])),
        # Early stopping's verdict: the best validation loss lies `patience`
        # evaluations back or more (else more steps might still have helped).
        'epochs_since_best': run['since_best'],
        'stopped_early': run['since_best'] >= cfg.patience,
    }
    if run['pretrain']:
      results[name].update(pretrain_epochs=pretrain_epochs,
                           pretrain_steps=pretrain_epochs * steps_per_epoch,
                           num_pretrain_images=run['pretrain']['num_train'])
  return results


def _all_out_of_patience(cfg: ml_collections.ConfigDict,
                         runs: Dict[str, Dict]) -> bool:
  return all(r['since_best'] >= cfg.patience for r in runs.values())


def _epoch_line(entry: Dict) -> str:
  """An epoch's log entry: validation loss and accuracy, or (without validation)
  the training ones."""
  if entry['val_loss'] is None:
    return (f'train loss {entry["train_loss"]:.4f} acc '
            f'{entry["train_accuracy"]:.3f}')
  return f'val loss {entry["val_loss"]:.4f} acc {entry["val_accuracy"]:.3f}'


def _train_epochs(cfg, runs: Dict[str, Dict], val: Optional[Arrays],
                  steps_per_epoch: int,
                  predict, eval_batch: int, done_epochs: int,
                  checkpointer: Optional[Checkpointer],
                  scalars: scalars_lib.ScalarWriter, pretrain_epochs: int,
                  position: Optional[Dict], step_data: step_batches.StepData) -> None:
  """Epochs `done_epochs + 1 ...` of every arm, until early stopping or max_epochs;
  an arm with a pretraining phase trains on it up to epoch `pretrain_epochs`.
  `position` (a stop-time checkpoint's) continues within epoch done_epochs + 1."""
  start = last_save = time.perf_counter()
  max_epochs = cfg.max_epochs
  save_every = cfg.get('checkpoint_every_seconds', 0)
  stops = val is not None  # Without validation: every epoch, no early stopping.
  if stops and done_epochs and not position and _all_out_of_patience(cfg, runs):
    return
  for epoch in range(done_epochs + 1, max_epochs + 1):
    for arm, (name, run) in enumerate(runs.items()):
      if stops and run['since_best'] >= cfg.patience:
        continue  # This arm stopped early; the others train on without it.
      first_step, totals = 0, None
      if position and epoch == position['epoch']:
        if arm < position['arm']:
          continue  # Trained and evaluated before the stop.
        if arm == position['arm']:
          first_step = position['step_in_epoch']
          totals = sums_from_meta(position['totals'])
      pretraining = bool(run['pretrain']) and epoch <= pretrain_epochs
      data = run['pretrain'] if pretraining else run
      step_args = step_data.steps(data, lambda run=run: run['state'],
                                  steps_per_epoch - first_step)
      for step_in_epoch, (images, labels, index) in zip(
          range(first_step + 1, steps_per_epoch + 1), step_args):
        run['state'], metrics = run['step_fn'](run['state'], images, labels, index,
                                               data['device_weights'])
        totals = metrics if totals is None else jax.tree.map(jnp.add, totals, metrics)
        watchdog.progress(f'classifier epoch {epoch}, arm {name!r}, step '
                          f'{step_in_epoch}')
        if preemption.requested():
          if not checkpointer:
            preemption.stop('in a classifier run that keeps no checkpoints',
                            saved=False)
          classifier_progress.save_and_stop(checkpointer, runs, epoch, arm,
                                            step_in_epoch, steps_per_epoch, totals)
      train_metrics = {k: float(v) / steps_per_epoch
                       for k, v in jax.device_get(totals).items()}
      state = run['state']
      if val is None:
        val_loss = val_acc = None
      else:
        probs = classifier_inference.predict_probs(predict, state.params,
                                                   state.batch_stats, val[0],
                                                   eval_batch)
        val_loss = classifier_inference.cross_entropy(probs, val[1],
                                                      run['class_weights'])
        val_acc = float(np.mean(np.argmax(probs, -1) == val[1]))
      if not np.isfinite(val_loss if val is not None else 0.0) or not np.isfinite(
          train_metrics['loss']):
        raise FloatingPointError(
            f'Classifier arm {name!r} diverged at epoch {epoch} (train loss '
            f'{train_metrics["loss"]}, val loss {val_loss}); lower '
            'classifier.learning_rate.')
      step = int(state.step)
      run['history'].append({'epoch': epoch, 'step': step,
                             'train_loss': train_metrics['loss'],
                             'train_accuracy': train_metrics['accuracy'],
                             'val_loss': val_loss, 'val_accuracy': val_acc,
                             **({'phase': 'pretrain'} if pretraining else {})})
      scalars.write(step, {k: v for k, v in run['history'][-1].items()
                           if k not in ('epoch', 'step', 'phase') and v is not None},
                    f'classifier/{name}')
      if pretraining:
        continue  # No early stopping in the pretraining phase.
      if val is None:  # A fixed-length run: its weights are the last epoch's.
        run.update(best_step=step,
                   best=jax.tree.map(jnp.copy, (state.params, state.batch_stats)))
      elif val_loss < run['best_loss']:
        run.update(best_loss=val_loss, best_step=step, since_best=0,
                   best=jax.tree.map(jnp.copy, (state.params, state.batch_stats)))
      else:
        run['since_best'] += 1
    logging.info('classifier epoch %d/%d (step %d)  %s  %.1f s', epoch, max_epochs,
                 epoch * steps_per_epoch, '  '.join(
                     f'{n}: {_epoch_line(r["history"][-1])}'
                     f'{" *" if val is not None and r["since_best"] == 0 and r["best_step"] else ""}'
                     for n, r in runs.items() if r['history'][-1]['epoch'] == epoch),
                 time.perf_counter() - start)
    # Saving big models every epoch would cost more than a kill loses; any epoch
    # is a valid resume point, so when to save does not change the result.
    if checkpointer and time.perf_counter() - last_save >= save_every:
      last_save = time.perf_counter()
      checkpointer.save(epoch, {name: {'state': run['state'], 'best': run['best']}
                                for name, run in runs.items()},
                        classifier_progress.progress_meta(runs, epoch))
    if stops and _all_out_of_patience(cfg, runs):
      logging.info('Early stopping after epoch %d: every arm has gone %d epochs '
                   'without improving its validation loss.', epoch, cfg.patience)
      break
