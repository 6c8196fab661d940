"""GAN training state and train steps as pure, jit-compiled functions.

A step is `(state, images, labels) -> (state, metrics)`. The whole (small) training
split lives on the devices, replicated; each step draws its own batch from a
per-epoch permutation that depends only on the run's key and the step number, so
the data position is part of the state and a resumed run sees the same batches.
All randomness (batch order, latents, fake labels, dropout, instance noise) is
folded from the state's key and the step, and is the same however many devices
share the batch.

One step follows the classic DCGAN/ACGAN loop, for every family:
  1. G makes a fake batch (training mode: batch statistics);
  2. D is updated once on the real batch and the (stopped-gradient) fake batch:
     the objective's D loss (`gan_aug.gan.objectives`; the papers' BCE by
     default), plus, for a D with a class head (ACGAN), the cross-entropy of the
     class head on both, plus the R1 penalty when it is on;
  3. G is updated through the updated D (training mode, its batch-stat updates
     discarded): the objective's G loss (+ the class head's cross-entropy on G's
     labels).
G's forward pass is shared by both updates (its VJP is kept from step 1). A
per-class model (one DCGAN per class) runs this for every class in one step,
vmapped over the class axis of its stacked parameters.

Two small-data options (Zhao et al. 2020; Karras et al. 2020): DiffAugment
(`gan_aug.gan.diffaug`) passes everything D sees in training - the real batch, the
fake batch of D's update and the fake batch of G's update, each with its own
random draws under the same policy - through differentiable augmentations; and
an exponential moving average of G's weights (`g_ema_params`, for synthesis).
ADA (`gan_aug.gan.ada`) augments the same three batches, and R1's real images,
with the probability p the state carries, before DiffAugment.

The R1 penalty (Mescheder et al. 2018), (gamma/2) E||grad_x D(x)||^2 on D's
realness logit (not its class head) of the real batch, is added to D's loss
every `r1_every` steps (the steps where `state.step % r1_every == 0`), scaled by
`r1_every` (lazy regularisation, Karras et al. 2020). As in StyleGAN2-ADA the
gradient is taken with respect to the real images before DiffAugment and
instance noise, through them. It is taken on the same forward pass as D's real
loss, so in training mode: dropout on, with that pass's mask, and batch norm
with the real batch's statistics - the gradient of sum_i D(x_i) then includes
the (O(1/batch)) path through those statistics. A per-class model takes it per
class, on each class's own D and real batch.
"""

import functools
from typing import Any, Callable, Dict, Optional, Tuple

import flax
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from gan_aug.data import batch_order
from gan_aug.gan import ada
from gan_aug.gan import diffaug
from gan_aug.generator import ema
from gan_aug.gan import objectives
from gan_aug.gan.networks import GANModel
from gan_aug.generator import images as images_lib
from gan_aug.runtime import sharding

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
  # The moving average of g_params when config.gan.ema_decay > 0, else None.
  g_ema_params: Any = None
  # With ADA (config.gan.ada): the augmentation probability p and the sum of
  # the batch means of sign(D(x_real)) in the current interval (per class for
  # a per-class model); else None.
  ada_p: Any = None
  ada_signs: Any = None


def adam(learning_rate: float, beta1: float, beta2: float) -> optax.GradientTransformation:
  """The papers' optimizer for both networks."""
  return optax.adam(learning_rate, b1=beta1, b2=beta2)


def init_state(model: GANModel, g_tx: optax.GradientTransformation,
               d_tx: optax.GradientTransformation, *, seed: int, latent_dim: int,
               image_shape: Tuple[int, int, int], with_ema: bool = False,
               with_ada: bool = False) -> GANState:
  """Initial parameters, batch statistics and optimizer states (pure; jit it).

  For a per-class model every leaf but `step` and `rng` gains a leading class axis
  (each class's GAN has its own initial weights and optimizer state). `with_ada`
  starts ADA's p at 0; `with_ema`
  starts the generator's moving average at its initial weights.
  """
  g_key, d_key, run_key = jax.random.split(jax.random.PRNGKey(seed), 3)

  def init_one(g_key, d_key):
    labels = jnp.zeros((1,), jnp.int32)
    g_vars = model.generator.init(
        g_key, jnp.zeros((1, latent_dim), images_lib.float_dtype()), labels,
        train=False)
    d_vars = model.discriminator.init(
        d_key, jnp.zeros((1,) + tuple(image_shape), images_lib.float_dtype()),
        labels, train=False)
    return (g_vars['params'], g_vars.get('batch_stats', {}),
            g_tx.init(g_vars['params']), d_vars['params'],
            d_vars.get('batch_stats', {}), d_tx.init(d_vars['params']))

  if model.one_per_class:
    parts = jax.vmap(init_one)(jax.random.split(g_key, model.num_classes),
                               jax.random.split(d_key, model.num_classes))
  else:
    parts = init_one(g_key, d_key)
  g_params, g_stats, g_opt, d_params, d_stats, d_opt = parts
  return GANState(step=jnp.zeros((), jnp.int32), rng=run_key, g_params=g_params,
                  g_batch_stats=g_stats, g_opt_state=g_opt, d_params=d_params,
                  d_batch_stats=d_stats, d_opt_state=d_opt,
                  g_ema_params=ema.init(g_params) if with_ema else None,
                  **(ada.init(model.num_classes if model.one_per_class else None)
                     if with_ada else {}))


