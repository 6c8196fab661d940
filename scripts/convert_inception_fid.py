"""Converts pytorch-fid's FID Inception weights (.pth) into the project's Flax weights.

  python scripts/convert_inception_fid.py \
      --pth=pt_inception-2015-12-05-6726825d.pth --out=weights/inception_fid.msgpack

The .pth is pytorch-fid's release file (see
`gan_aug.synthesis.inception_features.PTH_URL`); the project does not ship it.
The output is flax msgpack of {'params', 'batch_stats'} for
`gan_aug.models.backbones.inception_fid.FIDInceptionV3`; read it with
`gan_aug.synthesis.inception_features.load_inception`. Needs torch (not torchvision).
"""

import os
import sys

from absl import app, flags
import jax
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gan_aug.models import torch_convert  # pylint: disable=wrong-import-position
from gan_aug.synthesis import inception_features  # pylint: disable=wrong-import-position

_PTH = flags.DEFINE_string('pth', None, f'pytorch-fid\'s {inception_features.PTH_NAME}.',
                           required=True)
_OUT = flags.DEFINE_string('out', inception_features.DEFAULT_WEIGHTS_PATH,
                           'Converted weights to write (.msgpack).')


def convert(pth: str, out: str) -> str:
  """Converts `pth` to `out`, checked against the Flax model; returns a summary line."""
  state_dict = torch.load(pth, map_location='cpu', weights_only=True)
  state_dict = {key: value.numpy() for key, value in state_dict.items()}
  variables = inception_features.convert_state_dict(state_dict)
  torch_convert.save_variables(out, variables)
  inception_features.load_inception(out)  # Reads back and checks the structure.
  count = sum(np.size(leaf) for leaf in jax.tree.leaves(variables['params']))
  return (f'FID Inception: {count:,} parameters, '
          f'{len(jax.tree.leaves(variables["batch_stats"]))} batch-norm statistics arrays; '
          f'{pth} -> {out}')


def main(argv):
  del argv
  print(convert(_PTH.value, _OUT.value))


if __name__ == '__main__':
  app.run(main)
