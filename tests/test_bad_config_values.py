"""Bad config values end in a clear message naming the field and what is allowed,
before any work starts."""

import jax
import ml_collections
import pytest

from gan_aug.core import errors
from gan_aug.pipeline import config_validation
from gan_aug.pipeline import runner
from helpers import covid_acgan
import covid_dcgan  # pylint: disable=g-bad-import-order


@pytest.mark.parametrize('field,value,valid', [
    ('gan.name', 'acgna', "Valid names: acgan, cgan, dcgan_per_class, edm. "
                          "Did you mean 'acgan'?"),
    ('classifier.name', 'resnet', 'Valid names: '),
    ('data.name', 'imagefolder', "Did you mean 'image_folder'?"),
])
def test_unknown_names_list_the_valid_ones(field, value, valid):
  config = covid_acgan.get_config()
  section, name = field.split('.')
  config[section][name] = value
  with pytest.raises(errors.UnknownComponentError) as info:
    config_validation.validate(config)
  message = str(info.value)
  assert f"'{value}' (config field config.{field}" in message
  assert valid in message


@pytest.mark.parametrize('field', ['gan.learning_rate', 'classifier.learning_rate',
                                   'gan.batch_size', 'classifier.batch_size',
                                   'classifier.eval_batch_size',
                                   'synthesis.batch_size'])
@pytest.mark.parametrize('value', [0, -1])
def test_zero_or_negative_rate_or_batch_is_refused(field, value):
  config = covid_acgan.get_config()
  section, name = field.split('.')
  config[section][name] = float(value) if 'rate' in name else value
  allowed = 'a number in (0.0, 1.0)' if 'rate' in name else 'an integer >= 1'
  with pytest.raises(errors.ConfigError) as info:
    config_validation.validate(config)
  assert str(info.value).startswith(f'config.{field}={config[section][name]!r}')
  assert allowed in str(info.value)


@pytest.mark.parametrize('field,value,allowed', [
    ('fast_compile', 'yes', 'True or False'),
    ('data.held_out_per_class', -1, 'an integer >= 0')])
def test_bad_compile_switch_or_held_out_cap_is_refused(field, value, allowed):
  values = covid_acgan.get_config('smoke').to_dict()
  section, _, name = field.rpartition('.')
  (values[section] if section else values)[name] = value
  config = ml_collections.ConfigDict(values)  # A value of another type, as JSON gives.
  with pytest.raises(errors.ConfigError) as info:
    config_validation.validate(config)
  assert str(info.value).startswith(f'config.{field}={value!r}')
  assert allowed in str(info.value)


@pytest.mark.parametrize('field', ['gan.batch_size', 'classifier.batch_size',
                                   'classifier.eval_batch_size',
                                   'synthesis.batch_size'])
def test_batch_not_divisible_by_the_devices_is_refused_by_validation(field):
  assert jax.device_count() == 8
  config = covid_acgan.get_config()
  section, name = field.split('.')
  config[section][name] = 12
  with pytest.raises(errors.ConfigError,
                     match=f'config.{field}=12 does not split evenly over 8 '
                           'devices; use a multiple of 8'):
    config_validation.validate(config)


@pytest.mark.parametrize('get_config,allowed', [
    (covid_acgan.get_config, 'ACGAN generator, which doubles a 7x7 map: use one '
                             'of 14, 28, 56, 112, 224, 448'),
    (covid_dcgan.get_config, 'DCGAN generator, which doubles a 4x4 map: use one '
                             'of 8, 16, 32, 64, 128, 256'),
])
@pytest.mark.parametrize('resolution', [100, 4, 0])
def test_resolution_the_generator_cannot_make_is_a_config_error(get_config, allowed,
                                                               resolution):
  config = get_config()
  config.data.resolution = resolution
  with pytest.raises(errors.ConfigError) as info:
    config_validation.validate(config)
  assert f'config.data.resolution={resolution} cannot be produced' in str(info.value)
  assert allowed in str(info.value)


def test_bad_resolution_stops_the_pipeline_before_any_work(tmp_path):
  config = covid_acgan.get_config('phantom,smoke')
  config.data.resolution = 30
  workdir = tmp_path / 'run'
  with pytest.raises(errors.ConfigError, match='use one of 14, 28'):
    runner.run(config, str(workdir))
  assert not workdir.exists()
