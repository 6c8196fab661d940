"""Timing for the throughput benchmarks (scripts/benchmark_throughput.py): compile
time and XLA's FLOP count of a program, warm-up steps, then the median of timed
windows, and (`--profile`) XLA's op time by kind of op."""

import collections
import glob
import os
import re
import statistics
import tempfile
import time
from typing import Callable, Dict, List

import jax

from gan_aug.runtime import sharding

# Set from the benchmark's flags (--warmup, --windows, --steps_per_window,
# --profile) before timing.
SETTINGS = {'warmup': 2, 'windows': 5, 'steps_per_window': 3, 'profile': False}


def time_steps(run_step: Callable[[], object],
                sync: Callable[[object], object] = jax.block_until_ready
                ) -> Dict[str, float]:
  """Warm-up, then the median seconds per step over the timed windows.

  `sync(out)` waits for the device to finish the work that produced `out`.
  """
  for _ in range(SETTINGS['warmup']):
    sync(run_step())
  windows = []
  for _ in range(SETTINGS['windows']):
    start = time.perf_counter()
    for _ in range(SETTINGS['steps_per_window']):
      out = run_step()
    sync(out)
    windows.append((time.perf_counter() - start) / SETTINGS['steps_per_window'])
  return {'seconds_per_step': statistics.median(windows),
          'window_min_s': min(windows), 'window_max_s': max(windows)}


def op_time_by_kind(run_step: Callable[[], object], steps: int = 3,
                     top: int = 12) -> List[Dict]:
  """Op time per step by kind of XLA op over `steps` traced steps: [{kind, ms, share}].

  Events of the XLA executor's own bookkeeping are left out; names that differ only
  in their instance number (`add_fusion.3`, `add_fusion.7`) count as one kind.
  """
  with tempfile.TemporaryDirectory(prefix='gan_aug_profile_') as trace_dir:
    with jax.profiler.trace(trace_dir):
      for _ in range(steps):
        out = run_step()
      jax.block_until_ready(out)
    paths = glob.glob(os.path.join(trace_dir, '**', '*.xplane.pb'), recursive=True)
    profile = jax.profiler.ProfileData.from_file(paths[0])
  kinds = collections.Counter()
  for plane in profile.planes:
    for line in plane.lines:
      if not line.name.startswith('tf_XLAEigen') and 'Stream' not in line.name:
        continue  # Host-side Python and client threads, not XLA ops.
      for event in line.events:
        if not event.name.startswith(('ThunkExecutor', 'end: ')):
          kinds[re.sub(r'\.\d+$', '', event.name)] += event.duration_ns
  total = sum(kinds.values()) or 1
  return [{'kind': kind, 'ms': ns / steps / 1e6, 'share': ns / total}
          for kind, ns in kinds.most_common(top)]


def compile_program(jitted, *args):
  """(compiled, seconds to compile, XLA's FLOP count of one call)."""
  start = time.perf_counter()
  compiled = jitted.lower(*args).compile()
  seconds = time.perf_counter() - start
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return compiled, seconds, float((cost or {}).get('flops', 0.0))


def time_train_step(step, state, images, labels, mesh):
  """Jits `step` (state donated, everything replicated over `mesh`), compiles it,
  times it; returns (compile seconds, FLOPs per step, timing, the final state)."""
  replicated = sharding.replicated(mesh)
  jitted = jax.jit(step, in_shardings=(replicated,) * 3,
                   out_shardings=(replicated,) * 2, donate_argnums=(0,))
  compiled, compile_s, flops = compile_program(jitted, state, images, labels)
  holder = {'state': state}

  def run_step():
    holder['state'], metrics = compiled(holder['state'], images, labels)
    return metrics

  timing = time_steps(run_step)
  if SETTINGS['profile']:
    timing['op_time_by_kind'] = op_time_by_kind(run_step)
  return compile_s, flops, timing, holder['state']


def record(model: str, stage: str, batch: int, images_per_step: int, compile_s: float,
           flops: float, timing: Dict[str, float], dtype: str = 'float32') -> Dict:
  """One row of the table and the JSON: compile time, seconds per step, images/s
  and the FLOP/s achieved by XLA's FLOP count."""
  seconds = timing['seconds_per_step']
  return {'model': model, 'stage': stage, 'batch': batch, 'dtype': dtype,
          'devices': jax.local_device_count(), 'compile_s': round(compile_s, 2),
          'seconds_per_step': seconds, 'images_per_sec': images_per_step / seconds,
          'gflop_per_step': flops / 1e9, 'achieved_gflops': flops / seconds / 1e9,
          **{k: v for k, v in timing.items() if k != 'seconds_per_step'}}
