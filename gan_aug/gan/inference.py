"""A trained GAN in inference mode: the generator weights to sample with, images of
one class or of any classes, and D's outputs for labelled images.

A per-class model (one GAN per class, every leaf with a leading class axis)
samples and scores each image with its own class's networks.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp

from gan_aug.gan.networks import GANModel
from gan_aug.gan.step import GANState


def synthesis_params(state: GANState) -> Any:
  """The generator weights to sample with: the moving average when kept."""
  return state.g_params if state.g_ema_params is None else state.g_ema_params


def select_class(model: GANModel, tree: Any, label: jax.Array) -> Any:
  """The parameters of `label`'s GAN for a per-class model; `tree` otherwise."""
  if not model.one_per_class:
    return tree
  return jax.tree.map(lambda leaf: leaf[label], tree)


def generate_class(model: GANModel, g_params, g_batch_stats, z: jax.Array,
                   label: jax.Array) -> jax.Array:
  """Images of one class (`label` a scalar) in inference mode."""
  labels = jnp.full((z.shape[0],), label, jnp.int32)
  return model.generator.apply(
      {'params': select_class(model, g_params, label),
       'batch_stats': select_class(model, g_batch_stats, label)},
      z, labels, train=False)


def discriminate_class(model: GANModel, d_params, d_batch_stats, x: jax.Array,
                       label: jax.Array):
  """D's (realness logit, class logits or None) for images of one class, inference."""
  labels = jnp.full((x.shape[0],), label, jnp.int32)
  return model.discriminator.apply(
      {'params': select_class(model, d_params, label),
       'batch_stats': select_class(model, d_batch_stats, label)},
      x, labels, train=False)


def _per_label(model: GANModel, fn: Callable, labels: jax.Array) -> Any:
  """Runs `fn(label)` for every class and picks each row's own class's output."""
  outputs = jax.vmap(fn)(jnp.arange(model.num_classes))
  rows = jnp.arange(labels.shape[0])
  return jax.tree.map(lambda out: out[labels, rows], outputs)


def discriminate(model: GANModel, d_params, d_batch_stats, x: jax.Array,
                 labels: jax.Array):
  """D's (realness logit, class logits or None) for labelled images, inference mode.

  A per-class model scores each image with its own class's discriminator.
  """
  if model.one_per_class:
    return _per_label(model, lambda c: discriminate_class(
        model, d_params, d_batch_stats, x, c), labels)
  return model.discriminator.apply({'params': d_params, 'batch_stats': d_batch_stats},
                                   x, labels, train=False)


def make_sampler(model: GANModel) -> Callable:
  """Returns pure `(g_params, g_batch_stats, z, labels) -> images` in inference mode."""

  def sample(g_params, g_batch_stats, z, labels):
    if model.one_per_class:
      return _per_label(model, lambda c: generate_class(
          model, g_params, g_batch_stats, z, c), labels)
    return model.generator.apply({'params': g_params, 'batch_stats': g_batch_stats},
                                 z, labels, train=False)

  return sample
