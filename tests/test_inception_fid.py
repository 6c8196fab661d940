"""The FID Inception port against a plain-torch pytorch-fid reference, and its input pipeline.

The reference (tests/support/torch_inception_fid_reference.py) has pytorch-fid's
state-dict keys; its random weights and batch-norm statistics go through
scripts/convert_inception_fid.py, and `make_extractor` must give its pool3
features. A small input (139 px: 3x3 maps in Mixed_7) keeps it fast.
"""

import ast
import os
import re
import subprocess
import sys

import pytest

torch = pytest.importorskip('torch')

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import numpy as np
from PIL import Image

from gan_aug.models import torch_convert
from gan_aug.models.backbones import inception_fid
from gan_aug.synthesis import inception_features
import torch_inception_fid_reference
import torch_random_init
# pylint: enable=g-import-not-at-top,wrong-import-position

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIN_SIDE = inception_fid.FIDInceptionV3.min_resolution
# Mixed_7b and 7c then see 3x3 maps, where their pooling branches (average
# without the padding, max) differ from one another and from the identity.
SIDE = 139
TOLERANCE = 1e-4
# torchvision's Inception3 without AuxLogits and fc, which the FID blocks keep.
PARAMETER_COUNT = 21_785_568


@pytest.fixture(scope='module', autouse=True)
def _one_torch_thread():
  threads = torch.get_num_threads()
  torch.set_num_threads(1)
  yield
  torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def reference():
  """The torch reference in eval mode, random weights and statistics."""
  return torch_random_init.randomized(torch_inception_fid_reference.FIDInception3)


@pytest.fixture(scope='module')
def state(reference):
  return {key: value.numpy() for key, value in reference.state_dict().items()}


def test_converted_features_match_torch(reference, tmp_path):
  pth = tmp_path / inception_features.PTH_NAME
  torch.save(reference.state_dict(), pth)
  out = tmp_path / 'weights' / 'inception_fid.msgpack'
  result = subprocess.run(
      [sys.executable, 'scripts/convert_inception_fid.py', f'--pth={pth}', f'--out={out}'],
      cwd=REPO_ROOT, check=True, capture_output=True, text=True)
  assert result.stdout.startswith(f'FID Inception: {PARAMETER_COUNT:,} parameters, '
                                  '188 batch-norm statistics arrays')
  variables = inception_features.load_inception(str(out))

  # Three images in batches of two: the last one is padded.
  images = np.random.default_rng(0).uniform(size=(3, SIDE, SIDE, 3)).astype(np.float32)
  extract = inception_features.make_extractor(variables, batch_size=2, image_size=SIDE)
  features = extract(images)
  assert features.shape == (3, inception_fid.FEATURE_DIM) and features.dtype == np.float64
  with torch.no_grad():
    x = torch.from_numpy(inception_features.preprocess(images, SIDE).transpose(0, 3, 1, 2))
    expected = reference.pool3(x).numpy()
  error = np.abs(features - expected).max() / np.abs(expected).max()
  print(f'largest |flax - torch| / max|torch| = {error:.2e}')
  assert error <= TOLERANCE
  assert np.abs(expected).max() > 0.1 and expected.std(axis=0).max() > 0.01  # Not degenerate.
  assert extract(images[:0]).shape == (0, inception_fid.FEATURE_DIM)


