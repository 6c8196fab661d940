"""Runs `gan_aug.main` and kills its own process with SIGKILL at a chosen point.

    python tests/support/kill_runner.py <stage>[:<n>] -- <gan_aug.main flags>

<stage> is `gan` (while drawing a step-25 sample grid, after the step-20
checkpoint was handed to Orbax), `synthesis` (right after a synthesis stage's
second class's progress was saved) or `classifier` (in a validation pass); the
process dies at the n-th such point it reaches (default 1; for `classifier` 5,
epoch 3 of two arms trained together). SIGKILL gives the process no chance to
clean up: what survives is what a preempted job leaves on disk.
"""

import os
import signal
import sys

from absl import app

from gan_aug import main as gan_aug_main
from gan_aug.classifier import inference as classifier_inference
from gan_aug.core import image_grids
from gan_aug.synthesis import accepted_set


def _die():
  sys.stderr.flush()
  os.kill(os.getpid(), signal.SIGKILL)


def _install(point: str) -> None:
  stage, _, count = point.partition(':')
  reached = []

  def die_at_the_nth():
    reached.append(1)
    if len(reached) == int(count or (5 if stage == 'classifier' else 1)):
      _die()

  if stage == 'gan':
    real_grid = image_grids.class_grid

    def grid(rows, names, title, path, footer=None):
      if 'step 25' in title:
        die_at_the_nth()
      real_grid(rows, names, title, path, footer)

    image_grids.class_grid = grid
  elif stage == 'synthesis':
    real_save = accepted_set.save_class_progress

    def save(progress_dir, label, *args, **kwargs):
      real_save(progress_dir, label, *args, **kwargs)
      if label == 1:
        die_at_the_nth()

    accepted_set.save_class_progress = save
  elif stage == 'classifier':
    real_predict = classifier_inference.predict_probs

    def predict(*args, **kwargs):
      die_at_the_nth()
      return real_predict(*args, **kwargs)

    classifier_inference.predict_probs = predict
  else:
    raise SystemExit(f'unknown stage {stage!r}')


if __name__ == '__main__':
  separator = sys.argv.index('--')
  _install(sys.argv[1])
  app.run(gan_aug_main.main, argv=[sys.argv[0]] + sys.argv[separator + 1:])
