"""A trained classifier's inference: class probabilities, penultimate-layer
features (the input of its last dense layer, which works for every classifier
whatever its layer names) and the validation loss, as jitted programs run in
fixed-size batches, in `inference_form` (XLA's own convolutions); and a trained
classifier's weights on disk ({'params', 'batch_stats'} as msgpack)."""

from typing import Callable, Dict, List, Optional

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from gan_aug.core import atomic_files
from gan_aug.models import conv_layers
from gan_aug.runtime import sharding


def penultimate(model: nn.Module, variables: Dict, x: jax.Array) -> jax.Array:
  """The input of `model`'s last dense layer for inputs `x`, as [N, D] (inference)."""
  captured: List[jax.Array] = []

  def interceptor(next_fun, args, kwargs, context):
    if isinstance(context.module, nn.Dense) and context.method_name == '__call__':
      captured.append(args[0])
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(interceptor):
    model.apply(variables, x, train=False)
  if not captured:
    raise ValueError(f'{type(model).__name__} has no dense layer whose input could '
                     'serve as a feature vector.')
  return captured[-1].reshape(x.shape[0], -1).astype(jnp.float32)


def scale_images(images_u8: jax.Array) -> jax.Array:
  """uint8 images as the classifiers see them, in [0, 1]."""
  return images_u8.astype(jnp.float32) / 255.0  # Keras `rescale=1/255`.


def make_predict(model, mesh: Mesh) -> Callable:
  """Jitted `(params, batch_stats, images_u8) -> class probabilities` (inference
  mode, in `conv_layers.inference_form`)."""
  model = conv_layers.inference_form(model)

  def predict(params, batch_stats, images_u8):
    x = sharding.shard_batch(scale_images(images_u8), mesh)
    logits = model.apply({'params': params, 'batch_stats': batch_stats}, x,
                         train=False)
    return jax.nn.softmax(logits.astype(jnp.float32))

  return jax.jit(predict)


def make_features(model, mesh: Mesh) -> Callable:
  """Jitted `(params, batch_stats, images_u8) -> penultimate-layer features [N, D]`
  (in `inference_form`)."""
  model = conv_layers.inference_form(model)

  def features(params, batch_stats, images_u8):
    x = sharding.shard_batch(scale_images(images_u8), mesh)
    return penultimate(
        model, {'params': params, 'batch_stats': batch_stats}, x)

  return jax.jit(features)


def features_of(extract: Callable, params, batch_stats, images: np.ndarray,
                batch_size: int) -> np.ndarray:
  """float64 `make_features` vectors of all `images`, in fixed-size (padded) batches."""
  return np.asarray(sharding.map_in_batches(
      lambda chunk: extract(params, batch_stats, chunk), images, batch_size),
                    np.float64)


def predict_probs(predict: Callable, params, batch_stats, images: np.ndarray,
                  batch_size: int) -> np.ndarray:
  """Class probabilities for all `images`, in fixed-size (padded) batches."""
  return sharding.map_in_batches(
      lambda chunk: predict(params, batch_stats, chunk), images, batch_size)


def cross_entropy(probs: np.ndarray, labels: np.ndarray,
                  weights: Optional[np.ndarray] = None) -> float:
  """Mean negative log-likelihood of the true labels, each weighted by its class's
  `weights` if given (the training loss's weighting)."""
  picked = probs[np.arange(len(labels)), labels]
  nll = -np.log(np.clip(picked, 1e-12, 1.0))
  if weights is not None:
    nll = nll * weights[labels]
  return float(np.mean(nll))


def save_weights(path: str, run: Dict) -> None:
  """Writes a trained arm's {'params', 'batch_stats'} to `path` (atomically)."""
  with atomic_files.replacing(path, 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(jax.device_get(
        {'params': run['params'], 'batch_stats': run['batch_stats']})))


def load_weights(path: str) -> Dict:
  """{'params', 'batch_stats'} that `save_weights` wrote to `path`."""
  with open(path, 'rb') as f:
    return flax.serialization.msgpack_restore(f.read())