def _ce(logits: jax.Array, labels: jax.Array) -> jax.Array:
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def _accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  return (jnp.argmax(logits, -1) == labels).mean()


def instance_noise_std(step: jax.Array, initial_std: float,
                       anneal_steps: int) -> jax.Array:
  """Std of the Gaussian noise added to D's inputs: linear from `initial_std` to 0."""
  progress = jnp.minimum(step.astype(jnp.float32) / max(anneal_steps, 1), 1.0)
  return initial_std * (1.0 - progress)


def r1_norms(realness_sum: Callable[[jax.Array], Tuple[jax.Array, Any]],
             real: jax.Array) -> Tuple[jax.Array, Any]:
  """(E_i ||grad_x_i sum_j D(x_j)||^2, aux) for `realness_sum(x) -> (sum of D's
  realness logits, aux)` on the real batch `x` [B, ...]."""
  grads, aux = jax.grad(realness_sum, has_aux=True)(real)
  grads = grads.astype(jnp.float32)
  return jnp.sum(jnp.square(grads), axis=tuple(range(1, grads.ndim))).mean(), aux


def _make_update(model: GANModel, g_tx: optax.GradientTransformation,
                 d_tx: optax.GradientTransformation, aux_loss_on_fake: bool,
                 noisy: bool, diffaug_policy: Tuple[str, ...] = (),
                 objective: objectives.Objective = objectives.get('bce'),
                 r1_weight: float = 0.0) -> Callable:
  """One D update and one G update of one GAN on given real and latent batches.

  `r1_weight > 0` adds `r1_weight` x E||grad_x D(x)||^2 of the real batch to D's
  loss (the lazy R1 step's (gamma / 2) x r1_every) and returns it as `r1`.
  """
  fake_aux_weight = 1.0 if aux_loss_on_fake else 0.0
  generator, discriminator = model.generator, model.discriminator

  def update(parts, real, real_labels, z, fake_labels, keys, noise_std, ada_p=None):
    g_params, g_stats, g_opt, d_params, d_stats, d_opt = parts
    drop_real, drop_fake, drop_g, noise_key = jax.random.split(keys, 4)
    noise_keys = jax.random.split(noise_key, 3)
    # Folded in rather than split off, so runs without DiffAugment (or ADA)
    # keep the random streams they had before it existed.
    aug_keys = jax.random.split(jax.random.fold_in(keys, 0x0D1FF), 3)
    ada_keys = jax.random.split(jax.random.fold_in(keys, 0xADA), 3)

    def with_noise(x, key):
      if not noisy:
        return x
      return x + noise_std * jax.random.normal(key, x.shape, x.dtype)

    def seen_by_d(x, index):
      """What D sees in training: augmented (ADA, DiffAugment), then noised."""
      if ada_p is not None:
        x = ada.augment(ada_keys[index], x, ada_p)
      return with_noise(diffaug.augment(x, diffaug_policy, aug_keys[index]),
                        noise_keys[index])

    def discriminate(params, batch_stats, x, labels, key):
      (realness, class_logits), updates = discriminator.apply(
          {'params': params, 'batch_stats': batch_stats}, x, labels, train=True,
          rngs={'dropout': key}, mutable=['batch_stats'])
      return realness, class_logits, updates.get('batch_stats', {})

    def generate(params):
      fake, updates = generator.apply(
          {'params': params, 'batch_stats': g_stats}, z, fake_labels, train=True,
          mutable=['batch_stats'])
      return fake, updates.get('batch_stats', {})

    fake, generator_vjp, new_g_stats = jax.vjp(generate, g_params, has_aux=True)

    def d_loss_fn(params):
      def real_pass(x):
        logit, cls, stats = discriminate(params, d_stats, seen_by_d(x, 0),
                                         real_labels, drop_real)
        return logit.sum(), (logit, cls, stats)

      if r1_weight > 0:
        grad_norm2, (real_logit, real_cls, stats) = r1_norms(real_pass, real)
      else:
        _, (real_logit, real_cls, stats) = real_pass(real)
      fake_logit, fake_cls, stats = discriminate(
          params, stats, seen_by_d(jax.lax.stop_gradient(fake), 1), fake_labels,
          drop_fake)
      loss = objective.d_loss(real_logit, fake_logit)
      metrics = {'d_real': jax.nn.sigmoid(real_logit).mean(),
                 'd_fake': jax.nn.sigmoid(fake_logit).mean()}
      if r1_weight > 0:
        metrics['r1'] = r1_weight * grad_norm2
      if ada_p is not None:  # ADA's overfitting heuristic reads it.
        metrics['ada_sign'] = jnp.sign(real_logit.astype(jnp.float32)).mean()
      if model.has_class_head:
        loss += (_ce(real_cls, real_labels)
                 + fake_aux_weight * _ce(fake_cls, fake_labels))
        metrics.update(aux_acc_real=_accuracy(real_cls, real_labels),
                       aux_acc_fake=_accuracy(fake_cls, fake_labels))
      total = loss + metrics['r1'] if r1_weight > 0 else loss
      return total, (stats, loss, metrics)

    (_, (new_d_stats, d_loss, metrics)), d_grads = jax.value_and_grad(
        d_loss_fn, has_aux=True)(d_params)
    d_updates, new_d_opt = d_tx.update(d_grads, d_opt, d_params)
    new_d_params = optax.apply_updates(d_params, d_updates)

    def g_loss_fn(fake_images):
      logit, cls, _ = discriminate(new_d_params, new_d_stats,
                                   seen_by_d(fake_images, 2), fake_labels, drop_g)
      loss = objective.g_loss(logit)
      if model.has_class_head:
        loss += _ce(cls, fake_labels)
      return loss, jax.nn.sigmoid(logit).mean()

    (g_loss, d_fake_after), fake_grad = jax.value_and_grad(
        g_loss_fn, has_aux=True)(fake)
    (g_grads,) = generator_vjp(fake_grad)
    g_updates, new_g_opt = g_tx.update(g_grads, g_opt, g_params)
    new_g_params = optax.apply_updates(g_params, g_updates)
    metrics.update(d_loss=d_loss, g_loss=g_loss, d_fake_after_update=d_fake_after)
    return ((new_g_params, new_g_stats, new_g_opt, new_d_params, new_d_stats,
             new_d_opt), metrics)

  return update


