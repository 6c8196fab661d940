"""DiffAugment: policy parsing, each operation's semantics, gradients and randomness."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_aug.gan import diffaug


def _images(seed, shape):
  """Images in [-1, 1] with no zero pixel, so zeros in an output were put there."""
  rng = np.random.default_rng(seed)
  magnitude = rng.uniform(0.1, 1.0, shape)
  return (magnitude * rng.choice([-1.0, 1.0], shape)).astype(np.float32)


def _shift(images, dy, dx):
  """out[:, i, j] = images[:, i - dy, j - dx], zero outside (NumPy, one shift for all)."""
  out = np.zeros_like(images)
  height, width = images.shape[1:3]
  rows = slice(max(dy, 0), min(height + dy, height))
  cols = slice(max(dx, 0), min(width + dx, width))
  src_rows = slice(max(-dy, 0), min(height - dy, height))
  src_cols = slice(max(-dx, 0), min(width - dx, width))
  out[:, rows, cols] = images[:, src_rows, src_cols]
  return out


def _recover_shifts(inputs, outputs, max_shift):
  """The unique (dy, dx) with |dy|, |dx| <= max_shift mapping each input to its output."""
  matches = [[] for _ in range(len(inputs))]
  for dy, dx in itertools.product(range(-max_shift, max_shift + 1), repeat=2):
    same = np.all(_shift(inputs, dy, dx) == outputs, axis=(1, 2, 3))
    for i in np.flatnonzero(same):
      matches[i].append((dy, dx))
  assert all(len(m) == 1 for m in matches), matches
  return np.array([m[0] for m in matches])


def _cut_squares(inputs, outputs):
  """Per image: the clipped square's (first row, rows, first col, cols) and its mask."""
  cut = np.all(outputs == 0, axis=-1)
  np.testing.assert_array_equal(outputs[~cut], inputs[~cut])
  boxes = []
  for mask in cut:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    assert rows.size and cols.size
    # One axis-aligned rectangle: contiguous rows and columns, all of it cut.
    assert rows[-1] - rows[0] + 1 == rows.size and cols[-1] - cols[0] + 1 == cols.size
    np.testing.assert_array_equal(mask, np.outer(mask.any(1), mask.any(0)))
    boxes.append((rows[0], rows.size, cols[0], cols.size))
  return np.array(boxes), cut


def _unclipped_start(first, length, side, size):
  """Where a square of `side` starts, given its part inside [0, size)."""
  if length == side:
    return first
  assert length < side and (first == 0 or first + length == size)
  return first + length - side if first == 0 else first


@pytest.mark.parametrize('policy, expected', [
    ('', ()),
    ('   ', ()),
    ('color', ('color',)),
    ('color,translation,cutout', ('color', 'translation', 'cutout')),
    (' cutout ,  color', ('cutout', 'color')),
])
def test_diffaug_parse_policy_accepts_valid_names(policy, expected):
  assert diffaug.parse_policy(policy) == expected


@pytest.mark.parametrize('policy', [
    'colour', 'color,color', 'translation,cutout,translation', 'color,', 'flip'])
def test_diffaug_parse_policy_rejects_unknown_and_repeated_names(policy):
  with pytest.raises(ValueError, match=r'config\.gan\.diffaug') as error:
    diffaug.parse_policy(policy)
  for name in diffaug.POLICIES:
    assert name in str(error.value)


def test_diffaug_augment_rejects_a_bad_policy():
  with pytest.raises(ValueError, match=r'config\.gan\.diffaug'):
    diffaug.augment(jnp.zeros((2, 8, 8, 1)), 'color,zoom', jax.random.PRNGKey(0))


def test_diffaug_empty_policy_is_the_identity():
  images = jnp.asarray(_images(0, (4, 8, 8, 3)))
  assert diffaug.augment(images, '', jax.random.PRNGKey(0)) is images
  assert diffaug.augment(images, (), jax.random.PRNGKey(0)) is images


