"""Trains the tests' tiny EDM stage (helpers.tiny_edm_config) in a folder and
kills its own process with SIGKILL while drawing the step-3 sample grid, after
the step-2 checkpoint was handed to Orbax:

    python tests/support/kill_edm_stage.py STAGE_DIR
"""

import os
import re
import signal
import sys

from gan_aug import data as data_lib
from gan_aug.core import image_grids
from gan_aug.generator import loop as gan_loop
from helpers import tiny_edm_config


def main(stage_dir: str) -> None:
  real_grid = image_grids.class_grid

  def grid(rows, names, title, path, footer=None):
    if re.search(r'step 3\b', title):
      sys.stderr.flush()
      os.kill(os.getpid(), signal.SIGKILL)
    real_grid(rows, names, title, path, footer)

  image_grids.class_grid = grid
  config = tiny_edm_config()
  gan_loop.train_gan(config, data_lib.load_dataset(config.data, config.seed), stage_dir)


if __name__ == '__main__':
  main(sys.argv[1])
