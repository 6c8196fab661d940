"""How a classifier is optimised: the optimizer and its learning-rate schedule,
and per-class loss weights."""

from typing import Any, Optional

import jax
import ml_collections
import numpy as np
import optax

OPTIMIZERS = ('adam', 'sgd')
LR_SCHEDULES = ('constant', 'cosine')
CLASS_WEIGHTINGS = ('none', 'balanced')


def make_optimizer(cfg: ml_collections.ConfigDict,
                   trainable: Optional[Any] = None,
                   total_steps: Optional[int] = None) -> optax.GradientTransformation:
  """Adam, or SGD with `cfg.momentum` (0 = plain SGD), at `cfg.learning_rate`:
  constant, or with `cfg.lr_schedule='cosine'` decayed to 0 over `total_steps`
  (the most steps early stopping allows).

  `trainable` (a tree of bools over the params) freezes the False leaves.
  """
  schedule = cfg.get('lr_schedule', 'constant')
  if schedule == 'constant':
    learning_rate = cfg.learning_rate
  elif schedule == 'cosine':
    if not total_steps:
      raise ValueError("classifier.lr_schedule='cosine' needs the number of steps.")
    learning_rate = optax.cosine_decay_schedule(cfg.learning_rate, total_steps)
  else:
    raise ValueError(f'Unknown learning-rate schedule {schedule!r}; valid: '
                     f'{LR_SCHEDULES}.')
  name = cfg.get('optimizer', 'adam')
  if name == 'adam':
    tx = optax.adam(learning_rate)
  elif name == 'sgd':
    tx = optax.sgd(learning_rate, momentum=cfg.get('momentum', 0.0) or None)
  else:
    raise ValueError(f'Unknown optimizer {name!r}; valid: {OPTIMIZERS}.')
  if trainable is None:
    return tx
  labels = jax.tree.map(lambda t: 'train' if t else 'frozen', trainable)
  return optax.multi_transform({'train': tx, 'frozen': optax.set_to_zero()}, labels)


def class_weights(labels: np.ndarray, num_classes: int,
                  weighting: str = 'none') -> Optional[np.ndarray]:
  """Per-class loss weights: None for 'none'; for 'balanced' n / (k * n_c) over the
  training labels (scikit-learn's 'balanced'), so every class weighs the same in
  the loss whatever its share of the training set."""
  if weighting == 'none':
    return None
  if weighting != 'balanced':
    raise ValueError(f'Unknown class weighting {weighting!r}; valid: '
                     f'{CLASS_WEIGHTINGS}.')
  counts = np.bincount(np.asarray(labels), minlength=num_classes)
  if (counts == 0).any():
    raise ValueError(f'Balanced class weights need every class in the training '
                     f'labels; counts per class: {counts.tolist()}.')
  return (len(labels) / (num_classes * counts)).astype(np.float32)
