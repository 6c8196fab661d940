"""Small name -> component registries used to pick models and data sets from configs."""

import difflib
from typing import Any, Callable, Dict, Generic, TypeVar

from gan_aug.core.errors import UnknownComponentError

T = TypeVar('T')


class Registry(Generic[T]):
  """Maps names to components; unknown names fail with the list of valid ones."""

  def __init__(self, kind: str):
    self.kind = kind
    self._entries: Dict[str, T] = {}

  def register(self, name: str) -> Callable[[T], T]:
    """Decorator that registers `obj` under `name`."""

    def decorator(obj: T) -> T:
      if name in self._entries:
        raise ValueError(f'{self.kind} {name!r} is registered twice.')
      self._entries[name] = obj
      return obj

    return decorator

  def get(self, name: str, field: str = '') -> T:
    """Returns the component called `name`, or raises UnknownComponentError."""
    if not isinstance(name, str) or name not in self._entries:
      where = f' (config field {field})' if field else ''
      close = difflib.get_close_matches(str(name), list(self._entries), n=1)
      guess = f' Did you mean {close[0]!r}?' if close else ''
      raise UnknownComponentError(
          f'Unknown {self.kind} {name!r}{where}. '
          f'Valid names: {", ".join(sorted(self._entries))}.{guess}')
    return self._entries[name]

  def names(self) -> list:
    """Sorted registered names."""
    return sorted(self._entries)

  def __contains__(self, name: Any) -> bool:
    return name in self._entries
