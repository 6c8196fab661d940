"""Soak test: a small protocol interrupted again and again until it completes.

  python scripts/soak.py --workdir=/tmp/soak --interruptions=20 --seed=0

First runs the protocol once uninterrupted (into WORKDIR/straight) and measures
t_ckpt, the time from the command's start to its first GAN checkpoint (start-up,
compilation from the cache, the first checkpoint interval). Then it runs the
same command in WORKDIR/interrupted again and again, each time sending SIGKILL
or SIGTERM (a seeded choice) after a delay drawn from [t_ckpt, 2 t_ckpt], so that
each attempt gets past a checkpoint, until at least --interruptions were sent;
then lets it complete. Finally it compares the two reports (every seed's
classifier metrics, the summary over seeds, the GAN's final metrics) and the
accepted images (bitwise) and prints a table of the interruptions and the
verdict, and writes WORKDIR/soak.json. Exit status 0 when both runs agree.

SIGTERM must end an attempt with status 75 (saved, "rerun the same command");
SIGKILL with -9. The protocol is `--config` plus `--flags` (default: the
phantom at 28 px, 6 seeds, a 300-step GAN, 3 classes x 40 accepted fakes,
8 classifier epochs), sized so that 20 interruptions fit in it on 2 CPU cores.
"""

import glob
import json
import os
import random
import signal
import subprocess
import sys
import time

from absl import app
from absl import flags
import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_WORKDIR = flags.DEFINE_string('workdir', '/tmp/gan_aug_soak', 'Folder for both runs.')
_INTERRUPTIONS = flags.DEFINE_integer('interruptions', 20, 'Interruptions to send.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seeds the signal choice and the delays.')
_CONFIG = flags.DEFINE_string('config', 'configs/covid_acgan.py:phantom,smoke',
                              'Config of the protocol.')
_FLAGS = flags.DEFINE_list('flags', [
    'data.resolution=28', 'data.phantom_per_class.train=12',
    'data.phantom_per_class.val=4', 'data.phantom_per_class.test=4',
    'gan.g_base_width=32', 'gan.d_base_width=8', 'gan.batch_size=16',
    'gan.num_steps=300', 'gan.log_every=10', 'gan.checkpoint_every=10',
    'gan.sample_every=50', 'synthesis.require_class_agreement=False',
    'synthesis.target_value=40', 'synthesis.batch_size=16',
    'classifier.max_epochs=8', 'classifier.patience=8',
    'classifier.steps_per_epoch=4', 'classifier.checkpoint_every_seconds=0',
    'protocol.seeds=6'], 'Config overrides (field=value, without --config.).')
_MAX_ATTEMPTS = flags.DEFINE_integer('max_attempts', 200, 'Gives up after this many.')


def _command(workdir: str):
  return ([sys.executable, '-m', 'gan_aug.main', f'--config={_CONFIG.value}',
           f'--workdir={workdir}'] + [f'--config.{f}' for f in _FLAGS.value])


def _environment(cache_dir: str):
  return dict(os.environ, PYTHONUNBUFFERED='1', JAX_COMPILATION_CACHE_DIR=cache_dir,
              PYTHONPATH=REPO_ROOT)


def _first_checkpoint_seconds(process: subprocess.Popen, workdir: str,
                              start: float) -> float:
  """Seconds from `start` until the run's first GAN checkpoint is complete."""
  pattern = os.path.join(workdir, 'stages', 'gan-*', 'checkpoints', '[0-9]*')
  while process.poll() is None:
    if glob.glob(pattern):
      return time.monotonic() - start
    time.sleep(0.05)
  raise SystemExit('The uninterrupted run ended before its first checkpoint.')


def _outcome(workdir: str):
  """(metrics, accepted images) of a finished run."""
  with open(os.path.join(workdir, 'report.json')) as f:
    report = json.load(f)
  runs = [{'gan': run['gan']['final_metrics'],
           'classifiers': {name: c['arms'] for name, c in run['classifiers'].items()}}
          for run in report['runs']]
  images = []
  for run in report['runs']:
    with np.load(os.path.join(run['stages']['synthesis'], 'synthetic',
                              'images.npz')) as arrays:
      images.append(arrays['images'])
  return {'summary': report['arms'], 'runs': runs}, images


def _log(line: str) -> None:
  print(line, flush=True)


