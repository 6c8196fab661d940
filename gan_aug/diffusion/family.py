"""`edm`: a class-conditional diffusion model (EDM) as a generator family.

Its config.gan fields and their defaults are `FIELDS` (a generator of
config.protocol.generators that names `edm` gets them, and
`gan_aug.config_blocks.blocks.edm` builds a block with them); it also reads the
loop's shared fields (batch_size, num_steps / num_epochs, learning_rate,
ema_decay, log_every, sample_every, checkpoint_every, samples_per_class,
conv_impl). Adam with (0.9, 0.999) at gan.learning_rate (gan.beta1/beta2 are
the GANs'). The sampler is EDM's deterministic Heun sampler
(`gan_aug.diffusion.edm.heun_sample`, gan.sample_steps = N steps, 2N - 1
evaluations) with the EMA weights and classifier-free guidance s =
gan.guidance: D = (1 - s) D_u + s D_c, both halves from one network call on a
batch of 2B (conditional, then the null class); s = 1 calls the conditional
network alone and s = 0 the unconditional alone. A latent z (gan.latent_dim is
unused: H x W x C values ~ N(0, 1)) is the sampler's starting noise / sigma_max,
so the manifest's latent index reproduces each image. It has no scorer: its
fakes are filtered with threshold_mode 'none'. gan.guidance and
gan.sample_steps are sampling fields: they key the synthesis stage, so
settings that differ only in them share one trained model (whose training-time
sample grids are drawn at the settings of the run that trained it).
"""

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_aug.core import checks
from gan_aug.core.errors import ConfigError
from gan_aug.diffusion import edm
from gan_aug.diffusion import step as edm_step
from gan_aug.diffusion.unet import UNet
from gan_aug.generator import family as family_lib
from gan_aug.models import conv_layers

# config.gan's fields of this family, and their defaults.
FIELDS = {
    'unet_widths': (32, 64, 64),   # channels per level; each level halves the side
    'unet_blocks': 1,              # residual blocks per level (and per level up)
    'attention_resolutions': (7,), # sides (px) with self-attention
    'dropout': 0.1,                # in the residual blocks, training only
    'label_dropout': 0.1,          # labels trained as the null class
    'guidance': 1.0,               # s: 0 unconditional, 1 conditional, > 1 guided
    'sample_steps': 18,            # Heun steps N: 2N - 1 network evaluations
}

METRICS = (family_lib.Metric('loss', 'loss', fmt='.4f'),
           *(family_lib.Metric(key, f'loss sigma {label}', fmt='.4f')
             for (key, _, _), label in zip(edm_step.SIGMA_RANGES,
                                          ('< 0.18', '0.18-0.50', '> 0.50'))))


@dataclasses.dataclass(frozen=True)
class Networks:
  """The U-Net, what the rest of the project asks of a family's networks, and
  the sampler's settings."""
  unet: UNet
  num_classes: int
  image_shape: tuple
  guidance: float = FIELDS['guidance']
  sample_steps: int = FIELDS['sample_steps']
  one_per_class: bool = False


