"""Classifier arms: same steps in lockstep, early stopping keeps each arm's best weights."""

import numpy as np
import pytest

from gan_aug import data as data_lib
from gan_aug.models import classifiers
from gan_aug.models.classifiers import max_pool_2x2
from gan_aug.train import classifier as classifier_lib
from gan_aug.train import sharding
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


def test_arms_run_the_same_steps_and_keep_their_best_weights():
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
  predict = classifier_lib.make_predict(model, mesh)
  epochs = results['real']['epochs']
  for result in results.values():
    assert result['epochs'] == epochs and result['steps'] == 2 * epochs
    assert result['num_val_images'] == len(val)
    losses = [h['val_loss'] for h in result['history']]
    assert [h['step'] for h in result['history']] == list(range(2, 2 * epochs + 1, 2))
    assert result['best_val_loss'] == min(losses)
    assert result['best_step'] == 2 * (int(np.argmin(losses)) + 1)
    probs = classifier_lib.predict_probs(predict, result['params'],
                                         result['batch_stats'], val.images,
                                         cfg.eval_batch_size)
    assert classifier_lib.cross_entropy(probs, val.labels) == pytest.approx(
        result['best_val_loss'], rel=1e-5)
    if epochs < cfg.max_epochs:  # Stopped early: no arm improved in its last epoch.
      assert losses[-1] >= min(losses[:-1])


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
