"""Classifier arms: each stops on its own, keeps its best weights, and trains the same
alone as beside others."""

import jax
import numpy as np
import pytest

from gan_aug import data as data_lib
from gan_aug.classifier import inference as classifier_inference
from gan_aug.classifier import optimizer as classifier_optimizer
from gan_aug.classifier import step_batches
from gan_aug.classifier import training as classifier_lib
from gan_aug.core import errors
from gan_aug.models import classifiers
from gan_aug.models import conv_layers
from gan_aug.models.classifiers import max_pool_2x2
from gan_aug.protocol import arms as arms_lib
from gan_aug.runtime import sharding
from helpers import tiny_config


def test_max_pool_matches_flax_values_and_drops_odd_edges():
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  x = np.random.default_rng(0).normal(size=(2, 7, 9, 3)).astype(np.float32)
  pooled = max_pool_2x2(x)
  assert pooled.shape == (2, 3, 4, 3)
  np.testing.assert_array_equal(pooled, nn.max_pool(x, (2, 2), strides=(2, 2)))


def test_custom_cnn_has_the_papers_parameter_count():
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  model = classifiers.CustomCNN(num_classes=3)
  variables = jax.eval_shape(lambda: model.init(
      jax.random.PRNGKey(0), jnp.zeros((1, 224, 224, 3)), train=False))
  assert sum(x.size for x in jax.tree.leaves(variables)) == 3_043_695  # §6.2


def test_inference_form_predicts_as_the_trained_matmul_model():
  import jax  # pylint: disable=g-import-not-at-top
  model = classifiers.GMDCNN(num_classes=3, conv_impl='matmul')
  images = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 3), np.uint8)
  variables = model.init(jax.random.PRNGKey(0), images.astype(np.float32))
  inference = conv_layers.inference_form(model)
  assert inference.conv_impl == 'lax' and model.conv_impl == 'matmul'
  mesh = sharding.make_mesh(jax.devices()[:1])
  probs = classifier_inference.make_predict(model, mesh)(variables['params'], {}, images)
  x = images.astype(np.float32) / 255.0
  expected = jax.nn.softmax(model.apply(variables, x, train=False))
  np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)


def test_each_arm_stops_on_its_own_and_trains_the_same_alone():
  config = tiny_config()
  cfg = config.classifier
  cfg.resolution = 28
  cfg.learning_rate = 1e-3
  cfg.max_epochs = 6
  cfg.patience = 1
  dataset = data_lib.load_dataset(config.data, config.seed)
  train, val = dataset.splits['train'], dataset.splits['val']
  arms = {'real': (train.images, train.labels),
          'augmented': (np.concatenate([train.images, train.images[:12]]),
                        np.concatenate([train.labels, train.labels[:12]]))}
  mesh = sharding.make_mesh()
  model = classifiers.build_classifier(cfg, dataset.num_classes)
  results = classifier_lib.train_arms(cfg, model, arms, (val.images, val.labels),
                                      steps_per_epoch=2, seed=0, mesh=mesh)
  predict = classifier_inference.make_predict(model, mesh)
  for result in results.values():
    epochs = result['epochs']
    assert result['steps'] == 2 * epochs and result['num_val_images'] == len(val)
    losses = [h['val_loss'] for h in result['history']]
    assert [h['step'] for h in result['history']] == list(range(2, 2 * epochs + 1, 2))
    assert result['best_val_loss'] == min(losses)
    assert result['best_step'] == 2 * (int(np.argmin(losses)) + 1)
    probs = classifier_inference.predict_probs(predict, result['params'],
                                         result['batch_stats'], val.images,
                                         cfg.eval_batch_size)
    assert classifier_inference.cross_entropy(probs, val.labels) == pytest.approx(
        result['best_val_loss'], rel=1e-5)
    # Stopped early: this arm's own last epoch did not improve, and it trained no
    # further; else it ran every epoch.
    assert result['stopped_early'] == (epochs < cfg.max_epochs)
    if result['stopped_early']:
      assert losses[-1] >= min(losses[:-1])
  # An arm's budget is its own: trained alone, it is the same arm.
  alone = classifier_lib.train_arms(cfg, model, {'real': arms['real']},
                                    (val.images, val.labels), steps_per_epoch=2,
                                    seed=0, mesh=mesh)['real']
  assert alone['history'] == results['real']['history']
  assert alone['best_step'] == results['real']['best_step']
  for a, b in zip(jax.tree.leaves((alone['params'], alone['batch_stats'])),
                  jax.tree.leaves((results['real']['params'],
                                   results['real']['batch_stats']))):
    np.testing.assert_array_equal(a, b)


