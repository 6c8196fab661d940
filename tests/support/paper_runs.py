"""Runs a paper config's `:smoke` variant as a user does, and checks its report.

Each run is the command line on one CPU device; runs share the test session's
JAX compilation cache (tests/conftest.py), so seeds, reruns and the other
worker's runs compile each program once.
"""

import importlib
import json
import os
import subprocess
import sys

from conftest import CLI_ENV
from helpers import REPO_ROOT, run_arms


def run_command(name, variants, tmp_path, flags=(), workdir_name=None, **overrides):
  """Runs configs/<name>.py:<variants> (or, with `variants` None, the config file
  `name` relative to the repository) with `--config.<field>=<value>` overrides
  and other `flags` as a user does, in tmp_path/<workdir_name> (default: the
  config's name); returns the workdir."""
  workdir = str(tmp_path / (workdir_name or os.path.basename(name).removesuffix('.py')))
  env = dict(os.environ, **CLI_ENV)
  config = name if variants is None else f'configs/{name}.py:{variants}'
  args = [f'--config={config}', f'--workdir={workdir}',
          *flags] + [f'--config.{field}={value}' for field, value in overrides.items()]
  done = subprocess.run([sys.executable, '-m', 'gan_aug.main', *args], cwd=REPO_ROOT,
                        env=env, capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  return workdir


def run_config(name, variants, tmp_path, **overrides):
  """`run_command`; returns (report.json's content, the config without overrides)."""
  workdir = run_command(name, variants, tmp_path, **overrides)
  with open(os.path.join(workdir, 'report.json')) as f:
    report = json.load(f)
  config = importlib.import_module(name).get_config(variants)
  return report, config


def check_schema(report, num_test):
  """The report's schema, every real test image, a non-empty set."""
  for run in range(len(report['runs'])):
    arms = run_arms(report, run)
    assert list(arms) == report['protocol']['arms']
    for arm in arms.values():
      assert arm['test']['num_examples'] == num_test
      assert set(arm['test']) >= {'accuracy', 'macro_f1', 'per_class',
                                  'confusion_matrix'}
  for arm in report['protocol']['arms']:
    for fkey in report['protocol']['fractions']:
      assert set(report['arms'][arm][fkey]['accuracy']) == {'mean', 'std', 'ci95',
                                                           'values'}
  syn = report['runs'][0]['synthesis']
  assert syn['accepted'] > 0 and syn['accepted'] == sum(
      c['accepted'] for c in syn['per_class'].values())
  assert os.path.exists(report['figures']['real_vs_synthetic'])
