"""Stages are keyed by config fingerprints; a diverged GAN stops and can be continued.

(SIGKILL-and-rerun in every stage is tested in test_kill_resume.py.)
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from tensorboard.backend.event_processing import event_accumulator

from gan_aug import data as data_lib
from gan_aug.core import errors
from gan_aug.generator import loop as gan_loop
from gan_aug.pipeline import runner
from helpers import tiny_config


def _final_state(workdir, stage_dir=None):
  if stage_dir is None:
    stage = [d for d in os.listdir(os.path.join(workdir, 'stages'))
             if d.startswith('gan-')]
    assert len(stage) == 1, stage
    stage_dir = os.path.join(workdir, 'stages', stage[0])
  checkpoints = os.path.join(stage_dir, 'checkpoints')
  step = max(int(d) for d in os.listdir(checkpoints) if d.isdigit())
  state = ocp.StandardCheckpointer().restore(os.path.join(checkpoints, str(step),
                                                          'state'))
  return step, state, stage_dir


def _metrics(stage_dir):
  with open(os.path.join(stage_dir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f]
  for row in rows:
    row.pop('steps_per_sec')
  return rows


def test_completed_stage_is_skipped_and_changed_config_redone(tmp_path, monkeypatch):
  workdir = str(tmp_path / 'w')
  first = runner.run(tiny_config(num_steps=2), workdir)
  assert first['runs'][0]['gan']['steps'] == 2

  def must_not_train(*args, **kwargs):
    raise AssertionError('a completed stage was retrained')

  monkeypatch.setattr(gan_loop, 'train_gan', must_not_train)
  # Same config, and one differing only in logging: skipped.
  again = runner.run(tiny_config(num_steps=2, log_every=5), workdir)
  assert again['runs'][0]['stages']['gan'] == first['runs'][0]['stages']['gan']
  monkeypatch.undo()

  changed = runner.run(tiny_config(num_steps=2, learning_rate=1e-4), workdir)
  assert changed['runs'][0]['stages']['gan'] != first['runs'][0]['stages']['gan']
  assert os.path.exists(os.path.join(first['runs'][0]['stages']['gan'], 'done.json'))
  with open(os.path.join(changed['runs'][0]['stages']['gan'], 'stage.json')) as f:
    assert json.load(f)['gan']['learning_rate'] == 1e-4


def test_workdir_keeps_provenance_and_samples(tmp_path):
  workdir = str(tmp_path / 'w')
  result = runner.run(tiny_config(num_steps=2), workdir)
  with open(os.path.join(workdir, 'provenance.json')) as f:
    prov = json.load(f)
  assert prov['seed'] == 0 and prov['config']['gan']['num_steps'] == 2
  assert prov['packages']['jax'] != 'not installed'
  assert prov['devices']['count'] == 8 and prov['devices']['platform'] == 'cpu'
  assert prov['git_commit']
  with open(os.path.join(workdir, 'dataset.json')) as f:
    assert json.load(f)['is_phantom'] is True
  samples = os.path.join(result['runs'][0]['stages']['gan'], 'samples')
  assert {'real.png', 'step_0000002.png'} <= set(os.listdir(samples))
  summary = result['runs'][0]['gan']
  assert summary['devices'] == 8 and summary['images_per_sec'] > 0
  assert set(summary['final_metrics']) >= {'d_loss', 'g_loss', 'd_real', 'd_fake'}
  events = event_accumulator.EventAccumulator(result['runs'][0]['stages']['gan'])
  events.Reload()
  d_loss = events.Scalars('gan/d_loss')  # TensorBoard beside metrics.jsonl.
  assert [e.step for e in d_loss] == [1, 2]
  assert d_loss[-1].value == pytest.approx(summary['final_metrics']['d_loss'], rel=1e-5)


def _poison_d_loss_from_step_3(monkeypatch):
  real_make = gan_loop.make_train_step

  def nan_from_step_3(*args, **kwargs):
    step_fn = real_make(*args, **kwargs)

    def step(state, images, labels):
      new_state, metrics = step_fn(state, images, labels)
      poison = jnp.where(state.step >= 2, jnp.nan, 0.0)
      return new_state, dict(metrics, d_loss=metrics['d_loss'] + poison)

    return step

  monkeypatch.setattr(gan_loop, 'make_train_step', nan_from_step_3)


def test_diverged_run_stops_and_continues_with_a_lower_learning_rate(
    tmp_path, monkeypatch):
  workdir = str(tmp_path / 'w')
  _poison_d_loss_from_step_3(monkeypatch)
  with pytest.raises(errors.GANDivergedError) as info:
    runner.run(tiny_config(num_steps=6), workdir)
  message = str(info.value)
  assert 'diverged by step 3' in message and 'd_loss' in message
  assert 'Last good checkpoint: step 2' in message
  assert '--config.gan.learning_rate=0.0001) continues from step 2' in message
  # Rerunning unchanged diverges again, from its own checkpoint.
  with pytest.raises(errors.GANDivergedError, match='diverged by step 3'):
    runner.run(tiny_config(num_steps=6), workdir)
  monkeypatch.undo()

  result = runner.run(tiny_config(num_steps=6, learning_rate=1e-4), workdir)
  gan, gan_dir = result['runs'][0]['gan'], result['runs'][0]['stages']['gan']
  assert gan['resumed_from_step'] == 2
  assert gan['continued_from_diverged']['step'] == 2
  assert gan['continued_from_diverged']['diverged_learning_rate'] == 2e-4
  with open(os.path.join(gan_dir, 'stage.json')) as f:
    key = json.load(f)
  assert key['gan']['learning_rate'] == 1e-4 and key['continues_from']['step'] == 2
  # Its curve starts with the diverged run's good steps 1-2.
  assert [r['step'] for r in _metrics(gan_dir)] == [1, 2, 3, 4, 5, 6]

  # A run from scratch at the lower rate ends elsewhere: the continuation
  # really started from the diverged run's step 2.
  _, continued, _ = _final_state(workdir, gan_dir)
  config = tiny_config(num_steps=6, learning_rate=1e-4)
  dataset = data_lib.load_dataset(config.data, config.seed)
  fresh_dir = str(tmp_path / 'fresh')
  assert gan_loop.train_gan(config, dataset, fresh_dir)['resumed_from_step'] == 0
  _, scratch, _ = _final_state(None, fresh_dir)
  flat_c = ocp.tree.to_flat_dict(continued)
  flat_s = ocp.tree.to_flat_dict(scratch)
  assert any(not np.array_equal(flat_c[k], flat_s[k]) for k in flat_c)


def test_nan_in_parameters_stops_training(tmp_path, monkeypatch):
  real_make = gan_loop.make_train_step

  def nan_weights_from_step_3(*args, **kwargs):
    step_fn = real_make(*args, **kwargs)

    def step(state, images, labels):
      new_state, metrics = step_fn(state, images, labels)
      poison = jnp.where(state.step >= 2, jnp.nan, 0.0)
      g_params = jax.tree.map(lambda p: p + poison, new_state.g_params)
      return new_state.replace(g_params=g_params), metrics

    return step

  monkeypatch.setattr(gan_loop, 'make_train_step', nan_weights_from_step_3)
  with pytest.raises(errors.GANDivergedError) as info:
    runner.run(tiny_config(num_steps=6), str(tmp_path / 'w'))
  assert 'diverged by step 3: g_params not finite' in str(info.value)