def test_real_oversampled_has_the_gan_arms_class_counts_of_real_images():
  rng = np.random.default_rng(0)
  real = (rng.integers(0, 255, (10, 4, 4, 1), np.uint8),
          np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 2], np.int32))
  synthetic = (rng.integers(0, 255, (9, 4, 4, 1), np.uint8),
               np.array([1, 1, 1, 1, 1, 2, 2, 2, 2], np.int32))
  gan = arms_lib.ARMS.get('gan').training_set(real, synthetic)
  images, labels = arms_lib.ARMS.get('real_oversampled').training_set(real, synthetic)
  np.testing.assert_array_equal(np.bincount(labels, minlength=3),
                                np.bincount(gan[1], minlength=3))  # 6, 7, 6
  for image, label in zip(images, labels):  # Only real pixels, of the right class.
    matches = np.flatnonzero((real[0] == image).all(axis=(1, 2, 3)))
    assert len(matches) and (real[1][matches] == label).all()
  # Class 1's two images repeated 7 times in turn: 4, 3.
  ones = images[labels == 1]
  assert sum((ones == real[0][6]).all(axis=(1, 2, 3))) == 4
  nothing = (real[0][:0], real[1][:0])
  np.testing.assert_array_equal(
      arms_lib.ARMS.get('real_oversampled').training_set(real, nothing)[1], real[1])


def test_gan_pretrain_trains_its_phases_within_the_same_steps():
  config = tiny_config()
  cfg = config.classifier
  cfg.resolution = 28
  cfg.learning_rate = 1e-3
  cfg.max_epochs = 5
  cfg.patience = 1
  dataset = data_lib.load_dataset(config.data, config.seed)
  train, val = dataset.splits['train'], dataset.splits['val']
  # Stand-in "synthetic" images: flipped training images.
  synthetic = (train.images[:40, ::-1], train.labels[:40])
  arms = {'real': (train.images, train.labels), 'gan_only': synthetic,
          'gan_pretrain': (train.images, train.labels)}
  mesh = sharding.make_mesh()
  model = classifiers.build_classifier(cfg, dataset.num_classes)
  results = classifier_lib.train_arms(
      cfg, model, arms, (val.images, val.labels), steps_per_epoch=2, seed=0,
      mesh=mesh, pretrain={'gan_pretrain': synthetic}, pretrain_epochs=2)
  pre, only, real = (results[a] for a in ('gan_pretrain', 'gan_only', 'real'))
  assert max(pre['steps'], only['steps'], real['steps']) <= 2 * cfg.max_epochs
  assert (pre['pretrain_epochs'], pre['pretrain_steps'],
          pre['num_pretrain_images']) == (2, 4, len(synthetic[1]))
  assert [h.get('phase') for h in pre['history'][:3]] == ['pretrain', 'pretrain', None]
  # Phase 1 is training on the synthetic images alone: step for step the gan_only
  # arm's; then the real images with early stopping, best weights from phase 2.
  for h_pre, h_only in zip(pre['history'][:2], only['history'][:2]):
    assert h_pre['train_loss'] == h_only['train_loss']
    assert h_pre['val_loss'] == h_only['val_loss']
  assert pre['history'][2]['train_loss'] != only['history'][2]['train_loss']
  assert pre['best_step'] > 4
  assert pre['best_val_loss'] == min(h['val_loss'] for h in pre['history'][2:])
  assert 'pretrain_epochs' not in real