def level_sides(resolution: int, levels: int):
  """The side of each U-Net level (each after the first halves it, rounding down)."""
  sides = [resolution]
  for _ in range(levels - 1):
    sides.append(sides[-1] // 2)
  return tuple(sides)


def build(config: ml_collections.ConfigDict, num_classes: int) -> Networks:
  """The U-Net of config.gan for `num_classes` classes (+ the null class)."""
  image_shape = (config.data.resolution, config.data.resolution, config.data.channels)
  unet = UNet(num_classes=num_classes, out_channels=config.data.channels,
              widths=tuple(config.gan.unet_widths),
              blocks=int(config.gan.unet_blocks),
              attention_resolutions=tuple(config.gan.attention_resolutions),
              dropout=float(config.gan.dropout),
              conv_impl=conv_layers.resolve_conv_impl(config.gan.get('conv_impl',
                                                                     'auto')))
  return Networks(unet, num_classes, image_shape,
                  guidance=float(config.gan.guidance),
                  sample_steps=int(config.gan.sample_steps))


def optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  return optax.adam(config.gan.learning_rate, b1=0.9, b2=0.999)


def _init(networks: Networks, config: ml_collections.ConfigDict,
          image_shape) -> Callable:
  return functools.partial(edm_step.init_state, networks.unet, optimizer(config),
                           image_shape=tuple(image_shape))


def _make_train_step(networks: Networks, config: ml_collections.ConfigDict, *, mesh,
                     batch_size: int, num_examples: int, num_steps: int,
                     streamed: bool) -> Callable:
  del num_steps
  return edm_step.make_train_step(
      networks.unet, optimizer(config), mesh=mesh, batch_size=batch_size,
      num_examples=num_examples, label_dropout=float(config.gan.label_dropout),
      ema_decay=float(config.gan.get('ema_decay', 0.0)), streamed=streamed)


def guided_denoiser(unet, params, labels: jax.Array, guidance: float) -> Callable:
  """D(x; sigma) with classifier-free guidance s = `guidance` for `labels`."""
  null = jnp.full_like(labels, unet.num_classes)
  if guidance == 1.0:
    return edm_step.denoiser(unet, params, labels)
  if guidance == 0.0:
    return edm_step.denoiser(unet, params, null)
  both = edm_step.denoiser(unet, params, jnp.concatenate([labels, null]))

  def denoise(x, sigma):
    conditional, unconditional = jnp.split(both(jnp.concatenate([x, x]), sigma), 2)
    return edm.guided(conditional, unconditional, guidance)

  return denoise


def make_sample(networks: Networks) -> Callable:
  """Pure `(params, z, labels) -> images in [-1, 1]`: Heun from z * sigma_max."""
  unet = networks.unet

  def sample(params, z, labels):
    latents = z.reshape((z.shape[0],) + tuple(networks.image_shape))
    x = edm.heun_sample(guided_denoiser(unet, params, labels, networks.guidance),
                        latents, networks.sample_steps)
    return jnp.clip(x, -1.0, 1.0)

  return sample


def _make_sampler(networks: Networks,
                  inference: Callable = lambda m: m) -> family_lib.Sampler:
  """The EMA weights through Heun's sampler, in inference mode."""
  networks = dataclasses.replace(networks, unet=inference(networks.unet))
  sample = make_sample(networks)

  def labelled(state: edm_step.DiffusionState, z, labels):
    return sample(state.ema_params, z, labels)

  def one_class(state: edm_step.DiffusionState, z, label):
    return sample(state.ema_params, z, jnp.full((z.shape[0],), label, jnp.int32))

  return family_lib.Sampler(labelled, one_class)


def validate(config: ml_collections.ConfigDict) -> Networks:
  """ConfigError for a bad field of this family; the networks (two classes)."""
  gan, p = config.gan, 'gan'
  for name in FIELDS:
    if name not in gan:
      raise ConfigError(f'config.gan lacks {name!r}, a field of the edm family '
                        '(build its block with gan_aug.config_blocks.blocks.edm).')
  widths = tuple(gan.unet_widths)
  checks.check(len(widths) > 0 and all(isinstance(w, int) and w >= 1 for w in widths),
               'gan.unet_widths', gan.unet_widths,
               'a non-empty tuple of positive integers')
  checks.int_at_least(gan, p, 'unet_blocks', 1)
  sides = level_sides(config.data.resolution, len(widths))
  checks.check(sides[-1] >= 1 and set(gan.attention_resolutions) <= set(sides),
               'gan.attention_resolutions', gan.attention_resolutions,
               f'sides of the U-Net levels at {config.data.resolution} px, {sides}')
  checks.number_in(gan, p, 'dropout', 0.0, 1.0, closed_low=True)
  checks.number_in(gan, p, 'label_dropout', 0.0, 1.0, closed_low=True)
  checks.number_in(gan, p, 'guidance', 0.0, 100.0, closed_low=True)
  checks.check(gan.guidance == 1.0 or gan.label_dropout > 0, 'gan.guidance',
               gan.guidance, 'other than 1 only with gan.label_dropout > 0 (the '
               'null class must be trained)')
  checks.int_at_least(gan, p, 'sample_steps', 2)
  checks.number_in(gan, p, 'ema_decay', 0.0, 1.0, closed_low=True)
  for name in ('batch_size', 'log_every', 'sample_every', 'checkpoint_every',
               'max_checkpoints_to_keep', 'samples_per_class'):
    checks.int_at_least(gan, p, name, 1)
  checks.int_at_least(gan, p, 'synthesis_step', 0)
  checks.number_in(gan, p, 'learning_rate', 0.0, 1.0)
  try:
    return build(config, num_classes=2)
  except ValueError as e:
    raise ConfigError(str(e)) from e


def _latent_dim(config: ml_collections.ConfigDict) -> int:
  """Every pixel's starting noise: H x W x C."""
  return int(config.data.resolution ** 2 * config.data.channels)


FAMILY = family_lib.Family(
    description='EDM diffusion (Karras et al. 2022): a class-conditional U-Net, '
                'Heun sampler, classifier-free guidance',
    build=build, init=_init, make_train_step=_make_train_step, metrics=METRICS,
    latent_dim=_latent_dim, make_sampler=_make_sampler, validate=validate,
    fields=FIELDS, sampling_fields=('guidance', 'sample_steps'))
family_lib.FAMILIES.register('edm')(FAMILY)