def test_diffaug_translation_is_an_integer_shift_with_zeros_entering():
  inputs = _images(1, (8, 16, 16, 3))
  outputs = np.asarray(diffaug.augment(inputs, 'translation', jax.random.PRNGKey(3)))
  # Search every shift that leaves a pixel in the image, not just the allowed ones.
  shifts = _recover_shifts(inputs, outputs, max_shift=15)
  assert np.abs(shifts).max() <= 16 // 8
  assert len({tuple(s) for s in shifts}) > 1


def test_diffaug_translation_range_per_axis():
  # 16 rows: shifts in [-2, 2]; 20 columns: rounded as the reference does,
  # int(20 / 8 + 0.5) = 3.
  inputs = _images(2, (256, 16, 20, 1))
  outputs = np.asarray(diffaug.augment(inputs, 'translation', jax.random.PRNGKey(4)))
  shifts = _recover_shifts(inputs, outputs, max_shift=4)
  assert set(shifts[:, 0]) == set(range(-2, 3))
  assert set(shifts[:, 1]) == set(range(-3, 4))


def test_diffaug_cutout_zeroes_one_clipped_square_per_image():
  inputs = _images(5, (8, 16, 16, 3))
  outputs = np.asarray(diffaug.augment(inputs, 'cutout', jax.random.PRNGKey(6)))
  boxes, _ = _cut_squares(inputs, outputs)
  side = int(16 * 0.5 + 0.5)
  for top, height, left, width in boxes:
    _unclipped_start(top, height, side, 16)
    _unclipped_start(left, width, side, 16)
  assert len({tuple(b) for b in boxes}) > 1


def test_diffaug_cutout_positions_follow_the_reference():
  # Odd rows (13 -> side 7, centres 0..12) and even columns (16 -> side 8,
  # centres 0..16): the square starts at centre - side // 2.
  inputs = _images(7, (256, 13, 16, 1))
  outputs = np.asarray(diffaug.augment(inputs, 'cutout', jax.random.PRNGKey(8)))
  boxes, _ = _cut_squares(inputs, outputs)
  tops = {_unclipped_start(b[0], b[1], 7, 13) for b in boxes}
  lefts = {_unclipped_start(b[2], b[3], 8, 16) for b in boxes}
  assert tops == set(range(0 - 3, 12 - 3 + 1))
  assert lefts == set(range(0 - 4, 16 - 4 + 1))


@pytest.mark.parametrize('channels', [1, 3])
def test_diffaug_color_factors_within_bounds(channels):
  inputs = _images(9, (64, 8, 8, channels)).astype(np.float64)
  outputs = np.asarray(diffaug.augment(jnp.asarray(inputs, jnp.float32), 'color',
                                       jax.random.PRNGKey(10))).astype(np.float64)
  # Recover brightness b, contrast c and saturation s of each image from
  #   y - m_y = s c (x - m_x),  m_y - M_y = c (m_x - M_x),  M_y = M_x + b,
  # with m the per-pixel channel mean and M the image mean.
  image_mean = lambda a: a.mean(axis=(1, 2, 3), keepdims=True)
  m_x, m_y = inputs.mean(-1, keepdims=True), outputs.mean(-1, keepdims=True)
  brightness = (image_mean(outputs) - image_mean(inputs)).ravel()
  a, b = m_x - image_mean(inputs), m_y - image_mean(outputs)
  contrast = (a * b).sum(axis=(1, 2, 3)) / (a * a).sum(axis=(1, 2, 3))
  assert np.all(np.abs(brightness) <= 0.5)
  assert np.all((contrast >= 0.5) & (contrast <= 1.5))
  assert np.ptp(brightness) > 0.5 and np.ptp(contrast) > 0.5
  assert len(np.unique(brightness.round(6))) == len(inputs)
  expected = (m_x - image_mean(inputs)) * contrast[:, None, None, None] + image_mean(outputs)
  if channels > 1:
    a, b = inputs - m_x, outputs - m_y
    saturation = (a * b).sum(axis=(1, 2, 3)) / (a * a).sum(axis=(1, 2, 3)) / contrast
    assert np.all((saturation >= 0) & (saturation <= 2))
    assert np.ptp(saturation) > 1.0
    expected = expected + a * (saturation * contrast)[:, None, None, None]
  else:
    expected = np.broadcast_to(expected, inputs.shape)
  np.testing.assert_allclose(outputs, expected, atol=1e-5)


