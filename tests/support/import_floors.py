"""The import checker behind test_floors.py: which imports of a package climb a floor.

A package's floors are a sequence of tuples of its units (subpackages, or
modules at its root), lowest first. A unit may import its own modules and the
units of lower floors; an import of a unit on its own floor (a sibling) or a
higher one, or of a unit on no floor, is named.
"""

import ast
import os
from typing import Dict, List, Sequence, Tuple


def _floor_of(floors: Sequence[Tuple[str, ...]]) -> Dict[str, int]:
  return {unit: level for level, units in enumerate(floors) for unit in units}


def _imported_modules(tree: ast.AST, module: str, is_package: bool) -> List[Tuple[int, str]]:
  """(line, absolute dotted name) of every import in `tree`, at any depth; for
  `from a import b` both `a.b` (b may be a module) and `a` are candidates, so
  the dotted name returned is `a.b`."""
  out = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      out += [(node.lineno, alias.name) for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        parts = module.split('.')
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = '.'.join(parts[:keep] + ([base] if base else []))
      out += [(node.lineno, f'{base}.{alias.name}') for alias in node.names]
  return out


def upward_imports(package_dir: str, floors: Sequence[Tuple[str, ...]]) -> List[str]:
  """'file:line: A imports B (floor i -> floor j)' for every import in the package
  at `package_dir` that climbs a floor, reaches a sibling, or reaches a unit on
  no floor."""
  name = os.path.basename(os.path.normpath(package_dir))
  level_of = _floor_of(floors)
  problems = []
  for root, _, files in os.walk(package_dir):
    for file_name in sorted(files):
      if not file_name.endswith('.py'):
        continue
      path = os.path.join(root, file_name)
      rel = os.path.relpath(path, package_dir)[:-3].split(os.sep)
      is_package = rel[-1] == '__init__'
      if is_package:
        rel = rel[:-1]
      if not rel:
        continue  # The package's own __init__ sits above every floor.
      module = '.'.join([name] + rel)
      unit = rel[0]
      with open(path) as f:
        tree = ast.parse(f.read(), path)
      for line, target in _imported_modules(tree, module, is_package):
        parts = target.split('.')
        if parts[0] != name or len(parts) < 2 or parts[1] == unit:
          continue
        other = parts[1]
        where = f'{os.path.relpath(path, os.path.dirname(package_dir))}:{line}'
        if unit not in level_of or other not in level_of:
          lost = unit if unit not in level_of else other
          problems.append(f'{where}: {unit} imports {other} ({lost} is on no floor)')
        elif level_of[other] >= level_of[unit]:
          how = 'a sibling' if level_of[other] == level_of[unit] else 'a higher floor'
          problems.append(f'{where}: {unit} imports {other} ({how}: floor '
                          f'{level_of[unit]} -> {level_of[other]})')
  return sorted(set(problems))