def test_converter_ignores_fc_and_num_batches_tracked(state):
  kept = {key: value for key, value in state.items()
          if not key.startswith('fc.') and not key.endswith('.num_batches_tracked')}
  assert len(kept) < len(state)
  variables = inception_features.convert_state_dict(state)
  assert jax.tree.map(np.shape, variables) == jax.tree.map(
      np.shape, inception_features.convert_state_dict(kept))
  assert set(variables) == {'params', 'batch_stats'}
  kernel = variables['params']['Mixed_6b']['branch7x7_2']['conv']['kernel']
  np.testing.assert_array_equal(
      kernel, state['Mixed_6b.branch7x7_2.conv.weight'].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(variables['batch_stats']['Mixed_7c']['branch_pool']['bn']['var'],
                                state['Mixed_7c.branch_pool.bn.running_var'])


def test_converter_names_missing_unexpected_and_misshapen_keys(state):
  convert = inception_features.convert_state_dict
  error = torch_convert.StateDictMismatchError
  missing = dict(state)
  del missing['Mixed_6c.branch7x7dbl_4.bn.running_var']
  with pytest.raises(error, match=re.escape(
      "missing 1 key(s): 'Mixed_6c.branch7x7dbl_4.bn.running_var'")):
    convert(missing)

  unexpected = dict(state, **{'AuxLogits.conv0.conv.weight': np.zeros((128, 768, 1, 1))})
  with pytest.raises(error, match=re.escape(
      "unexpected key(s): 'AuxLogits.conv0.conv.weight' (AuxLogits belong to torchvision")):
    convert(unexpected)

  misshapen = dict(state, **{'Mixed_7b.branch3x3_2a.conv.weight': np.zeros((384, 384, 3, 1))})
  with pytest.raises(error, match=re.escape(
      "'Mixed_7b.branch3x3_2a.conv.weight' has shape (384, 384, 3, 1); "
      'expected (384, 384, 1, 3)')):
    convert(misshapen)

  imagenet_head = dict(state, **{'fc.weight': np.zeros((1000, 2048)),
                                 'fc.bias': np.zeros(1000)})
  with pytest.raises(error, match=re.escape("'fc.weight' has shape (1000, 2048)")):
    convert(imagenet_head)


def _pil_bicubic(image: np.ndarray, size: int) -> np.ndarray:
  """PIL's own uint8 bicubic resize of one image, in [0, 1]."""
  pil = Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image)
  resized = np.asarray(pil.resize((size, size), Image.Resampling.BICUBIC), np.float32) / 255
  return resized[..., None] if resized.ndim == 2 else resized


def test_preprocess_is_pil_bicubic_scaled_to_minus_one_one():
  rows, cols = np.mgrid[0:40, 0:57]
  smooth = (np.sin(cols / 5) + np.cos(rows / 7)) * 60 + 128
  images = np.stack([np.stack([smooth, 255 - smooth, smooth / 2], -1),
                     np.stack([smooth[::-1], smooth / 3 + 40, 200 - smooth / 2], -1)])
  images = np.round(images).astype(np.uint8)
  out = inception_features.preprocess(images)
  assert out.shape == (2, 299, 299, 3) and out.dtype == np.float32
  expected = np.stack([_pil_bicubic(image, 299) for image in images]) * 2 - 1
  # PIL's uint8 path rounds to 8 bits after each pass; the float path does not.
  np.testing.assert_allclose(out, expected, atol=1.5 * 2 / 255)
  # Floats in [0, 1] give the same as the uint8 images they equal.
  np.testing.assert_allclose(inception_features.preprocess(images / 255.0), out, atol=1e-6)

  # Overshooting bicubic ringing is clipped; black and white land on -1 and 1.
  noise = np.random.default_rng(0).integers(0, 256, (1, 20, 30, 3), np.uint8)
  noise[0, :5], noise[0, 5:10] = 0, 255
  out = inception_features.preprocess(noise, 100)
  assert out.min() == -1 and out.max() == 1
  np.testing.assert_array_equal(out[0, :10], -1)
  # At the output size there is no resampling.
  at_size = np.random.default_rng(1).integers(0, 256, (1, 99, 99, 3), np.uint8)
  np.testing.assert_allclose(inception_features.preprocess(at_size, 99),
                             at_size / 255 * 2 - 1, atol=1e-6)


def test_preprocess_repeats_grey_to_rgb():
  grey = np.random.default_rng(2).uniform(size=(2, 31, 45, 1))
  out = inception_features.preprocess(grey, 80)
  assert out.shape == (2, 80, 80, 3)
  np.testing.assert_array_equal(out[..., 0], out[..., 1])
  np.testing.assert_array_equal(out[..., 0], out[..., 2])
  np.testing.assert_array_equal(out, inception_features.preprocess(np.repeat(grey, 3, -1), 80))
  smooth = np.round(np.linspace(0, 255, 31 * 45).reshape(1, 31, 45, 1)).astype(np.uint8)
  np.testing.assert_allclose(inception_features.preprocess(smooth, 80)[..., :1],
                             _pil_bicubic(smooth[0], 80)[None] * 2 - 1, atol=1.5 * 2 / 255)


def test_preprocess_refuses_other_inputs():
  with pytest.raises(ValueError, match=r'float images in \[0, 1\]; got values in \[-1.0, 1.0\]'):
    inception_features.preprocess(np.linspace(-1, 1, 2 * 8 * 8 * 3).reshape(2, 8, 8, 3))
  with pytest.raises(ValueError, match='C 1 or 3; got shape'):
    inception_features.preprocess(np.zeros((2, 8, 8, 4), np.uint8))
  with pytest.raises(ValueError, match='C 1 or 3; got shape'):
    inception_features.preprocess(np.zeros((8, 8, 3), np.uint8))
  with pytest.raises(ValueError, match='dtype int64'):
    inception_features.preprocess(np.zeros((2, 8, 8, 3), np.int64))
  with pytest.raises(ValueError, match='at least 75'):
    inception_features.make_extractor({}, image_size=MIN_SIDE - 1)
  with pytest.raises(ValueError, match='at least 75 per side'):
    jax.eval_shape(lambda: inception_fid.FIDInceptionV3().init(
        jax.random.PRNGKey(0), np.zeros((1, MIN_SIDE, MIN_SIDE - 1, 3), np.float32)))


