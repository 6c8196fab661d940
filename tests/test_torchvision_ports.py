"""The Flax ports of torchvision's classifiers against plain-torch references, by the numbers.

Each reference (tests/support/torch_reference.py) has torchvision's state-dict keys; its
random weights (batch-norm statistics included) go through
`torch_convert.convert_state_dict`, and the Flax model must give the same
logits and classifier features, in eval and in training mode.
"""

import functools
import logging
import os
import re
import subprocess
import sys

import pytest

torch = pytest.importorskip('torch')

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp
import numpy as np
from torch.nn import functional as F

from gan_aug.models import torch_convert
from gan_aug.models.backbones import BACKBONES, layers
import torch_random_init
import torch_reference
# pylint: enable=g-import-not-at-top,wrong-import-position

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHS = ('resnet18', 'resnet50', 'vgg16', 'alexnet', 'squeezenet1_1', 'googlenet')
# torchvision's counts at 1000 classes (GoogLeNet without its auxiliary heads).
PARAMETER_COUNTS = {
    'resnet18': 11_689_512, 'resnet50': 25_557_032, 'vgg16': 138_357_544,
    'alexnet': 61_100_840, 'squeezenet1_1': 1_235_496, 'googlenet': 6_624_904,
}
FEATURE_SIZES = {
    'resnet18': 512, 'resnet50': 2048, 'vgg16': 25088, 'alexnet': 9216,
    'squeezenet1_1': 512, 'googlenet': 1024,
}
# Input sides tested: each architecture's smallest (ceil-mode pools then run
# windows past the edge), and odd sides for the ResNets.
TEST_SIDES = {
    'resnet18': (33, 1), 'resnet50': (29,), 'vgg16': (32,), 'alexnet': (63,),
    'squeezenet1_1': (17,), 'googlenet': (15,),
}
TOLERANCE = 1e-4


def _relative_error(actual, expected) -> float:
  expected = np.asarray(expected)
  return float(np.abs(np.asarray(actual) - expected).max() / np.abs(expected).max())


def _reference(arch: str, **kwargs):
  """The randomized torch reference in eval mode."""
  return torch_random_init.randomized(
      functools.partial(torch_reference.BUILDERS[arch], **kwargs))


def _numpy_state(model):
  return {key: value.numpy() for key, value in model.state_dict().items()}


def _images(side: int, seed: int = 0, width: int = 0) -> np.ndarray:
  shape = (2, 3, side, width or side)
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _nhwc(x: np.ndarray) -> np.ndarray:
  return x.transpose(0, 2, 3, 1)


def _torch_outputs(arch: str, model, x: np.ndarray):
  """Torch logits and the features its classifier reads, in the ports' layout."""
  captured = {}
  if arch == 'squeezenet1_1':
    hook = model.features.register_forward_hook(
        lambda m, inputs, output: captured.update(features=output.mean((2, 3))))
  else:
    head = model.classifier if arch in ('vgg16', 'alexnet') else model.fc
    hook = head.register_forward_hook(
        lambda m, inputs, output: captured.update(features=inputs[0]))
  with torch.no_grad():
    logits = model(torch.from_numpy(x)).numpy()
  hook.remove()
  features = captured['features'].numpy()
  if arch in ('vgg16', 'alexnet'):
    # torch flattens (c, h, w); the ports flatten NHWC maps as (h, w, c).
    side = 7 if arch == 'vgg16' else 6
    features = features.reshape(len(x), -1, side, side).transpose(0, 2, 3, 1)
    features = features.reshape(len(x), -1)
  return logits, features


@functools.lru_cache(maxsize=None)
def _eval_fn(model_cls, **fields):
  """Jitted (variables, x) -> (logits, include_top=False features)."""
  model, trunk = model_cls(**fields), model_cls(include_top=False, **fields)
  return jax.jit(lambda variables, x: (model.apply(variables, x, train=False),
                                      trunk.apply(variables, x, train=False)))


