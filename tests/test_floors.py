"""The package's floors (gan_aug.FLOORS): no module imports a sibling on its floor
or a floor above, and the checker names such an import in a generated tree."""

import os

import gan_aug
from import_floors import upward_imports

PACKAGE_DIR = os.path.dirname(gan_aug.__file__)


def test_no_import_climbs_a_floor():
  assert upward_imports(PACKAGE_DIR, gan_aug.FLOORS) == []


def test_every_package_and_command_is_on_a_floor():
  units = {name[:-3] if name.endswith('.py') else name
           for name in os.listdir(PACKAGE_DIR)
           if name != '__init__.py' and (name.endswith('.py') or os.path.isfile(
               os.path.join(PACKAGE_DIR, name, '__init__.py')))}
  on_floors = {unit for floor in gan_aug.FLOORS for unit in floor}
  assert units == on_floors


def _write(root, rel_path, text=''):
  path = os.path.join(root, rel_path)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    f.write(text)


def test_the_checker_names_an_upward_import_and_nothing_else(tmp_path):
  root = str(tmp_path / 'house')
  floors = (('low',), ('mid_a', 'mid_b'), ('top',))
  _write(root, '__init__.py')
  _write(root, 'low/__init__.py')
  _write(root, 'low/base.py', 'import os\n')
  _write(root, 'low/climbs.py', 'def f():\n  from house.top import cmd\n  return cmd\n')
  _write(root, 'mid_a/__init__.py', 'from house.low import base\nfrom . import own\n')
  _write(root, 'mid_a/own.py', 'from house import low\nfrom .. import low as l2\n')
  _write(root, 'mid_b/__init__.py', 'from house.mid_a import own\n')
  _write(root, 'top.py', 'from house.mid_a import own\nfrom house.low import base\n')
  assert upward_imports(root, floors) == [
      'house/low/climbs.py:2: low imports top (a higher floor: floor 0 -> 2)',
      'house/mid_b/__init__.py:1: mid_b imports mid_a (a sibling: floor 1 -> 1)']
