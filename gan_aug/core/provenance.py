"""What a run was: resolved config, code commit, package versions, devices, seeds."""

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from typing import Dict

import jax
import ml_collections

PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'ml-collections',
            'numpy', 'pillow', 'absl-py')


def _git(*args: str) -> str:
  repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  try:
    return subprocess.run(['git', '-C', repo, *args], capture_output=True, text=True,
                          timeout=10, check=True).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return ''


def package_versions() -> Dict[str, str]:
  versions = {}
  for name in PACKAGES:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = 'not installed'
  return versions


def collect(config: ml_collections.ConfigDict) -> Dict:
  """A JSON-ready record of the code, environment and config of this run."""
  devices = jax.devices()
  commit = _git('rev-parse', 'HEAD')
  return {
      'time_utc': datetime.datetime.now(datetime.timezone.utc).isoformat(),
      'command': sys.argv,
      'git_commit': commit or 'unknown (not a git checkout)',
      'git_dirty': bool(_git('status', '--porcelain', '--untracked-files=no'))
                   if commit else None,
      'python': platform.python_version(),
      'packages': package_versions(),
      'devices': {'platform': devices[0].platform,
                  'kind': devices[0].device_kind,
                  'count': len(devices),
                  'local_count': jax.local_device_count(),
                  'process_count': jax.process_count()},
      'seed': config.seed,
      'config': config.to_dict(),
  }