def test_diffaug_draws_differ_per_image_and_key_and_repeat_per_key():
  one = _images(11, (1, 16, 16, 3))
  batch = jnp.asarray(np.repeat(one, 8, axis=0))
  policy = 'color,translation,cutout'
  first = np.asarray(diffaug.augment(batch, policy, jax.random.PRNGKey(12)))
  again = np.asarray(diffaug.augment(batch, policy, jax.random.PRNGKey(12)))
  other = np.asarray(diffaug.augment(batch, policy, jax.random.PRNGKey(13)))
  jitted = np.asarray(jax.jit(diffaug.augment, static_argnums=1)(
      batch, policy, jax.random.PRNGKey(12)))
  np.testing.assert_array_equal(first, again)
  np.testing.assert_allclose(jitted, first, atol=1e-5)
  assert not np.allclose(first, other)
  for i, j in itertools.combinations(range(8), 2):
    assert not np.allclose(first[i], first[j])


def test_diffaug_real_and_fake_batches_get_independent_draws():
  real = _images(14, (8, 16, 16, 1))
  fake = _images(15, (8, 16, 16, 1))
  k_real, k_fake = jax.random.split(jax.random.PRNGKey(16))
  real_shifts = _recover_shifts(
      real, np.asarray(diffaug.augment(real, 'translation', k_real)), 2)
  fake_shifts = _recover_shifts(
      fake, np.asarray(diffaug.augment(fake, 'translation', k_fake)), 2)
  assert not np.array_equal(real_shifts, fake_shifts)
  # The draws depend on the key only, not on the images: one key for both
  # batches would shift them alike.
  reused = _recover_shifts(
      fake, np.asarray(diffaug.augment(fake, 'translation', k_real)), 2)
  np.testing.assert_array_equal(reused, real_shifts)


@pytest.mark.parametrize('policy', ['color', 'translation', 'cutout',
                                    'color,translation,cutout'])
def test_diffaug_is_differentiable_in_the_pixels(policy):
  inputs = jnp.asarray(_images(17, (8, 16, 16, 3)))
  weights = jnp.asarray(np.random.default_rng(18).uniform(0.5, 1.5, inputs.shape),
                        jnp.float32)
  key = jax.random.PRNGKey(19)
  loss = lambda x: jnp.sum(diffaug.augment(x, policy, key) * weights)
  grad = np.asarray(jax.grad(loss)(inputs))
  assert grad.shape == inputs.shape and np.all(np.isfinite(grad))
  # Every operation is affine in the pixels for a fixed key.
  step = jnp.asarray(_images(20, inputs.shape)) * 0.1
  np.testing.assert_allclose(np.sum(grad * step), loss(inputs + step) - loss(inputs),
                             rtol=1e-3, atol=1e-3)
  outputs = np.asarray(diffaug.augment(inputs, policy, key))
  if policy == 'translation':
    shifts = _recover_shifts(np.asarray(inputs), outputs, 2)
    # The adjoint of a zero-padded shift by (dy, dx) is the shift by (-dy, -dx).
    expected = np.concatenate([
        _shift(np.asarray(weights)[i:i + 1], -dy, -dx) for i, (dy, dx) in enumerate(shifts)])
    np.testing.assert_array_equal(grad, expected)
    survivors = np.concatenate([
        _shift(_shift(np.ones((1,) + inputs.shape[1:]), dy, dx), -dy, -dx)
        for dy, dx in shifts])
    np.testing.assert_array_equal(grad != 0, survivors == 1)
  elif policy == 'cutout':
    _, cut = _cut_squares(np.asarray(inputs), outputs)
    np.testing.assert_array_equal(grad, np.where(cut[..., None], 0.0, weights))
