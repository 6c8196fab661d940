"""What the command-line entry points share: exit statuses for the errors a person
can fix (`gan_aug.core.errors`), quiet logs, and how programs are compiled."""

import logging as std_logging
import os
import sys
from typing import Any, Callable

from absl import logging

from gan_aug.core import errors


def _quiet_library_info(record) -> bool:
  """Keeps INFO lines from this project; libraries (Orbax is chatty) only warn."""
  return record.levelno >= std_logging.WARNING or '/gan_aug/' in record.pathname


def set_up_logging(level: int = logging.INFO) -> None:
  """absl logging at `level`, with other libraries' INFO lines filtered out."""
  logging.set_verbosity(level)
  for handler in (*std_logging.getLogger().handlers,
                  logging.get_absl_handler().python_handler):
    handler.addFilter(_quiet_library_info)


# XLA's unoptimised CPU backend: programs compile several times faster and run
# slower (measured on 2 cores: the ACGAN's initialisation 12.5 s -> 1.9 s).
FAST_COMPILE_XLA_FLAG = '--xla_backend_optimization_level=0'
DEFAULT_COMPILATION_CACHE = os.path.join('~', '.cache', 'gan_aug',
                                         'jax_compilation_cache')


def set_up_compilation(config) -> None:
  """JAX's persistent compilation cache, and `config.fast_compile`; call before
  the first JAX computation of the process.

  The cache is $JAX_COMPILATION_CACHE_DIR (empty: off), else
  DEFAULT_COMPILATION_CACHE: a program compiled once on this machine (by an
  earlier run, seed or stage) is read back instead of compiled again.
  `config.fast_compile` (the `:smoke` variants set it) compiles with XLA's
  unoptimised backend, for runs whose time is compilation.
  """
  import jax  # pylint: disable=g-import-not-at-top
  if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
    jax.config.update('jax_compilation_cache_dir',
                      os.path.expanduser(DEFAULT_COMPILATION_CACHE))
  if 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS' not in os.environ:
    # Unoptimised compiles take under JAX's default second; seeds repeat them.
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.2)
  if config.get('fast_compile', False):
    flags = os.environ.get('XLA_FLAGS', '')
    if FAST_COMPILE_XLA_FLAG not in flags:
      os.environ['XLA_FLAGS'] = f'{flags} {FAST_COMPILE_XLA_FLAG}'.strip()


def run_or_exit(fn: Callable[..., Any], *args, who: str = '') -> Any:
  """`fn(*args)`, or a one-line message and the exit status `errors.exit_status`
  gives (3: diverged GAN, 2: a problem the user can fix, 75: stopped by a
  signal) instead of a traceback."""
  prefix = f'error{f" ({who})" if who else ""}: '
  try:
    return fn(*args)
  except (Exception, errors.Preempted) as e:  # pylint: disable=broad-except
    status = errors.exit_status(e)
    if status is None:
      raise
    print(prefix + str(e), file=sys.stderr)
    sys.exit(status)
