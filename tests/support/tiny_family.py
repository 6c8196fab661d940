"""A generator family defined outside the package: a tiny conditional generator
with no discriminator, chosen with `--config.gan.name=tiny_family` (this folder
on PYTHONPATH). It shows what a family provides (gan_aug.generator.family) and
that the generator stage, synthesis, the classifier arms and the report run it
with no edit to the project.

G(z, y) is one dense layer from the latent and the class's one-hot code to the
image, through tanh; its train step pulls each sample towards a real training
image of the same class (a squared error: no adversary, no filter). The module
`tiny_family_scored` adds a scorer.
"""

import dataclasses
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_aug.generator import family as family_lib

LATENT_DIM = 4


class TinyGenerator(nn.Module):
  """G(z, y): a dense layer from [z, one_hot(y)] to the image, through tanh."""
  num_classes: int
  image_shape: tuple

  @nn.compact
  def __call__(self, z, labels):
    h = jnp.concatenate([z, jax.nn.one_hot(labels, self.num_classes)], -1)
    return jnp.tanh(nn.Dense(int(np.prod(self.image_shape)))(h)).reshape(
        (-1,) + tuple(self.image_shape))


@dataclasses.dataclass(frozen=True)
class Networks:
  generator: nn.Module
  num_classes: int
  one_per_class: bool = False


@flax.struct.dataclass
class State:
  step: jax.Array
  rng: jax.Array
  params: Any
  opt_state: Any


def build(config, num_classes: int) -> Networks:
  shape = (config.data.resolution, config.data.resolution, config.data.channels)
  return Networks(TinyGenerator(num_classes, shape), num_classes)


def _optimizer(config):
  return optax.adam(config.gan.learning_rate)


def init(networks: Networks, config, image_shape):
  del image_shape  # The generator knows its output shape.
  tx = _optimizer(config)

  def init_state(seed):
    key, run_key = jax.random.split(jax.random.PRNGKey(seed))
    params = networks.generator.init(key, jnp.zeros((1, LATENT_DIM)),
                                     jnp.zeros((1,), jnp.int32))['params']
    return State(step=jnp.zeros((), jnp.int32), rng=run_key, params=params,
                 opt_state=tx.init(params))

  return init_state


def make_train_step(networks: Networks, config, *, mesh, batch_size: int,
                    num_examples: int, num_steps: int, streamed: bool):
  del mesh, num_steps
  tx = _optimizer(config)

  def step(state: State, images, labels):
    key = jax.random.fold_in(state.rng, state.step)
    index_key, z_key = jax.random.split(key)
    if streamed:
      real_u8, real_labels = images, labels
    else:
      index = jax.random.randint(index_key, (batch_size,), 0, num_examples)
      real_u8, real_labels = images[index], labels[index]
    real = real_u8.astype(jnp.float32) / 127.5 - 1.0
    z = jax.random.normal(z_key, (batch_size, LATENT_DIM))

    def loss_fn(params):
      fake = networks.generator.apply({'params': params}, z, real_labels)
      return jnp.mean((fake - real) ** 2)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    return state.replace(step=state.step + 1,
                         params=optax.apply_updates(state.params, updates),
                         opt_state=opt_state), {'loss': loss}

  return step


def make_sampler(networks: Networks, inference=lambda m: m) -> family_lib.Sampler:
  generator = inference(networks.generator)

  def labelled(state: State, z, labels):
    return generator.apply({'params': state.params}, z, labels)

  def one_class(state: State, z, label):
    return labelled(state, z, jnp.full((z.shape[0],), label, jnp.int32))

  return family_lib.Sampler(labelled, one_class)


def validate(config) -> Networks:
  if config.gan.latent_dim < 1:
    raise ValueError('config.gan.latent_dim must be positive')
  return build(config, 2)


FAMILY = family_lib.Family(
    description='a tiny conditional generator, no discriminator (a test module)',
    build=build, init=init, make_train_step=make_train_step,
    metrics=(family_lib.Metric('loss', 'loss'),),
    latent_dim=lambda config: LATENT_DIM, make_sampler=make_sampler,
    validate=validate)
