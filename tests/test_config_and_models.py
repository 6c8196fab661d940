"""Configs, variants, validation errors, registries and the CovidGAN's shapes."""

import jax
import jax.numpy as jnp
import pytest

from gan_aug import data
from gan_aug.core import errors
from gan_aug.core import registry
from gan_aug.gan import networks
from gan_aug.models import acgan
from gan_aug.pipeline import config_validation
from gan_aug.pipeline import runner
from helpers import covid_acgan, tiny_config


def test_paper_config_holds_the_papers_values():
  config = covid_acgan.get_config()
  assert (config.gan.batch_size, config.gan.learning_rate, config.gan.beta1) == (64, 2e-4, 0.5)
  assert (config.gan.label_embedding_dim, config.gan.g_base_width) == (50, 1024)
  assert (config.gan.d_dropout, config.gan.leaky_slope, config.gan.num_epochs) == (0.5, 0.2, 1500)
  assert config.data.resolution == 112
  config_validation.validate(config)


def test_variants_combine_and_unknown_variant_fails():
  config = covid_acgan.get_config('phantom,smoke')
  assert config.data.name == 'phantom' and config.gan.num_steps > 0
  with pytest.raises(ValueError, match='valid: paper, smoke, phantom'):
    covid_acgan.get_config('smok')


@pytest.mark.parametrize('field,value,message', [
    ('gan.batch_size', 0, 'config.gan.batch_size=0'),
    ('gan.learning_rate', -1.0, 'config.gan.learning_rate=-1.0'),
    ('data.channels', 2, 'config.data.channels=2'),
    ('data.resolution', 100, 'use one of 14, 28, 56, 112'),
    ('data.val_fraction', 0.9, 'config.data.val_fraction=0.9'),
    ('data.bad_file_policy', 'ignore', "one of \\('skip', 'error'\\)"),
])
def test_bad_config_values_name_the_field(field, value, message):
  config = covid_acgan.get_config()
  section, name = field.split('.')
  config[section][name] = value
  with pytest.raises(errors.ConfigError, match=message):
    config_validation.validate(config)


def test_unknown_component_names_list_the_valid_ones():
  config = covid_acgan.get_config()
  config.gan.name = 'stylegan9'
  with pytest.raises(errors.UnknownComponentError,
                     match=r"Unknown GAN 'stylegan9' \(config field config.gan.name\)"
                           r".*Valid names: acgan"):
    config_validation.validate(config)
  with pytest.raises(errors.UnknownComponentError,
                     match='Valid names: image_folder, npz, phantom'):
    data.DATASETS.get('imagenet')


def test_registry_rejects_double_registration():
  reg = registry.Registry('thing')
  reg.register('a')(1)
  with pytest.raises(ValueError, match='registered twice'):
    reg.register('a')(2)


def _param_count(module, *args):
  variables = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), *args,
                                                 train=False))
  return sum(x.size for x in jax.tree.leaves(variables['params']))


def test_covidgan_sizes_match_the_paper():
  config = covid_acgan.get_config()
  model = networks.build_gan(config, num_classes=2)
  generator, discriminator = model.generator, model.discriminator
  z, y = jnp.zeros((2, 100)), jnp.zeros((2,), jnp.int32)
  # Paper 003: "approximately 22 million" (G) and "approximately 2 million" (D).
  assert 21e6 < _param_count(generator, z, y) < 23e6
  assert 1.4e6 < _param_count(discriminator, jnp.zeros((2, 112, 112, 3))) < 2.5e6
  out = jax.eval_shape(lambda: generator.apply(
      generator.init(jax.random.PRNGKey(0), z, y, train=False), z, y, train=False))
  assert out.shape == (2, 112, 112, 3)


@pytest.mark.parametrize('resolution,channels', [(28, 1)])
def test_generator_and_discriminator_run_at_other_sizes(resolution, channels):
  generator = acgan.ACGANGenerator(num_classes=3, resolution=resolution,
                                   channels=channels, base_width=16)
  discriminator = acgan.ACGANDiscriminator(num_classes=3, resolution=resolution,
                                           base_width=4)
  z, y = jnp.ones((4, 100)), jnp.arange(4) % 3
  # jit: eager Flax would compile every op separately (slow on 8 CPU devices).
  g_vars = jax.jit(generator.init, static_argnames='train')(
      jax.random.PRNGKey(0), z, y, train=False)
  images = jax.jit(generator.apply, static_argnames='train')(g_vars, z, y, train=False)
  assert images.shape == (4, resolution, resolution, channels)
  assert float(jnp.abs(images).max()) <= 1.0
  d_vars = jax.jit(discriminator.init, static_argnames='train')(
      jax.random.PRNGKey(1), images, train=False)
  realness, logits = jax.jit(discriminator.apply, static_argnames='train')(
      d_vars, images, train=False)
  assert realness.shape == (4,) and logits.shape == (4, 3)


def test_resolution_the_generator_cannot_make_is_rejected():
  with pytest.raises(ValueError, match='cannot be produced'):
    acgan.num_upsamplings(64)


@pytest.mark.parametrize('batch_size,message', [
    (64, 'larger than the 36 training images'),
    (12, 'does not split evenly over 8 devices'),
])
def test_batch_size_the_data_or_devices_cannot_take(tmp_path, batch_size, message):
  with pytest.raises(errors.ConfigError, match=message):
    runner.run(tiny_config(batch_size=batch_size), str(tmp_path / 'w'))
