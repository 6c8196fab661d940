"""What the command-line entry points share: the errors a person can fix, and quiet logs."""

import logging as std_logging
import sys
from typing import Any, Callable

from absl import logging

from gan_aug import config_validation
from gan_aug import data as data_lib
from gan_aug import registry
from gan_aug import synth
from gan_aug.train import gan_loop

# Problems a person can fix: a message and exit status 2, no traceback.
USER_ERRORS = (data_lib.DatasetNotFoundError, data_lib.DatasetError,
               config_validation.ConfigError, registry.UnknownComponentError,
               synth.SynthesisError)


def _quiet_library_info(record) -> bool:
  """Keeps INFO lines from this project; libraries (Orbax is chatty) only warn."""
  return record.levelno >= std_logging.WARNING or '/gan_aug/' in record.pathname


def set_up_logging(level: int = logging.INFO) -> None:
  """absl logging at `level`, with other libraries' INFO lines filtered out."""
  logging.set_verbosity(level)
  for handler in (*std_logging.getLogger().handlers,
                  logging.get_absl_handler().python_handler):
    handler.addFilter(_quiet_library_info)


def run_or_exit(fn: Callable[..., Any], *args, who: str = '') -> Any:
  """`fn(*args)`, or a one-line message and exit status 3 (diverged GAN) or 2
  (a problem the user can fix) instead of a traceback."""
  prefix = f'error{f" ({who})" if who else ""}: '
  try:
    return fn(*args)
  except gan_loop.GANDivergedError as e:
    print(prefix + str(e), file=sys.stderr)
    sys.exit(3)
  except USER_ERRORS as e:
    print(prefix + str(e), file=sys.stderr)
    sys.exit(2)
