"""Test set-up: 8 CPU devices for data-parallel tests, unoptimised compiles, and the
shared real data sets."""

import os

# Must be set before JAX initialises its backends. The tests' programs are small
# and their time is compilation: XLA's unoptimised backend (what a `:smoke`
# config's fast_compile sets) halves it (measured on 2 cores, test_train_step.py
# and test_report.py: 207 s -> 98 s). Tests compare results made under the same
# flags.
os.environ['XLA_FLAGS'] = (
    os.environ.get('XLA_FLAGS', '') + ' --xla_force_host_platform_device_count=8'
    ' --xla_backend_optimization_level=0').strip()
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import atexit  # pylint: disable=g-import-not-at-top
import shutil  # pylint: disable=g-import-not-at-top
import tempfile  # pylint: disable=g-import-not-at-top

import jax  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top

# Tests build the same small programs many times (one train_gan per test);
# JAX's persistent cache compiles each distinct program once per test session.
# The pytest-xdist workers of one session share the folder (its run id names it),
# so a program one worker compiled is read, not compiled, by the other; the
# controlling process (or a run without xdist) removes it at exit.
_RUN_ID = os.environ.get('PYTEST_XDIST_TESTRUNUID', f'pid{os.getpid()}')
CACHE_DIR = os.path.join(tempfile.gettempdir(), f'gan_aug_test_jax_cache_{_RUN_ID}')
os.makedirs(CACHE_DIR, exist_ok=True)
if 'PYTEST_XDIST_WORKER' not in os.environ:
  atexit.register(shutil.rmtree, CACHE_DIR, ignore_errors=True)
jax.config.update('jax_compilation_cache_dir', CACHE_DIR)
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)

# What a command-line run in a test adds to the environment: one CPU device (no
# device-count flag) and the session's compilation cache. A `:smoke` config
# compiles unoptimised itself (config.fast_compile).
CLI_ENV = {'XLA_FLAGS': '', 'JAX_COMPILATION_CACHE_DIR': CACHE_DIR,
           'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0',
           'JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES': '0'}
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shared_data_dir() -> str:
  """Real data sets: $GAN_AUG_DATA_DIR, else ../shared/data beside the repo."""
  return os.environ.get('GAN_AUG_DATA_DIR',
                        os.path.join(REPO_ROOT, '..', 'shared', 'data'))


@pytest.fixture(scope='session')
def data_dir() -> str:
  path = shared_data_dir()
  if not os.path.isdir(os.path.join(path, 'covid19_3way')):
    pytest.fail(f'Real test data not found under {os.path.abspath(path)}; set '
                'GAN_AUG_DATA_DIR to the folder holding covid19_3way/ and '
                'pneumoniamnist.npz.')
  return path


@pytest.fixture(scope='session')
def covid_dir(data_dir) -> str:
  return os.path.join(data_dir, 'covid19_3way')


def pytest_configure(config):
  # pytest-xdist's `--dist loadfile` hands out test files in the order of the
  # collection; by default it first reorders them by their number of tests,
  # which puts the long one-test end-to-end files last, and one worker then
  # waits minutes for the other. The collection order below is kept instead.
  if hasattr(config.option, 'loadscopereorder'):
    config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
  """Files with end-to-end (`slow`) tests first, so that the two workers of CI
  end together on the short files (longest work first)."""
  del config
  slow_files = {item.path for item in items if item.get_closest_marker('slow')}
  items.sort(key=lambda item: item.path not in slow_files)  # A stable sort.
