"""GAN training state and the ACGAN train step as pure, jit-compiled functions.

A step is `(state, images, labels) -> (state, metrics)`. The whole (small) training
split lives on the devices, replicated; each step draws its own batch from a
per-epoch permutation that depends only on the run's key and the step number, so
the data position is part of the state and a resumed run sees the same batches.
All randomness (batch order, latents, fake labels, dropout) is folded from the
state's key and the step, and is the same however many devices share the batch.

One step follows the classic DCGAN/ACGAN loop:
  1. G makes a fake batch (training mode: batch statistics);
  2. D is updated once on the real batch and the (stopped-gradient) fake batch:
     BCE(real->1, fake->0) + cross-entropy of the class head on both;
  3. G is updated through the updated D (training mode, its batch-stat updates
     discarded): BCE(fake->1) + cross-entropy of the class head on G's labels.
G's forward pass is shared by both updates (its VJP is kept from step 1).
"""

from typing import Any, Callable, Dict, Tuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from gan_aug.train import sharding

Metrics = Dict[str, jax.Array]


@flax.struct.dataclass
class GANState:
  """Everything a GAN run needs to continue: saved as one Orbax pytree."""
  step: jax.Array
  rng: jax.Array
  g_params: Any
  g_batch_stats: Any
  g_opt_state: Any
  d_params: Any
  d_batch_stats: Any
  d_opt_state: Any


def adam(learning_rate: float, beta1: float, beta2: float) -> optax.GradientTransformation:
  """The papers' optimizer for both networks."""
  return optax.adam(learning_rate, b1=beta1, b2=beta2)


def init_state(generator: nn.Module, discriminator: nn.Module,
               g_tx: optax.GradientTransformation,
               d_tx: optax.GradientTransformation, *, seed: int, latent_dim: int,
               image_shape: Tuple[int, int, int]) -> GANState:
  """Initial parameters, batch statistics and optimizer states (pure; jit it)."""
  g_key, d_key, run_key = jax.random.split(jax.random.PRNGKey(seed), 3)
  g_vars = generator.init(g_key, jnp.zeros((1, latent_dim), z_dtype()),
                          jnp.zeros((1,), jnp.int32), train=False)
  d_vars = discriminator.init(d_key, jnp.zeros((1,) + tuple(image_shape), z_dtype()),
                              train=False)
  return GANState(
      step=jnp.zeros((), jnp.int32), rng=run_key,
      g_params=g_vars['params'], g_batch_stats=g_vars.get('batch_stats', {}),
      g_opt_state=g_tx.init(g_vars['params']),
      d_params=d_vars['params'], d_batch_stats=d_vars.get('batch_stats', {}),
      d_opt_state=d_tx.init(d_vars['params']))


def batch_indices(data_key: jax.Array, step: jax.Array, num_examples: int,
                  batch_size: int) -> jax.Array:
  """Indices of the batch at `step`: consecutive slices of per-epoch permutations.

  Each epoch uses `num_examples // batch_size` full batches (the remainder of a
  permutation is left out, as drop_last does).
  """
  steps_per_epoch = num_examples // batch_size
  epoch, position = jnp.divmod(step, steps_per_epoch)
  order = jax.random.permutation(jax.random.fold_in(data_key, epoch), num_examples)
  return jax.lax.dynamic_slice_in_dim(order, position * batch_size, batch_size)


def data_position(step: int, num_examples: int, batch_size: int) -> Dict[str, int]:
  """Human-readable data position of a step (epoch, batch within it, images seen)."""
  steps_per_epoch = num_examples // batch_size
  return {'epoch': step // steps_per_epoch, 'batch_in_epoch': step % steps_per_epoch,
          'images_seen': step * batch_size}


def z_dtype():
  """float32, or float64 when jax_enable_x64 is on (used by exactness tests)."""
  return jnp.result_type(float)


def _bce(logits: jax.Array, target: float) -> jax.Array:
  return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, target)).mean()


def _ce(logits: jax.Array, labels: jax.Array) -> jax.Array:
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def _accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  return (jnp.argmax(logits, -1) == labels).mean()


