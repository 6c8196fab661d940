"""Every command the README and docs/ give in a fenced block names a config that
loads, config fields that exist and flags its program defines."""

import ast
import glob
import importlib.util
import os
import re
import shlex

import pytest

from conftest import REPO_ROOT

_PROGRAMS = {'gan_aug.main': 'gan_aug/main.py', 'gan_aug.generate': 'gan_aug/generate.py',
             'gan_aug.multihost': 'gan_aug/multihost.py'}


def _documents():
  return [os.path.join(REPO_ROOT, 'README.md')] + sorted(
      glob.glob(os.path.join(REPO_ROOT, 'docs', '*.md')))


def _commands(path):
  """(document, command words) of every `python -m gan_aug.*` or `python
  scripts/*.py` line of the document's fenced blocks, continuations joined."""
  with open(path) as f:
    text = f.read()
  out = []
  for block in re.findall(r'```[a-z]*\n(.*?)```', text, re.S):
    for line in block.replace('\\\n', ' ').splitlines():
      line = line.split('#')[0].strip().rstrip('&').strip()
      match = re.search(r'python3? (-m gan_aug\.\w+|scripts/\w+\.py)(.*)$', line)
      if match:
        program = match.group(1).replace('-m ', '')
        out.append((os.path.basename(path), program,
                    shlex.split(match.group(2).replace('$i', '0'))))
  return out


_ALL = [c for d in _documents() for c in _commands(d)]


def _defined_flags(source_path):
  with open(os.path.join(REPO_ROOT, source_path)) as f:
    tree = ast.parse(f.read())
  names = set()
  for node in ast.walk(tree):
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr.startswith('DEFINE') and node.args
        and isinstance(node.args[0], ast.Constant)):
      names.add(node.args[0].value)
  return names


def _load_config(spec):
  path, _, variant = spec.partition(':')
  module_spec = importlib.util.spec_from_file_location(
      'doc_config', os.path.join(REPO_ROOT, path))
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(variant or None)


def test_the_docs_give_commands():
  programs = {program for _, program, _ in _ALL}
  assert {'gan_aug.main', 'gan_aug.generate', 'gan_aug.multihost'} <= programs
  assert len(_ALL) >= 20


@pytest.mark.parametrize('document,program,args', _ALL,
                         ids=[f'{d}:{p}:{i}' for i, (d, p, _) in enumerate(_ALL)])
def test_command_names_a_loading_config_and_defined_flags(document, program, args):
  source = _PROGRAMS.get(program, program)
  assert os.path.isfile(os.path.join(REPO_ROOT, source)), f'{document}: {program}'
  defined = _defined_flags(source)
  config = None
  for arg in args:
    if not arg.startswith('--'):
      continue
    name, _, value = arg[2:].partition('=')
    if name.startswith('config.'):
      assert config is not None, f'{document}: {arg} before --config'
      node = config
      for part in name.split('.')[1:]:
        assert part in node, f'{document}: {arg}: no field {name}'
        node = node[part]
      continue
    assert name in defined, f'{document}: {program} defines no flag --{name}'
    if name == 'config' and '<' not in value:
      config = _load_config(value)
