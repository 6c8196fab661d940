"""GAN training over several processes (TPU pod slices, GPU clusters, or CPU tests).

Every process runs the same command with its own `--process_id`:

    python -m gan_aug.multihost --config=configs/X.py --workdir=DIR \\
        --coordinator_address=HOST0:PORT --num_processes=N --process_id=I

`jax.distributed` connects the processes; the train step is the same jitted,
data-parallel step as in a single-process run, over a mesh of every process's
devices, and each process places only its own devices' share of the training
images. The GAN stage is written to the same stage folder (same fingerprint) as
`gan_aug.main` would use, on a folder every process can reach; afterwards
`python -m gan_aug.main` with the same config and workdir, on one host, finds
the trained GAN and runs synthesis and the classifiers. On Cloud TPU or a
SLURM/Open MPI GPU job, `jax.distributed.initialize()` finds the coordinator
itself: leave the three flags unset there. A SIGTERM to any process stops every
one at the same step, after a checkpoint (exit status 75); the watchdog
(`run.watchdog_seconds`) ends a process whose collectives or saves hang.
"""

import contextlib

import jax
from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from gan_aug.runtime import preemption
from gan_aug.runtime import watchdog
from gan_aug.runtime import workdir_lock

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Path to a config file, optionally with :variant.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output folder shared by all processes.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'host:port of process 0 (unset: auto-detect on '
    'TPU / SLURM / Open MPI).')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Number of processes.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process: 0 .. N-1.')
_NUM_CPU_DEVICES = flags.DEFINE_integer(
    'num_cpu_devices', None, 'CPU only: devices per process (for trying the '
    'multi-process set-up on one machine).')
_TIMEOUT = flags.DEFINE_integer(
    'timeout_seconds', 120, 'How long processes wait for each other at start-up '
    'and shutdown before giving up.')
flags.mark_flags_as_required(['config', 'workdir'])


def initialize() -> None:
  """Connects this process to the others; must run before any other JAX call."""
  if _NUM_CPU_DEVICES.value:
    jax.config.update('jax_platforms', 'cpu')
    jax.config.update('jax_num_cpu_devices', _NUM_CPU_DEVICES.value)
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  if _NUM_PROCESSES.value == 1:
    return
  jax.distributed.initialize(
      coordinator_address=_COORDINATOR.value, num_processes=_NUM_PROCESSES.value,
      process_id=_PROCESS_ID.value, initialization_timeout=_TIMEOUT.value,
      heartbeat_timeout_seconds=_TIMEOUT.value,
      shutdown_timeout_seconds=_TIMEOUT.value)


def _run_gan_holding(lock, config, workdir):
  """runner.run_gan_only inside `lock`."""
  # Imported after initialize: importing it must not touch the JAX backend first.
  from gan_aug.pipeline import runner  # pylint: disable=g-import-not-at-top
  with lock:
    return runner.run_gan_only(config, workdir)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  from gan_aug.runtime import cli  # pylint: disable=g-import-not-at-top
  cli.set_up_compilation(_CONFIG.value)
  initialize()
  cli.set_up_logging(logging.INFO if jax.process_index() == 0 else logging.WARNING)
  if jax.process_count() == 1:
    preemption.install()
  # Else JAX's preemption service receives SIGTERM, and the GAN loop's stop
  # step is the sync point it agrees on (gan_aug.runtime.preemption.requested).
  watchdog.start(_CONFIG.value.get('run', {}).get('watchdog_seconds', 0))
  logging.info('Process %d of %d: %d local device(s), %d in all (%s).',
               jax.process_index(), jax.process_count(), jax.local_device_count(),
               jax.device_count(), jax.devices()[0].platform)
  # One lock for the job, held by process 0 (the others write no files of
  # their own; Orbax coordinates the checkpoints).
  lock = (workdir_lock.hold(_WORKDIR.value) if jax.process_index() == 0
          else contextlib.nullcontext())
  summary, stage_dir = cli.run_or_exit(_run_gan_holding, lock, _CONFIG.value,
                                       _WORKDIR.value,
                                       who=f'process {jax.process_index()}')
  if jax.process_index() == 0:
    print(f'GAN stage complete: {stage_dir} ({summary["steps"]} steps, '
          f'{summary["images_per_sec"] or 0:.1f} images/s on '
          f'{summary["devices"]} devices). Next, on one host: python -m '
          f'gan_aug.main with the same --config and --workdir.')


if __name__ == '__main__':
  app.run(main)
