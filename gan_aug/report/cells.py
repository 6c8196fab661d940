"""How report.md writes one number: a summary over seeds, a difference, a value."""

from typing import Dict


def cell(entry: Dict) -> str:
  """A summary as `mean ± ci95` (just the mean for one seed)."""
  if entry['ci95'] is None:
    return f'{entry["mean"]:.3f}'
  return f'{entry["mean"]:.3f} ± {entry["ci95"]:.3f}'


def signed(entry: Dict) -> str:
  """A summary of differences as `+mean ± ci95`."""
  if entry['ci95'] is None:
    return f'{entry["mean"]:+.3f}'
  return f'{entry["mean"]:+.3f} ± {entry["ci95"]:.3f}'


def fmt(value, digits: int = 3) -> str:
  """A value as report.md writes it: floats to `digits` places, None as n/a."""
  if value is None:
    return 'n/a'
  if isinstance(value, float):
    return f'{value:.{digits}f}'
  return str(value)
