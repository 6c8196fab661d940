"""Small checks of config values; a failure names the field and what is allowed.

Each stage validates its own config block with these (`gan_aug.data`,
`gan_aug.gan.config_checks`, `gan_aug.synthesis.filter`,
`gan_aug.classifier.config_checks`, `gan_aug.protocol.axes`);
`gan_aug.pipeline.config_validation` composes them.
"""

import numbers

import ml_collections

from gan_aug.core.errors import ConfigError


def check(ok: bool, field: str, value, allowed: str) -> None:
  """ConfigError `config.<field>=<value> is not allowed: <allowed>.` unless `ok`."""
  if not ok:
    raise ConfigError(f'config.{field}={value!r} is not allowed: {allowed}.')


def _field(prefix: str, name: str) -> str:
  """The field as the config names it: `prefix.name`, or `name` at the top level."""
  return f'{prefix}.{name}' if prefix else name


def one_of(block: ml_collections.ConfigDict, prefix: str, name: str, allowed) -> None:
  """block[name] is one of `allowed`."""
  value = block[name]
  check(value in tuple(allowed), _field(prefix, name), value,
        f'one of {tuple(allowed)}')


def int_at_least(block: ml_collections.ConfigDict, prefix: str, name: str,
                 low: int) -> None:
  """block[name] is an integer >= low."""
  value = block[name]
  check(isinstance(value, numbers.Integral) and not isinstance(value, bool)
        and value >= low, _field(prefix, name), value,
        f'an integer >= {low}')


def number_in(block: ml_collections.ConfigDict, prefix: str, name: str, low: float,
              high: float, closed_low: bool = False, closed_high: bool = False) -> None:
  """block[name] is a number in the interval (or closed interval) low..high."""
  value = block[name]
  inside = (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and (low <= value if closed_low else low < value)
            and (value <= high if closed_high else value < high))
  left, right = '[' if closed_low else '(', ']' if closed_high else ')'
  check(inside, _field(prefix, name), value,
        f'a number in {left}{low}, {high}{right}')


def boolean(block: ml_collections.ConfigDict, prefix: str, name: str) -> None:
  """block[name] is True or False."""
  check(isinstance(block[name], bool), _field(prefix, name), block[name],
        'True or False')
