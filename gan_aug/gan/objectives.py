"""GAN objectives (`config.gan.objective`): D's and G's losses from D's realness logits,
and what D's output means to the synthesis filter.

Every objective reads one realness output D(x) per image, positive for "real":
  bce    the papers' non-saturating logistic loss (Goodfellow et al. 2014):
         L_D = BCE(D(x), 1) + BCE(D(G(z)), 0), L_G = BCE(D(G(z)), 1);
  hinge  (Lim & Ye 2017; Miyato et al. 2018):
         L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], L_G = -E[D(G(z))];
  lsgan  least squares with targets +1/-1 (Mao et al. 2017):
         L_D = 1/2 E[(D(x) - 1)^2] + 1/2 E[(D(G(z)) + 1)^2],
         L_G = 1/2 E[(D(G(z)) - 1)^2].
So sign(D(x)) says real vs fake under every objective (ADA's overfitting
heuristic reads it). An ACGAN's class-head cross-entropy is added to both losses
by the train step, whatever the objective.

Under `bce` D(x) is a logit and sigmoid(D(x)) a probability, so the filter may
use a fixed threshold on it; under `hinge` and `lsgan` D(x) is an unbounded
score, which only a quantile of D's scores of real images can threshold.
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from gan_aug.core import registry


@dataclasses.dataclass(frozen=True)
class Objective:
  """A pair of losses and the filter's score for one GAN objective.

  d_loss(real_logits, fake_logits) and g_loss(fake_logits) -> scalar means over
  the batch; score(logits) -> the per-image score the synthesis filter thresholds,
  a probability in [0, 1] when `probability`.
  """
  d_loss: Callable[[jax.Array, jax.Array], jax.Array]
  g_loss: Callable[[jax.Array], jax.Array]
  score: Callable[[jax.Array], jax.Array]
  probability: bool
  # The score, as the report names it.
  score_description: str


OBJECTIVES: registry.Registry[Objective] = registry.Registry('GAN objective')


def _bce(logits: jax.Array, target: float) -> jax.Array:
  return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, target)).mean()


def _f32(x: jax.Array) -> jax.Array:
  return x.astype(jnp.float32)


OBJECTIVES.register('bce')(Objective(
    d_loss=lambda real, fake: _bce(real, 1.0) + _bce(fake, 0.0),
    g_loss=lambda fake: _bce(fake, 1.0),
    score=jax.nn.sigmoid, probability=True,
    score_description="D's realness sigmoid(D(x)), in inference mode"))

OBJECTIVES.register('hinge')(Objective(
    d_loss=lambda real, fake: (jax.nn.relu(1.0 - _f32(real)).mean()
                               + jax.nn.relu(1.0 + _f32(fake)).mean()),
    g_loss=lambda fake: -_f32(fake).mean(),
    score=_f32, probability=False,
    score_description="D's raw realness output D(x) (hinge objective: no "
                      'probability), in inference mode'))

OBJECTIVES.register('lsgan')(Objective(
    d_loss=lambda real, fake: (0.5 * jnp.square(_f32(real) - 1.0).mean()
                               + 0.5 * jnp.square(_f32(fake) + 1.0).mean()),
    g_loss=lambda fake: 0.5 * jnp.square(_f32(fake) - 1.0).mean(),
    score=_f32, probability=False,
    score_description="D's raw realness output D(x) (least-squares objective, "
                      'targets +1/-1: no probability), in inference mode'))


def get(name: str) -> Objective:
  """The objective `name`; UnknownComponentError listing the valid ones."""
  return OBJECTIVES.get(name, 'config.gan.objective')