@pytest.mark.parametrize('stop_after_epoch', [1, 3])  # in phase 1, in phase 2
def test_gan_pretrain_resumes_exactly_on_either_side_of_its_phase_change(
    tmp_path, monkeypatch, caplog, stop_after_epoch):
  config = tiny_config()
  cfg = config.classifier
  cfg.resolution, cfg.learning_rate, cfg.max_epochs, cfg.patience = 28, 1e-3, 5, 2
  cfg.checkpoint_every_seconds = 0
  dataset = data_lib.load_dataset(config.data, config.seed)
  train, val = dataset.splits['train'], dataset.splits['val']
  synthetic = (train.images[:32, ::-1], train.labels[:32])
  mesh = sharding.make_mesh()
  model = classifiers.build_classifier(cfg, dataset.num_classes)

  def run(checkpoint_dir=None):
    return classifier_lib.train_arms(
        cfg, model, {'gan_pretrain': (train.images, train.labels)},
        (val.images, val.labels), steps_per_epoch=2, seed=0, mesh=mesh,
        checkpoint_dir=checkpoint_dir, pretrain={'gan_pretrain': synthetic},
        pretrain_epochs=2)['gan_pretrain']

  uninterrupted = run()
  real_save = classifier_lib.Checkpointer.save

  def save_then_die(self, step, *args, **kwargs):
    real_save(self, step, *args, **kwargs)
    if step == stop_after_epoch:
      self.close()  # Let the save finish, as a kill after it would.
      raise KeyboardInterrupt
  monkeypatch.setattr(classifier_lib.Checkpointer, 'save', save_then_die)
  with pytest.raises(KeyboardInterrupt):
    run(str(tmp_path / 'ckpt'))
  monkeypatch.setattr(classifier_lib.Checkpointer, 'save', real_save)
  with caplog.at_level('INFO'):
    resumed = run(str(tmp_path / 'ckpt'))
  assert f'Resuming classifier training after epoch {stop_after_epoch}' in caplog.text
  assert resumed['history'] == uninterrupted['history']
  assert (resumed['best_step'], resumed['best_val_loss']) == (
      uninterrupted['best_step'], uninterrupted['best_val_loss'])
  np.testing.assert_array_equal(
      jax.tree.leaves(resumed['params'])[0], jax.tree.leaves(uninterrupted['params'])[0])


def test_map_in_batches_pads_one_shape_and_drops_the_padding():
  shapes = []

  def double(chunk):
    shapes.append(chunk.shape)
    return chunk * 2, chunk.sum(axis=1)

  images = np.arange(20, dtype=np.float32).reshape(10, 2)
  doubled, sums = sharding.map_in_batches(double, images, 4)
  assert set(shapes) == {(4, 2)} and len(shapes) == 3
  np.testing.assert_array_equal(doubled, images * 2)
  np.testing.assert_array_equal(sums, images.sum(axis=1))
  with pytest.raises(ValueError, match='at least one'):
    sharding.map_in_batches(double, images[:0], 4)


@pytest.mark.parametrize('optimizer', ['adam', 'sgd'])
def test_cosine_schedule_starts_at_the_learning_rate_and_ends_at_zero(optimizer):
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  cfg = tiny_config().classifier
  cfg.optimizer, cfg.learning_rate, cfg.lr_schedule = optimizer, 0.1, 'cosine'
  tx = classifier_optimizer.make_optimizer(cfg, total_steps=10)
  params = {'w': jnp.zeros(3)}
  state = tx.init(params)
  grads = {'w': jnp.ones(3)}
  steps = []
  for _ in range(11):
    updates, state = tx.update(grads, state, params)
    steps.append(float(updates['w'][0]))
  # Adam's first update and SGD's are -lr times a unit gradient; the schedule
  # then follows lr * (1 + cos(pi t / 10)) / 2 down to 0 at t = 10.
  assert steps[0] == pytest.approx(-0.1, rel=1e-4)
  assert steps[5] == pytest.approx(-0.05, rel=1e-3)
  assert steps[10] == 0.0
  assert all(a <= b for a, b in zip(steps, steps[1:]))


