"""Wall time of every config's `:smoke` run, as a user (or CI) starts it.

  GAN_AUG_DATA_DIR=../shared/data python scripts/time_smokes.py [--configs=a,b]
      [--variants=smoke] [--json=smokes.json] [--xla_flags=...]

Each run is `python -m gan_aug.main --config=configs/<name>.py:<variants>` in a
fresh workdir with a fresh, empty JAX compilation cache (so compiling is
counted, as on a first run), one after another on this machine. Prints a table
of seconds per config and their total, and writes the same as JSON.
"""

import glob
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from absl import app, flags

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CONFIGS = flags.DEFINE_list('configs', None, 'Config names (default: every config '
                             'in configs/ that has the variants).')
_VARIANTS = flags.DEFINE_string('variants', 'smoke', 'Variants to run.')
_JSON = flags.DEFINE_string('json', None, 'Where to write the timings as JSON.')
_XLA_FLAGS = flags.DEFINE_string('xla_flags', '', 'XLA_FLAGS for the runs.')


def _config_names():
  """Every config module in configs/ whose variants include the requested ones."""
  sys.path.insert(0, os.path.join(_REPO, 'configs'))
  sys.path.insert(0, _REPO)
  import importlib  # pylint: disable=g-import-not-at-top
  names = []
  for path in sorted(glob.glob(os.path.join(_REPO, 'configs', '*.py'))):
    name = os.path.splitext(os.path.basename(path))[0]
    try:
      importlib.import_module(name).get_config(_VARIANTS.value)
    except ValueError:  # The config has no such variant.
      continue
    names.append(name)
  return names


def _time_one(name: str, scratch: str) -> dict:
  workdir = os.path.join(scratch, name, 'run')
  env = dict(os.environ, XLA_FLAGS=_XLA_FLAGS.value,
             JAX_COMPILATION_CACHE_DIR=os.path.join(scratch, name, 'jax_cache'))
  command = [sys.executable, '-m', 'gan_aug.main',
             f'--config=configs/{name}.py:{_VARIANTS.value}', f'--workdir={workdir}']
  start = time.perf_counter()
  done = subprocess.run(command, cwd=_REPO, env=env, capture_output=True, text=True)
  seconds = time.perf_counter() - start
  if done.returncode:
    print(done.stderr[-3000:], file=sys.stderr)
  return {'config': f'{name}:{_VARIANTS.value}', 'seconds': round(seconds, 1),
          'exit_status': done.returncode}


def main(argv):
  del argv
  names = _CONFIGS.value or _config_names()
  results = []
  with tempfile.TemporaryDirectory() as scratch:
    for name in names:
      results.append(_time_one(name, scratch))
      r = results[-1]
      print(f'{r["config"]:<36} {r["seconds"]:7.1f} s  exit {r["exit_status"]}',
            flush=True)
  total = sum(r['seconds'] for r in results)
  print(f'{"total":<36} {total:7.1f} s')
  machine = {'processor': platform.processor() or platform.machine(),
             'cpus': os.cpu_count(), 'xla_flags': _XLA_FLAGS.value}
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump({'machine': machine, 'runs': results, 'total_seconds': total}, f,
                indent=2)
  if any(r['exit_status'] for r in results):
    sys.exit(1)


if __name__ == '__main__':
  app.run(main)