def _parts(state: GANState):
  return (state.g_params, state.g_batch_stats, state.g_opt_state, state.d_params,
          state.d_batch_stats, state.d_opt_state)


def _with_parts(state: GANState, parts, ema_decay: float) -> GANState:
  g_params, g_stats, g_opt, d_params, d_stats, d_opt = parts
  g_ema = state.g_ema_params
  if ema_decay > 0:
    if g_ema is None:
      raise ValueError('ema_decay > 0 needs a state made with init_state(..., '
                       'with_ema=True).')
    g_ema = ema.update(g_ema, g_params, ema.warmed_up_decay(ema_decay, state.step))
  return state.replace(step=state.step + 1, g_params=g_params, g_batch_stats=g_stats,
                       g_opt_state=g_opt, d_params=d_params, d_batch_stats=d_stats,
                       d_opt_state=d_opt, g_ema_params=g_ema)


def make_train_step(model: GANModel, g_tx: optax.GradientTransformation,
                    d_tx: optax.GradientTransformation, *, mesh: Mesh,
                    batch_size: int, latent_dim: int, aux_loss_on_fake: bool = True,
                    noise_std: float = 0.0, noise_anneal_steps: int = 1,
                    num_examples: Optional[int] = None, diffaug_policy: str = '',
                    ema_decay: float = 0.0, streamed: bool = False,
                    r1_gamma: float = 0.0, r1_every: int = 1,
                    ada_settings: Optional[ada.Settings] = None) -> Callable:
  """Returns the un-jitted pure step `(state, images_u8, labels) -> (state, metrics)`.

  With `streamed=True` the step takes the step's batch itself instead of the
  training set (`gan_aug.data.streaming` draws it by the same rule): images
  [B, ...] and labels [B], or for a per-class model images [C, B, ...] (labels
  unused).

  For a per-class model the data are `stack_by_class`'s (images [C, N, ...],
  counts [C]) and every class's GAN takes its own batch of `batch_size` images of
  its class in the same step (vmap over the stacked parameters). With
  `aux_loss_on_fake=False` an ACGAN's class head learns from real images only.
  `noise_std > 0` adds Gaussian instance noise to everything D sees in training,
  annealed linearly to 0 over `noise_anneal_steps`. `num_examples` is the true
  size of the example axis when the stored data are padded beyond it (see
  `sharding.put_examples`); default: the stored size. `diffaug_policy` (e.g.
  'color,translation,cutout') turns DiffAugment on; `ema_decay > 0` updates
  `g_ema_params` after every step with `ema.warmed_up_decay` (the state must
  have them: `with_ema`). The losses are those of `model.objective`
  (`gan_aug.gan.objectives`); `r1_gamma > 0` adds the R1 penalty every
  `r1_every` steps (see the module docstring) and the metric `r1`: the penalty
  added to D's loss in a step (0 in steps without it), so its mean over a
  logging window is the penalty per step.
  `ada_settings` turns ADA on (the state must have its p: `with_ada`); the
  metrics then hold `ada_p` (the p of this step) and `ada_sign` (the batch mean
  of sign(D(x_real))), averaged over classes for a per-class model.
  """
  make = functools.partial(_make_update, model, g_tx, d_tx, aux_loss_on_fake,
                           noise_std > 0, diffaug.parse_policy(diffaug_policy),
                           objectives.get(model.objective))
  plain = make()
  with_r1 = make(r1_weight=0.5 * r1_gamma * r1_every) if r1_gamma > 0 else None
  num_classes = model.num_classes

  def run_update(state: GANState, call: Callable) -> Tuple[Any, Metrics]:
    """`call(update)` with the update this step takes: with R1 or without."""
    if with_r1 is None:
      return call(plain)
    if r1_every == 1:
      return call(with_r1)

    def without_r1():
      parts, metrics = call(plain)
      return parts, {**metrics, 'r1': jnp.zeros_like(metrics['d_loss'])}

    return jax.lax.cond(state.step % r1_every == 0, lambda: call(with_r1),
                        without_r1)

  def _with_ada(state: GANState, metrics: Metrics, batch: int) -> GANState:
    """ADA's p after this step (`ada.next_state`); `ada_p` into the metrics."""
    if ada_settings is None:
      return state
    metrics['ada_p'] = state.ada_p
    p, signs = ada.next_state(state.ada_p, state.ada_signs, metrics['ada_sign'],
                              state.step, ada_settings, batch)
    return state.replace(ada_p=p, ada_signs=signs)

  def conditional_step(state: GANState, images: jax.Array,
                       labels: jax.Array) -> Tuple[GANState, Metrics]:
    data_key, noise_key = jax.random.split(state.rng)
    z_key, label_key, update_key = jax.random.split(
        jax.random.fold_in(noise_key, state.step), 3)
    shard = lambda x: sharding.shard_batch(x, mesh)
    if streamed:
      real, real_labels = shard(images_lib.to_unit(images)), shard(labels)
    else:
      index = shard(batch_order.batch_indices(data_key, state.step,
                                  num_examples or images.shape[0], batch_size))
      real = shard(images_lib.to_unit(images[index]))
      real_labels = shard(labels[index])
    z = shard(jax.random.normal(z_key, (batch_size, latent_dim),
                                images_lib.float_dtype()))
    fake_labels = shard(jax.random.randint(label_key, (batch_size,), 0, num_classes))
    std = instance_noise_std(state.step, noise_std, noise_anneal_steps)
    parts, metrics = run_update(state, lambda update: update(
        _parts(state), real, real_labels, z, fake_labels, update_key, std,
        state.ada_p))
    state = _with_ada(state, metrics, batch_size)
    return _with_parts(state, parts, ema_decay), metrics

  def per_class_step(state: GANState, images: jax.Array,
                     counts: jax.Array) -> Tuple[GANState, Metrics]:
    data_key, noise_key = jax.random.split(state.rng)
    z_key, update_key = jax.random.split(jax.random.fold_in(noise_key, state.step))
    classes = jnp.arange(num_classes)
    # Class axis first, batch axis split over the devices.
    shard = lambda x: jax.lax.with_sharding_constraint(
        x, NamedSharding(mesh, P(None, sharding.DATA_AXIS)))
    if streamed:
      real = shard(images_lib.to_unit(images))
    else:
      capacity = num_examples or images.shape[1]
      index = jax.vmap(lambda c, n: batch_order.padded_batch_indices(
          jax.random.fold_in(data_key, c), state.step, n, capacity,
          batch_size))(classes, counts)
      real = shard(images_lib.to_unit(jax.vmap(lambda x, i: x[i])(images, index)))
    z = shard(jax.random.normal(z_key, (num_classes, batch_size, latent_dim),
                                images_lib.float_dtype()))
    labels = jnp.broadcast_to(classes[:, None], (num_classes, batch_size))
    std = instance_noise_std(state.step, noise_std, noise_anneal_steps)
    parts, metrics = run_update(state, lambda update: jax.vmap(
        update, in_axes=(0, 0, 0, 0, 0, 0, None, 0))(
            _parts(state), real, labels, z, labels,
            jax.random.split(update_key, num_classes), std, state.ada_p))
    state = _with_ada(state, metrics, batch_size)  # Each class its own p.
    metrics = {k: v.mean() for k, v in metrics.items()}  # Averaged over classes.
    return _with_parts(state, parts, ema_decay), metrics

  return per_class_step if model.one_per_class else conditional_step
