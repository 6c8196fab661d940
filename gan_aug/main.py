"""Command line entry point: `python -m gan_aug.main --config=configs/X.py[:variant] --workdir=DIR`.

Runs the config's protocol (`gan_aug.pipeline.runner`). Config fields can be overridden
with `--config.section.field=value`; `--generators=a,b` runs only those of
config.protocol.generators (and the arms without synthetic images). Problems a person can fix (missing data, bad
config values, unknown component names, a diverged GAN, a workdir another run
holds) end the run with a message and a non-zero exit status instead of a
traceback. A run holds its workdir's lock (`gan_aug.runtime.workdir_lock`) throughout;
SIGTERM or SIGINT saves at the next step boundary and exits with status 75
(`gan_aug.runtime.preemption`); a run that stops progressing ends with status 124
(`gan_aug.runtime.watchdog`).
"""

import os

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from gan_aug.pipeline import runner
from gan_aug.report import markdown as report
from gan_aug.report import sweeps
from gan_aug.runtime import cli
from gan_aug.runtime import preemption
from gan_aug.runtime import watchdog
from gan_aug.runtime import workdir_lock

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Path to a config file, optionally with :variant.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Folder for all outputs of the run.')
_GENERATORS = flags.DEFINE_list(
    'generators', None,
    'Run only these of config.protocol.generators and their arms (default: all).')
flags.mark_flags_as_required(['config', 'workdir'])


def _run_holding_the_workdir(config, workdir, generators):
  """runner.run while holding workdir's lock: a second run on it stops at once."""
  with workdir_lock.hold(workdir):
    return runner.run(config, workdir, generators)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.set_up_logging()
  cli.set_up_compilation(_CONFIG.value)
  preemption.install()
  watchdog.start(_CONFIG.value.get('run', {}).get('watchdog_seconds', 0))
  result = cli.run_or_exit(_run_holding_the_workdir, _CONFIG.value, _WORKDIR.value,
                           _GENERATORS.value)
  if 'settings' in result:
    print(sweeps.filter_sweep_markdown(result))
  else:
    print(report.summary_line(result))
    logging.info('Done. Report: %s', os.path.join(_WORKDIR.value, 'report.md'))


if __name__ == '__main__':
  app.run(main)
