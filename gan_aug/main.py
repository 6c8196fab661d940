"""Command line entry point: `python -m gan_aug.main --config=configs/X.py[:variant] --workdir=DIR`.

Config fields can be overridden with `--config.section.field=value`. Problems a
person can fix (missing data, bad config values, unknown component names, a
diverged GAN) end the run with a message and a non-zero exit status instead of
a traceback.
"""

import logging as std_logging
import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from gan_aug import config_validation
from gan_aug import data as data_lib
from gan_aug import pipeline
from gan_aug import registry
from gan_aug import report
from gan_aug import synth
from gan_aug.train import gan_loop

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Path to a config file, optionally with :variant.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Folder for all outputs of the run.')
flags.mark_flags_as_required(['config', 'workdir'])

_USER_ERRORS = (data_lib.DatasetNotFoundError, data_lib.DatasetError,
                config_validation.ConfigError, registry.UnknownComponentError,
                synth.SynthesisError)


def _quiet_library_info(record) -> bool:
  """Keeps INFO lines from this project; libraries (Orbax is chatty) only warn."""
  return record.levelno >= std_logging.WARNING or '/gan_aug/' in record.pathname


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.INFO)
  for handler in (*std_logging.getLogger().handlers,
                  logging.get_absl_handler().python_handler):
    handler.addFilter(_quiet_library_info)
  try:
    result = pipeline.run(_CONFIG.value, _WORKDIR.value)
  except gan_loop.GANDivergedError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(3)
  except _USER_ERRORS as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(report.summary_line(result))
  logging.info('Done. Report: %s', os.path.join(_WORKDIR.value, 'report.md'))


if __name__ == '__main__':
  app.run(main)
