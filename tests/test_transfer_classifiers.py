"""Classifiers of papers 000-003: sizes, pretrained loading, frozen backbones."""

import jax
import jax.numpy as jnp
import numpy as np

from gan_aug.classifier import optimizer as classifier_optimizer
from gan_aug.classifier import training as classifier_lib
from gan_aug.config_blocks import blocks
from gan_aug.models import classifiers
from gan_aug.models import torch_convert
from gan_aug.models import transfer
from gan_aug.runtime import sharding


def _shapes(model, resolution, channels=3):
  return jax.eval_shape(lambda: model.init(
      jax.random.PRNGKey(0), jnp.zeros((1, resolution, resolution, channels)),
      train=False))


def _count(tree):
  return sum(x.size for x in jax.tree.leaves(tree))


def test_gmd_cnn_layers_and_sizes():
  model = classifiers.GMDCNN(num_classes=4)
  params = _shapes(model, 64)['params']
  # conv 256, 128, 128, 64, 32 (3x3x{3,256,128,128,64}) and dense 100, 60, 4 on
  # the 2x2x32 map left at 64x64.
  expected = (3 * 9 * 256 + 256) + (256 * 9 * 128 + 128) + (128 * 9 * 128 + 128) + (
      128 * 9 * 64 + 64) + (64 * 9 * 32 + 32) + (128 * 100 + 100) + (
          100 * 60 + 60) + (60 * 4 + 4)
  assert _count(params) == expected
  # At paper 002's 150x150 the last map is 7x7x32.
  assert _shapes(model, 150)['params']['Dense_0']['kernel'].shape == (7 * 7 * 32, 100)


def test_paper_003_heads_have_the_papers_trainable_sizes():
  cfg = blocks.classifier()
  vgg = classifiers.build_classifier(cfg, 3, 'vgg16')
  params = _shapes(vgg, 224)['params']
  # Paper 003's VGG16 summary: 3,211,779 trainable parameters (its new head).
  assert _count({k: v for k, v in params.items() if k != 'backbone'}) == 3_211_779
  assert _count(params['backbone']) == 14_714_688  # "Non-trainable params"
  resnet = classifiers.build_classifier(cfg, 3, 'resnet50')
  params = _shapes(resnet, 64)['params']
  assert _count({k: v for k, v in params.items() if k != 'backbone'}) == (
      2048 * 128 + 128 + 128 * 64 + 64 + 64 * 3 + 3)


def test_frozen_pretrained_backbone_stays_fixed_and_the_new_layer_learns(tmp_path):
  # "Pretrained" weights: a SqueezeNet 1.1 with 1000 classes from another seed.
  backbone = transfer.backbones.BACKBONES.get('squeezenet1_1')()
  weights = jax.jit(lambda: backbone.init(jax.random.PRNGKey(7),
                                          jnp.zeros((1, 32, 32, 3)), train=False))()
  torch_convert.save_variables(str(tmp_path / 'squeezenet1_1.msgpack'), weights)
  cfg = blocks.classifier(name='squeezenet1_1', resolution=32, batch_size=8,
                          eval_batch_size=8, learning_rate=1e-2,
                          pretrained_dir=str(tmp_path), max_epochs=1,
                          steps_per_epoch=3, patience=1)
  model = classifiers.build_classifier(cfg, 2)
  assert model.frozen
  variables = classifier_lib.initial_variables(model, 0, (32, 32, 1))
  variables, info = transfer.load_pretrained(jax.device_get(variables),
                                             transfer.weights_path(cfg, 'squeezenet1_1'))
  # Everything but the new last layer (classifier.1, 1000 -> 2 classes) loads.
  assert info['kept_initial'] and all('classifier_1' in p for p in info['kept_initial'])
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (16, 32, 32, 1), np.uint8)
  labels = np.arange(16) % 2
  result = classifier_lib.train_arms(
      cfg, model, {'real': (images, labels)}, (images[:8], labels[:8]), 3, 0,
      sharding.make_mesh(), variables, info['trainable'])['real']
  before = jax.tree_util.tree_flatten_with_path(variables['params'])[0]
  after = dict(jax.tree_util.tree_flatten_with_path(result['params'])[0])
  for path, value in before:
    name = jax.tree_util.keystr(path)
    if 'classifier_1' in name:
      assert not np.array_equal(after[path], value), name
    else:
      np.testing.assert_array_equal(after[path], value, err_msg=name)


def test_without_weights_the_backbone_is_not_frozen():
  cfg = blocks.classifier(name='resnet50', freeze_backbone=True)
  assert not classifiers.build_classifier(cfg, 3).frozen
  cfg.pretrained_dir = '/some/dir'
  assert classifiers.build_classifier(cfg, 3).frozen


def test_sgd_optimizer_is_plain_sgd_without_momentum():
  cfg = blocks.classifier(optimizer='sgd', momentum=0.0, learning_rate=0.1)
  tx = classifier_optimizer.make_optimizer(cfg)
  params = {'w': jnp.ones(3)}
  updates, _ = tx.update({'w': jnp.full(3, 2.0)}, tx.init(params), params)
  np.testing.assert_allclose(updates['w'], -0.2)
