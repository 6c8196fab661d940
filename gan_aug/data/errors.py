"""Errors for data sets that cannot be found, with the text a person needs to fix it."""

PHANTOM_COMMAND = ('python -m gan_aug.main --config=configs/covid_acgan.py:phantom '
                   '--workdir=runs/phantom')


class DatasetNotFoundError(FileNotFoundError):
  """The data set is not where the config says; the message says how to get it."""

  def __init__(self, path: str, what: str, origin: str, layout: str):
    self.path = path
    message = (
        f'{what} not found at {path!r}.\n'
        f'  Where it comes from: {origin}\n'
        f'  Layout expected:\n{layout}\n'
        '  Point the config at it with --config.data.dir=... (folders) or '
        '--config.data.path=... (.npz files), or set GAN_AUG_DATA_DIR to the '
        'folder holding it.\n'
        f'  No data at hand? Try the generated phantom (not medical data):\n'
        f'    {PHANTOM_COMMAND}')
    super().__init__(message)

  def __str__(self) -> str:
    return self.args[0]