def _init_shapes(model_cls, side: int, **fields):
  return jax.eval_shape(lambda: model_cls(**fields).init(
      jax.random.PRNGKey(0), jnp.zeros((1, side, side, 3)), train=False))


def test_registry_holds_the_six_architectures():
  assert BACKBONES.names() == sorted(ARCHS)
  assert torch_convert.ARCHITECTURES == ARCHS


@pytest.mark.parametrize('arch', ARCHS)
def test_parameter_counts_are_torchvisions(arch):
  model_cls = BACKBONES.get(arch)
  variables = _init_shapes(model_cls, model_cls.min_resolution)
  count = sum(leaf.size for leaf in jax.tree.leaves(variables['params']))
  with torch.device('meta'):
    torch_count = sum(p.numel() for p in torch_reference.BUILDERS[arch]().parameters())
  assert count == torch_count == PARAMETER_COUNTS[arch]


@pytest.mark.parametrize('arch', ARCHS)
def test_eval_mode_matches_torch(arch):
  reference = _reference(arch)
  variables = torch_convert.convert_state_dict(arch, _numpy_state(reference))
  model_cls = BACKBONES.get(arch)
  expected = _init_shapes(model_cls, model_cls.min_resolution)
  assert (jax.tree.map(np.shape, variables) ==
          jax.tree.map(lambda leaf: tuple(leaf.shape), expected))

  for side in TEST_SIDES[arch]:
    x = _images(side)
    torch_logits, torch_features = _torch_outputs(arch, reference, x)
    logits, features = _eval_fn(model_cls)(variables, _nhwc(x))
    assert logits.shape == (2, 1000)
    assert features.shape == (2, FEATURE_SIZES[arch])
    assert _relative_error(logits, torch_logits) <= TOLERANCE, side
    assert _relative_error(features, torch_features) <= TOLERANCE, side

  side = model_cls.min_resolution
  if side > 1:  # One pixel less: both refuse it.
    with pytest.raises(RuntimeError):
      with torch.no_grad():
        reference(torch.zeros(1, 3, side - 1, side - 1))
    with pytest.raises(ValueError, match='too small'):
      jax.eval_shape(functools.partial(model_cls().apply, train=False), variables,
                     jnp.zeros((1, side - 1, side - 1, 3)))


def test_googlenet_transform_input_matches_torch():
  reference = _reference('googlenet', transform_input=True)
  variables = torch_convert.convert_state_dict('googlenet', _numpy_state(reference))
  x = _images(19, seed=1)
  torch_logits, _ = _torch_outputs('googlenet', reference, x)
  model = BACKBONES.get('googlenet')(transform_input=True)
  logits = jax.jit(functools.partial(model.apply, train=False))(variables, _nhwc(x))
  assert _relative_error(logits, torch_logits) <= TOLERANCE


