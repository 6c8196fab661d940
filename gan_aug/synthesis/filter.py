"""Which fakes synthesis keeps: the per-class targets, the attempt cap, the filter and
its threshold (pure functions), and the checks of config.synthesis."""

import math
from typing import List, Sequence, Tuple

import ml_collections
import numpy as np

from gan_aug.core import checks

TARGET_MODES = ('count', 'multiple', 'balance')
THRESHOLD_MODES = ('none', 'fixed', 'errd_fake', 'real_quantile')
# Modes whose threshold is a probability: they need a score that is one.
_PROBABILITY_MODES = ('fixed', 'errd_fake')


def class_targets(mode: str, value: float, real_counts: Sequence[int]) -> List[int]:
  """Images to keep per class.

  count:    `value` images for every class;
  multiple: round(`value` x the class's real training count);
  balance:  enough to bring every class up to the largest class's real count
            (`value` is ignored).
  """
  counts = [int(n) for n in real_counts]
  if mode == 'count':
    return [int(value)] * len(counts)
  if mode == 'multiple':
    return [int(round(value * n)) for n in counts]
  if mode == 'balance':
    return [max(counts) - n for n in counts]
  raise ValueError(f'Unknown target mode {mode!r}; valid: {TARGET_MODES}.')


def attempt_cap(target: int, max_attempts_multiple: float, batch_size: int) -> int:
  """Most fakes generated for a class: `max_attempts_multiple` x target, >= 1 batch."""
  if target <= 0:
    return 0
  return max(batch_size, int(math.ceil(max_attempts_multiple * target)))


def accept_mask(realness: np.ndarray, predicted_class: np.ndarray, requested: int,
                threshold: float, require_class_agreement: bool = True) -> np.ndarray:
  """True where realness >= threshold and (if required) D's class == requested."""
  keep = np.asarray(realness) >= threshold
  if require_class_agreement:
    keep &= np.asarray(predicted_class) == requested
  return keep


def filter_threshold(cfg: ml_collections.ConfigDict,
                     real_val: Tuple[np.ndarray, np.ndarray]) -> float:
  """The realness a fake needs: none (-inf: every score passes), fixed, the
  papers' printed errD_fake rule, or a quantile of real validation scores.

  `errd_fake` is the rule papers 000/002 print in their code, `if errD_fake >=
  0.76` with errD_fake = BCE(D(G(z)), fake label) = -log(1 - D(G(z))) of one
  image (their text says D(G(z)) >= 0.76): `threshold` is that loss, so the
  realness needed is 1 - exp(-threshold) (0.532 for 0.76). Their code's second
  clause, `or errD_fake == errD_real`, compares losses of two different images
  and is left out.
  `real_quantile` mode keeps a fake when D scores it at least as real as the
  `real_quantile` fraction of real held-out images it scores lowest: a threshold
  in D's own scale, for a D whose scores of real images never reach a fixed value.
  """
  if cfg.threshold_mode == 'none':
    return -math.inf
  if cfg.threshold_mode == 'fixed':
    return float(cfg.threshold)
  if cfg.threshold_mode == 'errd_fake':
    return float(-np.expm1(-float(cfg.threshold)))
  if cfg.threshold_mode == 'real_quantile':
    return float(np.quantile(real_val[0], cfg.real_quantile))
  raise ValueError(f'Unknown threshold mode {cfg.threshold_mode!r}; valid: '
                   f'{THRESHOLD_MODES}.')


def validate(syn: ml_collections.ConfigDict, has_class_head: bool,
             gan_name: str, scorer=None, scored: bool = True) -> None:
  """Raises ConfigError for a bad config.synthesis, for a generator whose D has a
  class head or not and whose scorer (`gan_aug.generator.family.Scorer`, None
  without one) gives a probability or not. `scored` False: the family has no
  scorer, so synthesis keeps every sample and the filter's fields (mode,
  threshold, class agreement) are not used; they are checked for their own
  values only (a protocol's other generators may use them)."""
  p = 'synthesis'
  checks.one_of(syn, p, 'threshold_mode', THRESHOLD_MODES)
  if scorer is not None and not scorer.probability:
    checks.check(syn.threshold_mode not in _PROBABILITY_MODES,
                 'synthesis.threshold_mode', syn.threshold_mode,
                 f"'real_quantile' or 'none', since {gan_name!r} scores fakes "
                 f'with {scorer.description}: a probability threshold means '
                 'nothing on that scale')
  if syn.threshold_mode == 'errd_fake':  # a loss, -log(1 - D(G(z)))
    checks.number_in(syn, p, 'threshold', 0.0, 50.0, closed_low=True)
  elif syn.threshold_mode == 'fixed':
    checks.check(syn.threshold != 0, 'synthesis.threshold', syn.threshold,
                 "above 0 with threshold_mode='fixed' (0 keeps every fake: that "
                 "is threshold_mode='none')")
    checks.number_in(syn, p, 'threshold', 0.0, 1.0, closed_high=True)
  checks.number_in(syn, p, 'real_quantile', 0.0, 1.0, closed_low=True,
                   closed_high=True)
  checks.boolean(syn, p, 'require_class_agreement')
  checks.check(has_class_head or not scored or not syn.require_class_agreement,
               'synthesis.require_class_agreement', syn.require_class_agreement,
               f'False for GAN {gan_name!r}, whose discriminator has no class head')
  checks.one_of(syn, p, 'target', TARGET_MODES)
  checks.number_in(syn, p, 'target_value', 0.0, 1e7, closed_low=True)
  checks.number_in(syn, p, 'max_attempts_multiple', 0.0, 1e6)
  for name in ('num_checkpoints', 'batch_size', 'grid_per_class',
               'classifier_filter_epochs'):
    checks.int_at_least(syn, p, name, 1)
  checks.boolean(syn, p, 'classifier_filter')
  checks.number_in(syn, p, 'classifier_filter_confidence', 0.0, 1.0,
                   closed_low=True)
  if syn.target == 'count':
    checks.check(float(syn.target_value).is_integer(), 'synthesis.target_value',
                 syn.target_value, 'a whole number of images per class in count mode')
  # Each checkpoint's D has its own score scale; a quantile of one D's scores
  # is no threshold for another's.
  checks.check(syn.threshold_mode != 'real_quantile' or syn.num_checkpoints == 1,
               'synthesis.num_checkpoints', syn.num_checkpoints,
               '1 when synthesis.threshold_mode is real_quantile')
