"""Short stable hashes of JSON-serialisable objects: the keys of stages and of
prepared data sets (a module of its own so that every floor can use it)."""

import hashlib
import json
from typing import Any


def fingerprint(obj: Any) -> str:
  """A short stable hash of a JSON-serialisable object."""
  text = json.dumps(obj, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]
