"""Writes the generated chest X-ray phantom as PNG files in the image-folder layout.

  python scripts/export_phantom.py --out=/tmp/phantom --resolution=112 --train=100

The result (<out>/{train,val,test}/<class>/*.png) reads back with
`--config.data.name=image_folder --config.data.dir=<out>`. It is NOT medical data.
"""

import os
import sys

from absl import app, flags
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gan_aug.data import phantom  # pylint: disable=wrong-import-position

_OUT = flags.DEFINE_string('out', None, 'Folder to write into.', required=True)
_RESOLUTION = flags.DEFINE_integer('resolution', 112, 'Image side in pixels.')
_SEED = flags.DEFINE_integer('seed', 0, 'Phantom seed.')
_TRAIN = flags.DEFINE_integer('train', 100, 'Training images per class.')
_VAL = flags.DEFINE_integer('val', 20, 'Validation images per class.')
_TEST = flags.DEFINE_integer('test', 40, 'Test images per class.')


def main(argv):
  del argv
  counts = {'train': _TRAIN.value, 'val': _VAL.value, 'test': _TEST.value}
  for split, count in counts.items():
    data = phantom.make_split(split, count, _RESOLUTION.value, 1, _SEED.value)
    for image, label, source in zip(data.images, data.labels, data.sources):
      folder = os.path.join(_OUT.value, split, phantom.CLASS_NAMES[label])
      os.makedirs(folder, exist_ok=True)
      Image.fromarray(image[..., 0]).save(
          os.path.join(folder, source.rsplit('/', 1)[-1] + '.png'))
  print(f'Wrote {sum(counts.values()) * len(phantom.CLASS_NAMES)} phantom images '
        f'(not medical data) to {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
