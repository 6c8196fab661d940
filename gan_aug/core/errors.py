"""The errors a person can act on, in one module that imports nothing of the project.

Every floor raises these (data, models, training, synthesis, the runner); the
command line (`gan_aug.runtime.cli`) maps them to exit statuses with `exit_status`, so a
problem a user can fix ends with a message instead of a traceback.
"""

PHANTOM_COMMAND = ('python -m gan_aug.main --config=configs/covid_acgan.py:phantom '
                   '--workdir=runs/phantom')


class ConfigError(ValueError):
  """A config value is out of its allowed range; the message names the field."""


class UnknownComponentError(KeyError):
  """A config names a component (model, data set, ...) that is not registered."""

  def __str__(self) -> str:  # KeyError would otherwise quote the message.
    return str(self.args[0])


class DatasetError(ValueError):
  """The data set is unusable as given (empty class, bad layout, ...)."""


class DatasetNotFoundError(FileNotFoundError):
  """The data set is not where the config says; the message says how to get it."""

  def __init__(self, path: str, what: str, origin: str, layout: str):
    self.path = path
    message = (
        f'{what} not found at {path!r}.\n'
        f'  Where it comes from: {origin}\n'
        f'  Layout expected:\n{layout}\n'
        '  Point the config at it with --config.data.dir=... (folders) or '
        '--config.data.path=... (.npz files), or set GAN_AUG_DATA_DIR to the '
        'folder holding it.\n'
        f'  No data at hand? Try the generated phantom (not medical data):\n'
        f'    {PHANTOM_COMMAND}')
    super().__init__(message)

  def __str__(self) -> str:
    return self.args[0]


class SynthesisError(RuntimeError):
  """The synthesis stage cannot run (e.g. no checkpoint to restore)."""


class StorageError(RuntimeError):
  """A file could not be written (full disk, read-only or unwritable folder); the
  message names the path, and what was there before is intact."""


class WorkdirLockedError(RuntimeError):
  """Another run holds the workdir (gan_aug.runtime.workdir_lock); the message names it."""


class Preempted(BaseException):
  """SIGTERM or SIGINT stopped the run after it saved its position
  (gan_aug.runtime.preemption); rerunning the same command continues it.

  A BaseException, like KeyboardInterrupt: raised from a signal handler
  anywhere, it must not be taken for a bad file by an `except Exception`."""


class GANDivergedError(RuntimeError):
  """A loss or score became NaN/inf; the message names the step and last checkpoint."""


# Exit statuses of the command line: 2 for input a user can fix, 3 for a GAN
# that diverged (rerun with a lower learning rate continues it), 75
# (EX_TEMPFAIL) for a run stopped by a signal (rerun it unchanged).
PREEMPTED_STATUS = 75
# gan_aug.runtime.watchdog ends a run that made no progress with 124, as timeout(1) does.
WATCHDOG_STATUS = 124
_EXIT_STATUS = ((GANDivergedError, 3), (Preempted, PREEMPTED_STATUS),
                ((ConfigError, UnknownComponentError, DatasetError,
                  DatasetNotFoundError, SynthesisError, StorageError,
                  WorkdirLockedError), 2))


def exit_status(error: BaseException):
  """The command line's exit status for `error`, or None for an unexpected one."""
  for types, status in _EXIT_STATUS:
    if isinstance(error, types):
      return status
  return None
