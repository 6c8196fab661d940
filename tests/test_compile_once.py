"""No hidden recompilation: a longer GAN run compiles exactly the same programs."""

import logging

import jax

from gan_aug import data as data_lib
from gan_aug.generator import loop as gan_loop
from helpers import tiny_config


class _CompileCounter(logging.Handler):
  """Counts JAX's 'Compiling <name>' log lines (one per XLA compilation request)."""

  def __init__(self):
    super().__init__(logging.DEBUG)
    self.names = []

  def emit(self, record):
    message = record.getMessage()
    if message.startswith('Compiling '):
      self.names.append(message.split()[1])


def _compiled_programs(tmp_path, num_steps):
  config = tiny_config(num_steps=num_steps, log_every=1, sample_every=3,
                       checkpoint_every=3)
  dataset = data_lib.load_dataset(config.data, config.seed)
  counter = _CompileCounter()
  logger = logging.getLogger('jax')
  logger.addHandler(counter)
  try:
    with jax.log_compiles(True):
      gan_loop.train_gan(config, dataset, str(tmp_path / f'steps{num_steps}'))
  finally:
    logger.removeHandler(counter)
  return sorted(counter.names)


def test_gan_loop_compiles_the_same_programs_for_3_and_9_steps(tmp_path):
  # The first run also compiles helpers that stay cached for the process.
  warm_up = _compiled_programs(tmp_path, 2)
  short = _compiled_programs(tmp_path, 3)
  long = _compiled_programs(tmp_path, 9)
  assert 'jit(conditional_step)' in warm_up, 'the counter saw no train step'
  assert long == short, (short, long)
  # Per run: the train step, the initial state and the sampler, each once.
  assert short == ['jit(conditional_step)', 'jit(init_state)', 'jit(sample)'], short
