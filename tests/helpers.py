"""Shared builders for tests: tiny configs that train in seconds on CPU."""

import os
import sys

from PIL import Image

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO_ROOT, 'configs'))

import covid_acgan  # pylint: disable=g-import-not-at-top,wrong-import-position


def tiny_config(**gan_overrides):
  """The phantom at 28x28 with narrow networks, batch 16, 4 steps, Flax's
  convolutions (`gan.conv_impl='lax'`): under the tests' unoptimised XLA backend
  on 8 devices they compile faster than the matrix-product forms, which
  test_matmul_conv.py tests equal to them."""
  config = covid_acgan.get_config('phantom,smoke')
  config.data.resolution = 28
  config.data.phantom_per_class = {'train': 12, 'val': 4, 'test': 4}
  config.gan.g_base_width = 32
  config.gan.d_base_width = 8
  config.gan.batch_size = 16
  config.gan.num_steps = 4
  config.gan.log_every = 1
  config.gan.checkpoint_every = 2
  config.gan.sample_every = 2
  config.gan.conv_impl = 'lax'
  config.gan.update(gan_overrides)
  return config


def run_arms(report, run=0, model=None):
  """report.json's per-arm results of run `run` (default the first (fraction,
  seed)) for classifier `model` (default the primary one)."""
  model = model or report['classifier']['name']
  return report['runs'][run]['classifiers'][model]['arms']


def crash_image_saves_after(monkeypatch, count: int):
  """Makes every PIL image save after the first `count` raise OSError (a full
  disk); returns a function that puts the real save back."""
  real_save = Image.Image.save
  saved = []

  def save(self, *args, **kwargs):
    if len(saved) == count:
      raise OSError('simulated crash: disk full')
    saved.append(1)
    return real_save(self, *args, **kwargs)

  monkeypatch.setattr(Image.Image, 'save', save)
  return lambda: monkeypatch.setattr(Image.Image, 'save', real_save)
