"""The EDM train step: state, initialisation and one data-parallel update.

Each step draws the batch as the GAN steps do (`gan_aug.data.batch_order`, or
the streamed batch), one sigma per image (ln sigma ~ N(-1.2, 1.2^2)) and its
noise, replaces each label by the null class with probability `label_dropout`
(for classifier-free guidance), and takes one Adam step on
lambda(sigma) x mean over pixels of (D(y + n; sigma) - y)^2, averaged over the
batch, sharded over the devices' data axis. An EMA of the weights (the
sampler's) follows every step. Metrics: `loss`, and the loss within each third
of the sigma distribution (`SIGMA_RANGES`), each estimated as
mean_i(loss_i [sigma_i in range]) / P(range) - an unbiased estimate of the mean
loss at those noise levels even in a batch that draws none of them.
"""

import statistics
from typing import Any, Callable, Dict, Optional, Tuple

import flax
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from gan_aug.data import batch_order
from gan_aug.diffusion import edm
from gan_aug.generator import ema
from gan_aug.generator import images as images_lib
from gan_aug.runtime import sharding

Metrics = Dict[str, jax.Array]

# The training distribution's terciles of ln sigma: three ranges, each drawn with
# probability 1/3 (sigma below about 0.18; 0.18 to 0.50; above).
_EDGES = tuple(statistics.NormalDist(edm.P_MEAN, edm.P_STD).inv_cdf(q)
               for q in (1 / 3, 2 / 3))
SIGMA_RANGES = (('loss_low', -float('inf'), _EDGES[0]),
                ('loss_mid', _EDGES[0], _EDGES[1]),
                ('loss_high', _EDGES[1], float('inf')))


@flax.struct.dataclass
class DiffusionState:
  """Everything an EDM run needs to continue: saved as one Orbax pytree."""
  step: jax.Array
  rng: jax.Array
  params: Any
  opt_state: Any
  ema_params: Any


def init_state(unet, tx: optax.GradientTransformation, seed: int,
               image_shape: Tuple[int, ...]) -> DiffusionState:
  """The initial state for `seed` (pure; jit it)."""
  init_key, run_key = jax.random.split(jax.random.PRNGKey(seed))
  dtype = images_lib.float_dtype()
  params = unet.init(init_key, jnp.zeros((1,) + tuple(image_shape), dtype),
                     jnp.zeros((1,), dtype), jnp.zeros((1,), jnp.int32))['params']
  return DiffusionState(step=jnp.zeros((), jnp.int32), rng=run_key, params=params,
                        opt_state=tx.init(params), ema_params=ema.init(params))


def denoiser(unet, params, labels: jax.Array, train: bool = False,
             dropout_key: Optional[jax.Array] = None) -> Callable:
  """D(x; sigma) for the classes `labels` ([B]; num_classes is the null class),
  sigma [B] or a scalar."""
  rngs = {'dropout': dropout_key} if train else {}

  def network(x_in, c_noise):
    return unet.apply({'params': params}, x_in, c_noise, labels, train=train,
                      rngs=rngs)

  def denoise(x, sigma):
    sigma = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), (x.shape[0],))
    return edm.precondition(network, x, sigma)

  return denoise


def make_train_step(unet, tx: optax.GradientTransformation, *, mesh: Mesh,
                    batch_size: int, num_examples: Optional[int] = None,
                    label_dropout: float = 0.1, ema_decay: float = 0.999,
                    streamed: bool = False) -> Callable:
  """The un-jitted pure step `(state, images_u8, labels) -> (state, metrics)`;
  `images` the training set (the first `num_examples` real), or with `streamed`
  the step's batch itself."""
  null_class = unet.num_classes

  def step(state: DiffusionState, images: jax.Array,
           labels: jax.Array) -> Tuple[DiffusionState, Metrics]:
    data_key, noise_key = jax.random.split(state.rng)
    sigma_key, pixel_key, label_key, dropout_key = jax.random.split(
        jax.random.fold_in(noise_key, state.step), 4)
    shard = lambda x: sharding.shard_batch(x, mesh)
    if not streamed:
      index = shard(batch_order.batch_indices(
          data_key, state.step, num_examples or images.shape[0], batch_size))
      images, labels = images[index], labels[index]
    y = shard(images_lib.to_unit(images))
    dropped = jax.random.uniform(label_key, (batch_size,)) < label_dropout
    labels = shard(jnp.where(dropped, null_class, labels))
    sigma = shard(edm.training_sigmas(sigma_key, batch_size, y.dtype))
    noise = shard(jax.random.normal(pixel_key, y.shape, y.dtype))
    noisy = y + noise * sigma[:, None, None, None]

    def loss_fn(params):
      denoised = denoiser(unet, params, labels, True, dropout_key)(noisy, sigma)
      per_image = edm.loss_weight(sigma) * jnp.mean(
          jnp.square(denoised.astype(jnp.float32) - y), axis=(1, 2, 3))
      return per_image.mean(), per_image

    (loss, per_image), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema_params = ema.update(state.ema_params, params,
                            ema.warmed_up_decay(ema_decay, state.step))
    metrics = {'loss': loss}
    log_sigma = jnp.log(sigma)
    for key, low, high in SIGMA_RANGES:
      inside = (log_sigma >= low) & (log_sigma < high)
      metrics[key] = jnp.mean(jnp.where(inside, per_image, 0.0)) * 3.0
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                         ema_params=ema_params), metrics

  return step