def main(argv):
  del argv
  rng = random.Random(_SEED.value)
  base = os.path.abspath(_WORKDIR.value)
  straight_dir = os.path.join(base, 'straight')
  interrupted_dir = os.path.join(base, 'interrupted')
  for folder in (straight_dir, interrupted_dir):
    if os.path.exists(folder):
      raise SystemExit(f'{folder} exists: use a new --workdir.')
  env = _environment(os.path.join(base, 'jax_cache'))

  start = time.monotonic()
  process = subprocess.Popen(_command(straight_dir), cwd=REPO_ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
  t_ckpt = _first_checkpoint_seconds(process, straight_dir, start)
  _, stderr = process.communicate()
  straight_seconds = time.monotonic() - start
  if process.returncode != 0:
    raise SystemExit(f'The uninterrupted run failed:\n{stderr[-3000:]}')
  _log(f'uninterrupted run: {straight_seconds:.1f} s; first checkpoint after '
       f't_ckpt = {t_ckpt:.1f} s')

  attempts = []
  while True:
    if len(attempts) >= _MAX_ATTEMPTS.value:
      raise SystemExit(f'No completion after {len(attempts)} attempts.')
    interrupt = sum(a['signal'] is not None for a in attempts) < _INTERRUPTIONS.value
    delay = rng.uniform(t_ckpt, 2 * t_ckpt)
    sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
    attempt_start = time.monotonic()
    process = subprocess.Popen(_command(interrupted_dir), cwd=REPO_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    sent = None
    if interrupt:
      try:
        process.wait(timeout=delay)
      except subprocess.TimeoutExpired:
        process.send_signal(sig)
        sent = signal.Signals(sig).name
    _, stderr = process.communicate()
    seconds = time.monotonic() - attempt_start
    # -SIGTERM: the signal came before the run installed its handler.
    expected = {None: (0,), 'SIGKILL': (-signal.SIGKILL,),
                'SIGTERM': (75, -signal.SIGTERM)}[sent]
    attempts.append({'attempt': len(attempts) + 1, 'signal': sent,
                     'after_seconds': round(delay, 2) if sent else None,
                     'exit_status': process.returncode,
                     'seconds': round(seconds, 2)})
    _log(f'attempt {len(attempts):3d}: {sent or "none":8s} '
         f'{"after %.1f s" % delay if sent else "":13s} exit {process.returncode:4d}  '
         f'({seconds:.1f} s)')
    if process.returncode not in expected and not (sent and process.returncode == 0):
      raise SystemExit(f'Attempt {len(attempts)} exited {process.returncode} '
                       f'(expected {expected}):\n{stderr[-3000:]}')
    if process.returncode == 0:
      if not interrupt:
        break
      _log('  (completed before the signal; interruptions so far: '
           f'{sum(a["signal"] is not None for a in attempts)})')
      break

  metrics_a, images_a = _outcome(straight_dir)
  metrics_b, images_b = _outcome(interrupted_dir)
  same_metrics = metrics_a == metrics_b
  same_images = (len(images_a) == len(images_b) and
                 all(np.array_equal(a, b) for a, b in zip(images_a, images_b)))
  survived = [a for a in attempts if a['signal']]
  result = {
      'config': _CONFIG.value, 'flags': _FLAGS.value, 'seed': _SEED.value,
      't_ckpt_seconds': round(t_ckpt, 2),
      'uninterrupted_seconds': round(straight_seconds, 2),
      'interruptions': len(survived),
      'sigkill': sum(a['signal'] == 'SIGKILL' for a in survived),
      'sigterm': sum(a['signal'] == 'SIGTERM' for a in survived),
      'attempts': attempts,
      'same_metrics': same_metrics, 'same_accepted_images': same_images,
  }
  with open(os.path.join(base, 'soak.json'), 'w') as f:
    json.dump(result, f, indent=1)
  _log(f'\ninterruptions survived: {result["interruptions"]} '
       f'({result["sigkill"]} SIGKILL, {result["sigterm"]} SIGTERM) in '
       f'{len(attempts)} attempts')
  _log(f'report metrics equal to the uninterrupted run: {same_metrics}')
  _log(f'accepted images bitwise equal: {same_images}')
  _log(f'JSON: {os.path.join(base, "soak.json")}')
  sys.exit(0 if same_metrics and same_images else 1)


if __name__ == '__main__':
  app.run(main)