@pytest.mark.parametrize('arch,batch', [('resnet18', 2), ('googlenet', 8)])
def test_train_mode_matches_torch(arch, batch):
  """Batch statistics in the forward pass; running statistics move by torch's momentum 0.1
  towards the unbiased batch variance. GoogLeNet's dropout is off on both sides.

  GoogLeNet's last stages are 1x1 here: with only two values per channel,
  training-mode batch norm amplifies float32 rounding past the tolerance (in
  float64 the two agree to 1e-9), hence its batch of 8.
  """
  fields = {'dropout': 0.0} if arch == 'googlenet' else {}
  reference = _reference(arch, **fields)
  variables = torch_convert.convert_state_dict(arch, _numpy_state(reference))
  x = np.concatenate([_images(33, seed) for seed in range(batch // 2)])
  reference.train()
  with torch.no_grad():
    torch_logits = reference(torch.from_numpy(x)).numpy()
  torch_stats = torch_convert.convert_state_dict(arch, _numpy_state(reference))['batch_stats']

  model = BACKBONES.get(arch)(**fields)
  logits, updates = jax.jit(functools.partial(
      model.apply, train=True, mutable=['batch_stats']))(variables, _nhwc(x))
  assert _relative_error(logits, torch_logits) <= TOLERANCE
  stats_errors = jax.tree.map(_relative_error, updates['batch_stats'], torch_stats)
  assert max(jax.tree.leaves(stats_errors)) <= TOLERANCE
  moved = jax.tree.map(_relative_error, variables['batch_stats'], torch_stats)
  assert min(jax.tree.leaves(moved)) > 1e-3


def test_dropout_is_active_in_training_only():
  reference = _reference('squeezenet1_1')
  variables = torch_convert.convert_state_dict('squeezenet1_1', _numpy_state(reference))
  model = BACKBONES.get('squeezenet1_1')()
  x = _nhwc(_images(17))
  train = jax.jit(lambda key: model.apply(variables, x, train=True,
                                          rngs={'dropout': key}))
  first, again = train(jax.random.PRNGKey(0)), train(jax.random.PRNGKey(0))
  other = train(jax.random.PRNGKey(1))
  evaluated, _ = _eval_fn(type(model))(variables, x)
  np.testing.assert_array_equal(first, again)
  assert not np.allclose(first, other)
  assert not np.allclose(first, evaluated)


def test_converter_names_missing_unexpected_and_misshapen_keys():
  state = _numpy_state(_reference('resnet18'))
  missing = dict(state)
  del missing['layer3.1.bn2.running_var']
  with pytest.raises(torch_convert.StateDictMismatchError,
                     match=re.escape("missing 1 key(s): 'layer3.1.bn2.running_var'")):
    torch_convert.convert_state_dict('resnet18', missing)

  unexpected = dict(state, **{'layer5.0.conv1.weight': np.zeros((1, 1, 1, 1))})
  with pytest.raises(torch_convert.StateDictMismatchError,
                     match=re.escape("unexpected key(s): 'layer5.0.conv1.weight'")):
    torch_convert.convert_state_dict('resnet18', unexpected)

  misshapen = dict(state, **{'layer2.0.conv1.weight': np.zeros((128, 64, 1, 1))})
  with pytest.raises(torch_convert.StateDictMismatchError,
                     match=re.escape("'layer2.0.conv1.weight' has shape (128, 64, 1, 1); "
                                     'expected (128, 64, 3, 3)')):
    torch_convert.convert_state_dict('resnet18', misshapen)

  # Another architecture's checkpoint fails the same way.
  with pytest.raises(torch_convert.StateDictMismatchError, match='resnet50 state dict is missing'):
    torch_convert.convert_state_dict('resnet50', state)


def test_converter_skips_googlenet_auxiliary_heads(caplog):
  with_aux = _numpy_state(_reference('googlenet', aux_logits=True))
  assert 'aux1.fc2.weight' in with_aux and 'aux2.conv.bn.running_var' in with_aux
  without_aux = {key: value for key, value in with_aux.items()
                 if not key.startswith(('aux1.', 'aux2.'))}
  with caplog.at_level(logging.INFO):
    converted = torch_convert.convert_state_dict('googlenet', with_aux)
  assert re.search(r'skipped \d+ auxiliary-classifier keys', caplog.text)
  expected = torch_convert.convert_state_dict('googlenet', without_aux)
  assert jax.tree.structure(converted) == jax.tree.structure(expected)
  assert all(np.array_equal(a, b) for a, b in
             zip(jax.tree.leaves(converted), jax.tree.leaves(expected)))


def test_merge_pretrained_keeps_a_new_head_and_loads_the_rest():
  pretrained = torch_convert.convert_state_dict('resnet18', _numpy_state(_reference('resnet18')))
  # A stand-in for model.init's fresh values (whose compilation takes long on CPU).
  rng = np.random.default_rng(0)
  target = jax.tree.map(lambda leaf: rng.normal(size=leaf.shape).astype(leaf.dtype),
                        _init_shapes(BACKBONES.get('resnet18'), 32, num_classes=3))
  merged, info = torch_convert.merge_pretrained(target, pretrained)
  assert sorted(info['kept_initial']) == ['params/fc/bias', 'params/fc/kernel']
  assert info['loaded'] == len(jax.tree.leaves(target)) - 2
  assert jax.tree.structure(merged) == jax.tree.structure(target)
  np.testing.assert_array_equal(merged['params']['fc']['kernel'],
                                target['params']['fc']['kernel'])
  np.testing.assert_array_equal(merged['params']['layer4_1']['conv2']['kernel'],
                                pretrained['params']['layer4_1']['conv2']['kernel'])
  np.testing.assert_array_equal(merged['batch_stats']['layer2_0']['downsample_1']['var'],
                                pretrained['batch_stats']['layer2_0']['downsample_1']['var'])

  trunk = _init_shapes(BACKBONES.get('resnet18'), 32, include_top=False)
  _, info = torch_convert.merge_pretrained(trunk, pretrained)
  assert info == {'loaded': len(jax.tree.leaves(trunk)), 'kept_initial': []}

  foreign = torch_convert.convert_state_dict(
      'squeezenet1_1', _numpy_state(_reference('squeezenet1_1')))
  with pytest.raises(ValueError, match='another architecture'):
    torch_convert.merge_pretrained(target, foreign)


@pytest.mark.parametrize('in_side,out_side', [(1, 7), (5, 7), (13, 6), (10, 3), (9, 4),
                                              (14, 7), (7, 1)])
def test_adaptive_avg_pool_matches_torch(in_side, out_side):
  x = _images(in_side, width=in_side + 2)
  expected = F.adaptive_avg_pool2d(torch.from_numpy(x), (out_side, out_side + 1)).numpy()
  actual = layers.adaptive_avg_pool(_nhwc(x), (out_side, out_side + 1))
  np.testing.assert_allclose(actual, _nhwc(expected), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('kernel,stride,padding,ceil_mode', [
    (3, 2, 0, True), (3, 2, 0, False), (3, 2, 1, False), (3, 1, 1, True),
    (2, 2, 0, True), (2, 2, 0, False)])
def test_max_pool_matches_torch(kernel, stride, padding, ceil_mode):
  for side in (1, 2, 3, 4, 5, 8, 9):
    x = _images(side)
    try:
      expected = F.max_pool2d(torch.from_numpy(x), kernel, stride, padding,
                              ceil_mode=ceil_mode).numpy()
    except RuntimeError:
      with pytest.raises(ValueError, match='too small'):
        layers.max_pool(_nhwc(x), kernel, stride, padding, ceil_mode)
      continue
    actual = layers.max_pool(_nhwc(x), kernel, stride, padding, ceil_mode)
    np.testing.assert_array_equal(actual, _nhwc(expected), err_msg=f'side {side}')


def test_package_does_not_import_torch():
  code = ('import sys, gan_aug.models.backbones, gan_aug.models.torch_convert; '
          "sys.exit('torch' in sys.modules)")
  subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, check=True)


def test_convert_script_end_to_end(tmp_path):
  reference = _reference('squeezenet1_1')
  pth = tmp_path / 'squeezenet1_1.pth'
  torch.save(reference.state_dict(), pth)
  out = tmp_path / 'weights' / 'squeezenet1_1.msgpack'
  result = subprocess.run(
      [sys.executable, 'scripts/convert_torchvision.py', '--arch=squeezenet1_1',
       f'--pth={pth}', f'--out={out}'],
      cwd=REPO_ROOT, check=True, capture_output=True, text=True)
  assert result.stdout.startswith('squeezenet1_1: 1,235,496 parameters, 1000 classes')
  variables = torch_convert.load_variables(str(out))
  x = _images(17, seed=3)
  torch_logits, torch_features = _torch_outputs('squeezenet1_1', reference, x)
  logits, features = _eval_fn(BACKBONES.get('squeezenet1_1'))(variables, _nhwc(x))
  assert _relative_error(logits, torch_logits) <= TOLERANCE
  assert _relative_error(features, torch_features) <= TOLERANCE
