"""EDM's formulas against literal values, its training loss falling, its Heun
sampler on data whose denoiser is known, guidance, the family's config checks,
a generator stage killed by SIGKILL and rerun, and manifest reproducibility."""

import os
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from gan_aug import data as data_lib
from gan_aug import generate as generate_lib
from gan_aug.core import errors
from gan_aug.diffusion import edm
from gan_aug.diffusion import family as edm_family
from gan_aug.diffusion import step as edm_step
from gan_aug.diffusion.unet import UNet
from gan_aug.generator import loop as gan_loop
from gan_aug.pipeline import config_validation
from gan_aug.pipeline import stages
from gan_aug.runtime import sharding
from gan_aug.synthesis import accepted_set
from gan_aug.synthesis import synthesize
from conftest import CLI_ENV
from helpers import REPO_ROOT, tiny_edm_config


@pytest.mark.parametrize('num_steps', [2, 5, 18, 40])
def test_the_schedule_runs_from_80_to_0_002_then_0(num_steps):
  sigmas = np.asarray(edm.schedule(num_steps))
  assert len(sigmas) == num_steps + 1
  assert sigmas[0] == pytest.approx(80.0, rel=1e-6)
  assert sigmas[num_steps - 1] == pytest.approx(0.002, rel=1e-5)
  assert sigmas[-1] == 0.0 and np.all(np.diff(sigmas) < 0)


def test_the_18_step_schedule_and_the_preconditioning_have_edms_values():
  assert float(edm.schedule(18)[9]) == pytest.approx(1.9233398, rel=1e-5)
  assert float(edm.c_skip(0.5)) == pytest.approx(0.5)
  assert float(edm.c_out(0.5)) == pytest.approx(0.3535534, rel=1e-6)
  assert float(edm.c_in(0.5)) == pytest.approx(1.4142136, rel=1e-6)
  assert float(edm.c_noise(1.0)) == 0.0
  assert float(edm.loss_weight(0.5)) == pytest.approx(8.0)
  with pytest.raises(ValueError, match='at least 2'):
    edm.schedule(1)


def _tiny_unet(num_classes=2, channels=1):
  """One level, no attention: quick to compile (the `:smoke,diffusion` protocol
  in tests/test_protocol.py runs two levels with attention)."""
  return UNet(num_classes=num_classes, out_channels=channels, widths=(8,),
              blocks=1, attention_resolutions=(), dropout=0.0)


def _init(unet, x, sigma, labels):
  # Jitted: an eager Flax init dispatches (and compiles) op by op.
  return jax.jit(unet.init)(jax.random.PRNGKey(0), x, sigma, labels)['params']


def test_the_loss_falls_on_a_fixed_batch_with_fixed_sigmas_and_noise():
  unet = _tiny_unet()
  rng = np.random.default_rng(0)
  y = jnp.asarray(rng.uniform(-1, 1, (8, 8, 8, 1)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, 2, 8), jnp.int32)
  sigma = jnp.asarray([0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4], jnp.float32)
  noisy = y + jnp.asarray(rng.normal(size=y.shape), jnp.float32) * sigma[:, None,
                                                                          None, None]
  params = _init(unet, y, sigma, labels)
  tx = optax.adam(1e-2)

  @jax.jit
  def train(params, opt_state):
    def loss_fn(p):
      denoised = edm_step.denoiser(unet, p, labels)(noisy, sigma)
      return jnp.mean(edm.loss_weight(sigma) * jnp.mean(jnp.square(denoised - y),
                                                         axis=(1, 2, 3)))
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  opt_state, losses = tx.init(params), []
  for _ in range(8):
    params, opt_state, loss = train(params, opt_state)
    losses.append(float(loss))
  assert losses[-1] < 0.7 * losses[0] and np.all(np.diff(losses[:4]) < 0), losses


def test_heun_samples_gaussian_data_with_its_mean_and_variance():
  mu, s, n = 0.3, 0.5, 20000
  denoise = lambda x, sigma: (s ** 2 * x + sigma ** 2 * mu) / (s ** 2 + sigma ** 2)
  latents = jax.random.normal(jax.random.PRNGKey(0), (n, 1, 1, 1))
  # 100 steps: at 18, Heun's discretisation error on this one-dimensional
  # Gaussian is 11 % of the variance (0.278 for 0.25, computed in float64).
  samples = np.asarray(jax.jit(lambda z: edm.heun_sample(denoise, z, 100))(latents))
  # The exact flow from N(0, sigma_max^2) instead of N(mu, s^2 + sigma_max^2):
  # mean mu (1 - s / sqrt(s^2 + 80^2)), variance s^2 80^2 / (s^2 + 80^2);
  # tolerance 5 Monte Carlo standard errors.
  k = s / np.sqrt(s ** 2 + 80.0 ** 2)
  assert samples.mean() == pytest.approx(mu * (1 - k), abs=5 * s / np.sqrt(n))
  assert samples.var() == pytest.approx(s ** 2 * (1 - k ** 2),
                                        abs=5 * s ** 2 * np.sqrt(2 / n))
  # Not the start distribution: the sampler moved it.
  assert abs(samples.mean() - mu) < 0.01


def _networks(guidance, sample_steps=3):
  return edm_family.Networks(_tiny_unet(), 2, (8, 8, 1), guidance=guidance,
                             sample_steps=sample_steps)


