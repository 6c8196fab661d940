"""Converts a torchvision ImageNet checkpoint (.pth) into the project's Flax weights.

  python scripts/convert_torchvision.py --arch=resnet18 \
      --pth=resnet18-f37072fd.pth --out=weights/resnet18.msgpack

The output is flax msgpack of {'params', 'batch_stats'} for
`gan_aug.models.backbones.BACKBONES[arch]`; read it with
`gan_aug.models.torch_convert.load_variables`. Needs torch (not torchvision).
"""

import os
import sys

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gan_aug.models import torch_convert  # pylint: disable=wrong-import-position
from gan_aug.models.backbones import BACKBONES  # pylint: disable=wrong-import-position

_ARCH = flags.DEFINE_enum('arch', None, BACKBONES.names(), 'Architecture of the checkpoint.',
                          required=True)
_PTH = flags.DEFINE_string('pth', None, 'torchvision state dict (.pth).', required=True)
_OUT = flags.DEFINE_string('out', None, 'Converted weights to write (.msgpack).',
                           required=True)


def convert(arch: str, pth: str, out: str) -> str:
  """Converts `pth` to `out`, checked against the Flax model; returns a summary line."""
  state_dict = torch.load(pth, map_location='cpu', weights_only=True)
  state_dict = {key: value.numpy() for key, value in state_dict.items()}
  num_classes = torch_convert.infer_num_classes(arch, state_dict)
  variables = torch_convert.convert_state_dict(arch, state_dict, num_classes)

  model_cls = BACKBONES.get(arch)
  side = model_cls.min_resolution
  expected = jax.eval_shape(lambda: model_cls(num_classes=num_classes).init(
      jax.random.PRNGKey(0), jnp.zeros((1, side, side, 3)), train=False))
  expected_shapes = jax.tree.map(lambda leaf: tuple(leaf.shape), expected)
  shapes = jax.tree.map(np.shape, variables)
  if shapes != expected_shapes:
    raise ValueError(f'Converted {arch} variables do not have the Flax model\'s structure.')
  count = sum(leaf.size for leaf in jax.tree.leaves(variables['params']))
  expected_count = sum(leaf.size for leaf in jax.tree.leaves(expected['params']))
  if count != expected_count:
    raise ValueError(f'{arch}: converted {count:,} parameters, the Flax model has '
                     f'{expected_count:,}.')

  torch_convert.save_variables(out, variables)
  return (f'{arch}: {count:,} parameters, {num_classes} classes, '
          f'{len(jax.tree.leaves(variables.get("batch_stats", {})))} batch-norm statistics '
          f'arrays; {pth} -> {out}')


def main(argv):
  del argv
  print(convert(_ARCH.value, _PTH.value, _OUT.value))


if __name__ == '__main__':
  app.run(main)