def test_balanced_class_weights_make_every_class_weigh_the_same():
  labels = np.array([0] * 10 + [1] * 30)
  weights = classifier_optimizer.class_weights(labels, 2, 'balanced')
  np.testing.assert_allclose(weights, [40 / 20, 40 / 60])
  np.testing.assert_allclose(np.bincount(labels) * weights, [20, 20])
  assert classifier_optimizer.class_weights(labels, 2, 'none') is None
  with pytest.raises(ValueError, match=r'counts per class: \[10, 30, 0\]'):
    classifier_optimizer.class_weights(labels, 3, 'balanced')
  probs = np.array([[0.8, 0.2], [0.4, 0.6], [0.5, 0.5]])
  y = np.array([0, 1, 1])
  nll = -np.log([0.8, 0.6, 0.5])
  assert classifier_inference.cross_entropy(probs, y) == pytest.approx(nll.mean())
  assert classifier_inference.cross_entropy(probs, y, np.array([2.0, 0.5])) == pytest.approx(
      np.mean(nll * [2.0, 0.5, 0.5]))


def test_weighted_train_step_loss_is_the_weighted_cross_entropy():
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  cfg = tiny_config().classifier
  cfg.resolution, cfg.conv_dropout, cfg.dense_dropout = 16, 0.0, 0.0
  model = classifiers.CLASSIFIERS.get(cfg.name).build(cfg, num_classes=2)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (8, 16, 16, 1), dtype=np.uint8)
  labels = np.array([0, 1, 1, 1, 0, 1, 1, 1], np.int32)
  tx = optax.sgd(0.0)
  state = classifier_lib.init_state(model, tx, 0, (16, 16, 1))
  # Without dropout, and with all 8 images in the batch (batch statistics of
  # the same set), each image's loss does not depend on the batch order.
  logits, _ = model.apply({'params': state.params, 'batch_stats': state.batch_stats},
                          images.astype(np.float32) / 255.0, train=True,
                          mutable=['batch_stats'])
  per_image = np.asarray(optax.softmax_cross_entropy_with_integer_labels(
      logits, labels))
  weights = classifier_optimizer.class_weights(labels, 2, 'balanced')
  step = jax.jit(classifier_lib.make_train_step(model, tx, sharding.make_mesh()))
  index = step_batches.batch_indices(state.rng, state.step, 8, 8)
  for w, expected in ((None, per_image.mean()),
                      (weights, np.mean(per_image * weights[labels]))):
    _, metrics = step(state, jnp.asarray(images), jnp.asarray(labels), index, w)
    assert float(metrics['loss']) == pytest.approx(expected, rel=1e-5)
  # Weights are an argument: other weights reuse the weighted compile.
  _, metrics = step(state, jnp.asarray(images), jnp.asarray(labels), index,
                    weights[::-1])
  assert float(metrics['loss']) == pytest.approx(
      np.mean(per_image * weights[::-1][labels]), rel=1e-5)
  assert step._cache_size() == 2
  assert np.mean(per_image * weights[labels]) != pytest.approx(per_image.mean(),
                                                               rel=1e-3)


@pytest.mark.parametrize('field,value', [('lr_schedule', 'linear'),
                                         ('class_weighting', 'inverse')])
def test_unknown_schedule_or_weighting_is_refused_by_validation(field, value):
  from gan_aug.pipeline import config_validation  # pylint: disable=g-import-not-at-top
  config = tiny_config()
  config.classifier[field] = value
  with pytest.raises(errors.ConfigError,
                     match=rf"config.classifier.{field}='{value}' is not allowed"):
    config_validation.validate(config)