def test_missing_weights_say_where_and_how(tmp_path):
  path = str(tmp_path / 'weights' / 'inception_fid.msgpack')
  with pytest.raises(FileNotFoundError) as info:
    inception_features.load_inception(path)
  message = str(info.value)
  assert os.path.abspath(path) in message
  assert 'scripts/convert_inception_fid.py' in message and f'--out={path}' in message
  assert inception_features.PTH_NAME in message

  foreign = str(tmp_path / 'resnet.msgpack')
  torch_convert.save_variables(foreign, {'params': {'fc': {'bias': np.zeros(3)}}})
  with pytest.raises(ValueError, match='does not hold FID Inception variables'):
    inception_features.load_inception(foreign)


def test_new_modules_do_not_import_torch():
  for module in (inception_features, inception_fid):
    tree = ast.parse(open(module.__file__, encoding='utf-8').read())
    imported = {alias.name.split('.')[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or '').split('.')[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert 'torch' not in imported, module.__name__


def test_protocol_reports_the_synthetic_set_in_inception_space(state, tmp_path):
  from gan_aug.config_blocks import blocks  # pylint: disable=g-import-not-at-top
  from gan_aug.report import summary as summary_lib  # pylint: disable=g-import-not-at-top
  from gan_aug.synthesis import quality as synthetic_quality  # pylint: disable=g-import-not-at-top
  from gan_aug.metrics import features  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / 'inception.msgpack')
  torch_convert.save_variables(path, inception_features.convert_state_dict(state))
  protocol = blocks.protocol(inception_weights=path, inception_image_size=75)
  rng = np.random.default_rng(0)
  sets = [(rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8),
           np.arange(n) % 2) for n in (24, 19, 17)]  # Under 20: no 2048-d FID (slow).
  quality = synthetic_quality.in_inception_space(protocol, *sets, ['a', 'b'], seed=0)
  assert quality['feature_dim'] == inception_features.FEATURE_DIM
  extract = inception_features.make_extractor(
      inception_features.load_inception(path), image_size=75)
  by_hand = features.synthetic_set_report(
      *[x for images, labels in sets for x in (extract(images), labels)], ['a', 'b'],
      seed=0)
  assert quality['overall'] == pytest.approx(by_hand['overall'])
  assert set(quality['per_class']) == {'a', 'b'}
  scores = {'precision': 0.5, 'recall': 0.5, 'f1': 0.5}
  test = {'accuracy': 0.5, 'per_class': {'a': scores, 'b': scores}}
  from gan_aug.protocol import arms as arms_lib  # pylint: disable=g-import-not-at-top
  measured = {'gan_test_accuracy': None, 'synthetic_quality_inception': quality}
  summary = summary_lib.summarise(
      [{'fraction': 1.0, 'seed': s,
        'classifiers': {'custom_cnn': {'arms': {
            'real': {'test': test, 'test_correct': [1]},
            'gan': {'test': test, 'test_correct': [1]}}}},
        'generators': {'gan': {'classifiers': {'custom_cnn': measured}}}}
       for s in (0, 1)],
      arms_lib.bindings(('real', 'gan'), ['gan']), [1.0], ['custom_cnn'])
  assert summary['synthetic_quality_inception']['1.0']['kid']['values'] == [
      quality['overall']['kid']] * 2


def test_protocol_refuses_missing_inception_weights(tmp_path):
  from gan_aug.pipeline import config_validation  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), 'configs'))
  import pneumonia_lowdata  # pylint: disable=g-import-not-at-top
  config = pneumonia_lowdata.get_config('smoke')
  config.protocol.inception_weights = str(tmp_path / 'absent.msgpack')
  with pytest.raises(ValueError, match=r"absent.msgpack': no such file.*convert_inception"):
    config_validation.validate(config)
  config.protocol.inception_weights = ''
  config.protocol.inception_image_size = 64
  with pytest.raises(ValueError, match='inception_image_size=64'):
    config_validation.validate(config)
