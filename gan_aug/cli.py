"""What the command-line entry points share: exit statuses for the errors a person
can fix (`gan_aug.errors`), and quiet logs."""

import logging as std_logging
import sys
from typing import Any, Callable

from absl import logging

from gan_aug import errors


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
  """`fn(*args)`, or a one-line message and the exit status `errors.exit_status`
  gives (3: diverged GAN, 2: a problem the user can fix) instead of a traceback."""
  prefix = f'error{f" ({who})" if who else ""}: '
  try:
    return fn(*args)
  except Exception as e:  # pylint: disable=broad-except
    status = errors.exit_status(e)
    if status is None:
      raise
    print(prefix + str(e), file=sys.stderr)
    sys.exit(status)
