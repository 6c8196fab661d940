"""Runs `gan_aug.main` and sends its own process SIGTERM at a chosen step.

    python tests/support/stop_runner.py <point> -- <gan_aug.main flags>

<point> is `gan` (after GAN step 23, between checkpoints), `synthesis` (after
the first batch of the second class), `classifier` (after the first step of
epoch 3's first arm) or `gan-twice` (after GAN step 23, and again while the
stop-time checkpoint is being saved). The time of the first signal is printed as `SIGTERM sent at <unix
time>`, for the caller to bound how long the run took to stop.
"""

import signal
import sys
import time

from absl import app

from gan_aug import main as gan_aug_main
from gan_aug.runtime import watchdog

_TRIGGERS = {
    'gan': ('GAN step 24/',),
    'classifier': ('classifier epoch 3, arm ',),
    'gan-twice': ('GAN step 24/', 'the stop-time save of GAN step'),
}


def _signal():
  print(f'SIGTERM sent at {time.time():.3f}', file=sys.stderr, flush=True)
  # raise_signal delivers to this (the main) thread before it returns; os.kill
  # may land on another thread and be handled a step later.
  signal.raise_signal(signal.SIGTERM)


def _install(point: str) -> None:
  real_progress = watchdog.progress
  seen, sent = [], []

  def progress(what: str) -> None:
    real_progress(what)
    if point == 'synthesis':
      # The second class's first batch: its name differs from the first's.
      if what.startswith('synthesis of class ') and what not in seen:
        seen.append(what)
        if len(seen) == 2 and not sent:
          sent.append(1)
          _signal()
      return
    triggers = _TRIGGERS[point]
    if len(sent) < len(triggers) and what.startswith(triggers[len(sent)]):
      sent.append(1)
      _signal()

  watchdog.progress = progress


if __name__ == '__main__':
  separator = sys.argv.index('--')
  _install(sys.argv[1])
  app.run(gan_aug_main.main, argv=[sys.argv[0]] + sys.argv[separator + 1:])
