"""The watchdog ends a run that stopped progressing, naming what it waited on,
with its own exit status; progress keeps it quiet; config values are checked."""

import subprocess
import sys
import time

import pytest

from gan_aug.core import errors
from gan_aug.pipeline import config_validation
from helpers import REPO_ROOT, tiny_config


def _python(code: str):
  start = time.monotonic()
  result = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
  return result, time.monotonic() - start


def test_an_injected_hang_ends_with_the_watchdog_status_naming_the_wait():
  result, seconds = _python(
      'import time\n'
      'from gan_aug.runtime import watchdog\n'
      'watchdog.start(1)\n'
      "watchdog.progress('the Orbax save of GAN step 40')\n"
      'time.sleep(30)  # The hang.\n')
  assert result.returncode == errors.WATCHDOG_STATUS, result.stderr
  assert 'no progress for' in result.stderr
  assert 'waiting on: the Orbax save of GAN step 40' in result.stderr
  assert seconds < 20


def test_steady_progress_keeps_the_watchdog_quiet_and_zero_turns_it_off():
  result, _ = _python(
      'import time\n'
      'from gan_aug.runtime import watchdog\n'
      'watchdog.start(0.5)\n'
      'for step in range(15):\n'
      "  watchdog.progress(f'step {step}')\n"
      '  time.sleep(0.1)\n'
      'watchdog.start(0)\n'
      'time.sleep(1.5)\n')
  assert result.returncode == 0, result.stderr
  assert 'watchdog' not in result.stderr


@pytest.mark.parametrize('value', [-1, -0.5])
def test_a_bad_watchdog_setting_is_refused(value):
  config = tiny_config()
  config.run.watchdog_seconds = value
  with pytest.raises(errors.ConfigError, match='run.watchdog_seconds'):
    config_validation.validate(config)