def test_guidance_0_and_1_are_the_unconditional_and_conditional_samples():
  unet = _tiny_unet()
  z = jax.random.normal(jax.random.PRNGKey(1), (4, 64))
  labels = jnp.asarray([0, 1, 1, 0], jnp.int32)
  params = _init(unet, jnp.zeros((1, 8, 8, 1)), jnp.zeros((1,)),
                 jnp.zeros((1,), jnp.int32))
  # A trained-looking network: random weights everywhere (the last convolution
  # starts at zero, which would make D ignore the class).
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(2), len(leaves))
  params = jax.tree.unflatten(tree, [0.3 * jax.random.normal(k, x.shape)
                                     for k, x in zip(keys, leaves)])
  samplers = {s: jax.jit(edm_family.make_sample(_networks(s))) for s in (0.0, 1.0)}
  sample = lambda s, y: np.asarray(samplers[s](params, z, y))
  null = jnp.full_like(labels, 2)
  conditional, unconditional = sample(1.0, labels), sample(1.0, null)
  assert not np.array_equal(conditional, unconditional)
  np.testing.assert_array_equal(sample(0.0, labels), unconditional)
  # Guidance s = 2 from one batch of 2B: 2 D_c - D_u.
  x, sigma = z.reshape(4, 8, 8, 1), jnp.float32(1.5)
  d = jax.jit(lambda y, s: edm_family.guided_denoiser(unet, params, y, s)(x, sigma),
              static_argnums=1)
  np.testing.assert_allclose(np.asarray(d(labels, 2.0)),
                             2 * np.asarray(d(labels, 1.0)) - np.asarray(d(null, 1.0)),
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('field, value, message', [
    ('attention_resolutions', (4,), 'sides of the U-Net levels'),
    ('guidance', 2.0, 'label_dropout > 0'),
    ('sample_steps', 1, 'integer >= 2'),
    ('unet_widths', (), 'non-empty tuple'),
])
def test_bad_edm_fields_are_refused(field, value, message):
  config = tiny_edm_config()
  config.gan[field] = value
  if field == 'guidance':
    config.gan.label_dropout = 0.0
  with pytest.raises(errors.ConfigError, match=message):
    config_validation.validate(config)


def test_an_edm_stage_killed_and_rerun_equals_an_uninterrupted_one_and_its_manifest_reproduces(
    tmp_path):
  config = tiny_edm_config()
  config_validation.validate(config)
  dataset = data_lib.load_dataset(config.data, config.seed)
  # The stage's folder as a run lays it out (gan_aug.generate reads it below).
  straight = str(tmp_path / 'run' / 'stages' / 'gan-straight')
  summary = gan_loop.train_gan(config, dataset, straight)
  assert {'loss', 'loss_low', 'loss_mid', 'loss_high'} <= set(summary['final_metrics'])

  # The same stage in another process, killed by SIGKILL at its step-3 sample
  # grid (the step-2 checkpoint handed to Orbax), then run again here: the same
  # final state, bitwise (the same devices and compiler flags as this process).
  # Orbax writes in the background: a save in flight at the kill is discarded
  # and the one before it used. It reads this session's compilation cache (its
  # flags are this process's), so it compiles nothing the straight run did.
  killed = str(tmp_path / 'killed')
  cache = {k: v for k, v in CLI_ENV.items() if k != 'XLA_FLAGS'}
  env = dict(os.environ, **cache, PYTHONPATH=os.pathsep.join(
      [REPO_ROOT, os.path.join(REPO_ROOT, 'tests', 'support')]))
  done = subprocess.run([sys.executable, os.path.join(REPO_ROOT, 'tests', 'support',
                                                      'kill_edm_stage.py'), killed],
                        env=env, capture_output=True, text=True, timeout=600)
  assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
  assert not os.path.exists(os.path.join(killed, 'checkpoints', '4'))
  assert gan_loop.train_gan(config, dataset, killed)['resumed_from_step'] in (1, 2)
  restore = lambda d: ocp.StandardCheckpointer().restore(
      os.path.join(d, 'checkpoints', '4', 'state'))
  for a, b in zip(jax.tree.leaves(restore(straight)), jax.tree.leaves(restore(killed))):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

  # Synthesis keeps every sample (no scorer), and a manifest row's latent
  # index regenerates its image.
  config.synthesis.target = 'count'
  config.synthesis.target_value = 3
  synth_dir = str(tmp_path / 'synthesis')
  synthesize.synthesize(config, dataset, os.path.join(straight, 'checkpoints'),
                        synth_dir)
  images, _, manifest = accepted_set.load_set(synth_dir)
  assert len(images) == 3 * dataset.num_classes
  mesh = sharding.make_mesh()
  family, networks, states = synthesize.restore(
      config, dataset, os.path.join(straight, 'checkpoints'), 1, mesh)
  generate = synthesize.make_generate_and_score(family, networks, mesh, 8,
                                                family.latent_dim(config))
  step, state = states[0]
  for image, record in list(zip(images, manifest['images']))[1::2]:
    key = synthesize.latent_class_key(config.seed, step, record['label'])
    again, _, _ = jax.device_get(generate(state, key, record['latent_index'],
                                          record['label']))
    np.testing.assert_array_equal(again[0], image)

  # gan_aug.generate on the same stage, with the run's seed: the run's own set
  # (no scorer: every sample kept, no realness recorded).
  stage = generate_lib.GANStage(str(tmp_path / 'run'), 'gan-straight',
                                {'data_fingerprint': stages.data_fingerprint(dataset)},
                                config, config.seed)
  out = generate_lib.generate(stage, str(tmp_path / 'generated'), 3)
  assert [r['latent_index'] for r in out['images']] == [
      r['latent_index'] for r in manifest['images']]
  assert all(r['realness'] is None for r in out['images'])
