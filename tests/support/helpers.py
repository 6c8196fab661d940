"""Shared builders for tests: tiny configs that train in seconds on CPU, and the
shared data sets' split sizes."""

import os
import sys

from PIL import Image

from gan_aug.config_blocks import blocks
from gan_aug.config_blocks import variants as variant_blocks

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO_ROOT, 'configs'))

import covid_acgan  # pylint: disable=g-import-not-at-top,wrong-import-position

# Test images of the shared data sets (../shared/data, see its README):
# covid19_3way/test holds 26 Covid, 20 Normal and 20 Viral Pneumonia images;
# PneumoniaMNIST's official test split 234 normal and 390 pneumonia.
COVID_TEST_IMAGES = 66
PNEUMONIA_TEST_IMAGES = 624


def tiny_config(**gan_overrides):
  """The phantom at 28x28 with narrow networks, batch 16, 4 steps, Flax's
  convolutions (`gan.conv_impl='lax'`): under the tests' unoptimised XLA backend
  on 8 devices they compile faster than the matrix-product forms, which
  test_matmul_conv.py tests equal to them.

  Built from the config building blocks, not from a paper config, so retuning a
  paper config cannot change a unit test: an ACGAN (paper 003's shape) and paper
  003's custom CNN, `:smoke`'s sizes, arms real and gan, one seed."""
  config = blocks.config(
      data=blocks.data(name='phantom', channels=1, resolution=28,
                       phantom_per_class={'train': 12, 'val': 4, 'test': 4}),
      gan=blocks.gan(name='acgan', latent_dim=100, label_embedding_dim=50,
                     g_base_width=32, g_kernel_size=5, d_base_width=8,
                     d_dropout=0.5, aux_loss_on_fake=True, batch_size=16,
                     num_epochs=1500),
      synthesis=blocks.synthesis(require_class_agreement=True),
      classifier=blocks.classifier(name='custom_cnn', resolution=32,
                                   learning_rate=1e-3),
      protocol=blocks.protocol(arms=('real', 'gan'), seeds=1))
  variant_blocks.make_smoke(config)
  config.classifier.batch_size = 16
  config.gan.num_steps = 4
  config.gan.log_every = 1
  config.gan.checkpoint_every = 2
  config.gan.sample_every = 2
  config.gan.conv_impl = 'lax'
  config.gan.update(gan_overrides)
  return config


def tiny_edm_config(num_steps=4):
  """tiny_config's phantom at 8x8 with a one-level EDM U-Net of width 8 (no
  attention), batch 8, a sample grid and a checkpoint every step, a 2-step Heun
  sampler, and synthesis keeping every sample."""
  config = tiny_config()
  config.data.resolution = 8
  config.gan = blocks.edm(batch_size=8, num_steps=num_steps, unet_widths=(8,),
                          attention_resolutions=(), log_every=1,
                          checkpoint_every=1, sample_every=1, samples_per_class=2,
                          sample_steps=2, conv_impl='lax')
  config.synthesis.threshold_mode = 'none'
  config.synthesis.require_class_agreement = False
  config.synthesis.batch_size = 8
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