def make_acgan_train_step(generator: nn.Module, discriminator: nn.Module,
                          g_tx: optax.GradientTransformation,
                          d_tx: optax.GradientTransformation, *, mesh: Mesh,
                          batch_size: int, latent_dim: int,
                          num_classes: int, aux_loss_on_fake: bool = True) -> Callable:
  """Returns the un-jitted pure step `(state, images_u8, labels) -> (state, metrics)`.

  With `aux_loss_on_fake=False` D's class head learns from real images only, so G
  cannot satisfy it with class cues that only fakes carry.
  """
  fake_aux_weight = 1.0 if aux_loss_on_fake else 0.0

  def discriminate(d_params, batch_stats, x, key):
    (realness, class_logits), updates = discriminator.apply(
        {'params': d_params, 'batch_stats': batch_stats}, x, train=True,
        rngs={'dropout': key}, mutable=['batch_stats'])
    return realness, class_logits, updates['batch_stats']

  def train_step(state: GANState, images: jax.Array,
                 labels: jax.Array) -> Tuple[GANState, Metrics]:
    data_key, noise_key = jax.random.split(state.rng)
    keys = jax.random.split(jax.random.fold_in(noise_key, state.step), 5)
    z_key, label_key, drop_real, drop_fake, drop_g = keys
    shard = lambda x: sharding.shard_batch(x, mesh)

    index = shard(batch_indices(data_key, state.step, images.shape[0], batch_size))
    real = shard(images[index].astype(z_dtype()) / 127.5 - 1.0)
    real_labels = shard(labels[index])
    z = shard(jax.random.normal(z_key, (batch_size, latent_dim), z_dtype()))
    fake_labels = shard(jax.random.randint(label_key, (batch_size,), 0, num_classes))

    def generate(g_params):
      fake, updates = generator.apply(
          {'params': g_params, 'batch_stats': state.g_batch_stats}, z, fake_labels,
          train=True, mutable=['batch_stats'])
      return fake, updates['batch_stats']

    fake, generator_vjp, g_batch_stats = jax.vjp(generate, state.g_params,
                                                 has_aux=True)

    def d_loss_fn(d_params):
      real_logit, real_cls, stats = discriminate(d_params, state.d_batch_stats,
                                                 real, drop_real)
      fake_logit, fake_cls, stats = discriminate(d_params, stats,
                                                 jax.lax.stop_gradient(fake),
                                                 drop_fake)
      loss = (_bce(real_logit, 1.0) + _ce(real_cls, real_labels)
              + _bce(fake_logit, 0.0) + fake_aux_weight * _ce(fake_cls, fake_labels))
      metrics = {
          'd_real': jax.nn.sigmoid(real_logit).mean(),
          'd_fake': jax.nn.sigmoid(fake_logit).mean(),
          'aux_acc_real': _accuracy(real_cls, real_labels),
          'aux_acc_fake': _accuracy(fake_cls, fake_labels),
      }
      return loss, (stats, metrics)

    (d_loss, (d_batch_stats, metrics)), d_grads = jax.value_and_grad(
        d_loss_fn, has_aux=True)(state.d_params)
    d_updates, d_opt_state = d_tx.update(d_grads, state.d_opt_state, state.d_params)
    d_params = optax.apply_updates(state.d_params, d_updates)

    def g_loss_fn(fake_images):
      logit, cls, _ = discriminate(d_params, d_batch_stats, fake_images, drop_g)
      return _bce(logit, 1.0) + _ce(cls, fake_labels), jax.nn.sigmoid(logit).mean()

    (g_loss, d_fake_after), fake_grad = jax.value_and_grad(
        g_loss_fn, has_aux=True)(fake)
    (g_grads,) = generator_vjp(fake_grad)
    g_updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)

    new_state = state.replace(
        step=state.step + 1, g_params=g_params, g_batch_stats=g_batch_stats,
        g_opt_state=g_opt_state, d_params=d_params, d_batch_stats=d_batch_stats,
        d_opt_state=d_opt_state)
    metrics.update(d_loss=d_loss, g_loss=g_loss, d_fake_after_update=d_fake_after)
    return new_state, metrics

  return train_step


def make_sampler(generator: nn.Module) -> Callable:
  """Returns pure `(g_params, g_batch_stats, z, labels) -> images` in inference mode."""

  def sample(g_params, g_batch_stats, z, labels):
    return generator.apply({'params': g_params, 'batch_stats': g_batch_stats},
                           z, labels, train=False)

  return sample
