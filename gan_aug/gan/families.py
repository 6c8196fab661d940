"""The papers' GANs as generator families: `acgan`, `dcgan_per_class`, `cgan`.

Each is a `gan_aug.generator.family.Family` entry over its networks
(`gan_aug.gan.networks`), sharing one state (`GANState`), one train step
(`gan_aug.gan.step`), one sampler (G, or its moving average) and one scorer (D's
realness, with its class head's probabilities where it has one). A per-class
family (`dcgan_per_class`) stacks every state leaf on a class axis; the step,
sampler and scorer handle that inside.
"""

import dataclasses
import functools
from typing import Callable, Tuple

import jax
import ml_collections
import optax

from gan_aug.gan import ada
from gan_aug.gan import config_checks
from gan_aug.gan import inference as gan_inference
from gan_aug.gan import networks
from gan_aug.gan import objectives
from gan_aug.gan import step as gan_lib
from gan_aug.generator import family as family_lib

# What the GAN step returns, in the progress line's order.
METRICS = (family_lib.Metric('d_loss', 'd_loss'),
           family_lib.Metric('g_loss', 'g_loss'),
           family_lib.Metric('d_real', 'D(x)', 'score'),
           family_lib.Metric('d_fake', 'D(G(z))', 'score'),
           family_lib.Metric('aux_acc_real', 'aux acc real', 'score', '.2f'),
           family_lib.Metric('aux_acc_fake', 'aux acc fake', 'score', '.2f'),
           # The R1 penalty added to D's loss (gan.r1_gamma > 0), per step.
           family_lib.Metric('r1', 'R1', 'loss', '.4f'),
           # ADA (gan.ada): its augmentation probability, and E[sign(D(x_real))].
           family_lib.Metric('ada_p', 'ADA p', 'score'),
           family_lib.Metric('ada_sign', 'E[sign D(x)]', 'score'))


def optimizers(config: ml_collections.ConfigDict) -> Tuple[
    optax.GradientTransformation, optax.GradientTransformation]:
  """G's and D's optimizers: the papers' Adam for both."""
  gan = config.gan
  return (gan_lib.adam(gan.learning_rate, gan.beta1, gan.beta2),
          gan_lib.adam(gan.learning_rate, gan.beta1, gan.beta2))


def _init(model: networks.GANModel, config: ml_collections.ConfigDict,
          image_shape) -> Callable:
  g_tx, d_tx = optimizers(config)
  return functools.partial(gan_lib.init_state, model, g_tx, d_tx,
                           latent_dim=config.gan.latent_dim,
                           image_shape=tuple(image_shape),
                           with_ema=config.gan.get('ema_decay', 0.0) > 0,
                           with_ada=ada.settings(config.gan) is not None)


def _make_train_step(model: networks.GANModel, config: ml_collections.ConfigDict, *,
                     mesh, batch_size: int, num_examples: int, num_steps: int,
                     streamed: bool) -> Callable:
  gan = config.gan
  g_tx, d_tx = optimizers(config)
  return gan_lib.make_train_step(
      model, g_tx, d_tx, mesh=mesh, batch_size=batch_size,
      latent_dim=gan.latent_dim, aux_loss_on_fake=gan.get('aux_loss_on_fake', True),
      noise_std=gan.get('instance_noise_std', 0.0),
      noise_anneal_steps=gan.get('instance_noise_anneal_steps', 0) or num_steps,
      num_examples=num_examples, diffaug_policy=gan.get('diffaug', ''),
      ema_decay=gan.get('ema_decay', 0.0), streamed=streamed,
      r1_gamma=gan.get('r1_gamma', 0.0), r1_every=gan.get('r1_every', 16),
      ada_settings=ada.settings(gan))


def _in_form(model: networks.GANModel, inference: Callable) -> networks.GANModel:
  return dataclasses.replace(model, generator=inference(model.generator),
                             discriminator=inference(model.discriminator))


def _make_sampler(model: networks.GANModel,
                  inference: Callable = lambda m: m) -> family_lib.Sampler:
  """G (its moving average when kept), in inference mode."""
  model = _in_form(model, inference)
  sample_params = gan_inference.make_sampler(model)

  def sample(state: gan_lib.GANState, z, labels):
    return sample_params(gan_inference.synthesis_params(state), state.g_batch_stats, z,
                         labels)

  def one_class(state: gan_lib.GANState, z, label):
    return gan_inference.generate_class(model, gan_inference.synthesis_params(state),
                                  state.g_batch_stats, z, label)

  return family_lib.Sampler(sample, one_class)


def _make_scorer(model: networks.GANModel,
                 inference: Callable = lambda m: m) -> family_lib.Scorer:
  """D's realness in inference mode as its objective reads it (sigmoid(D(x)) for
  bce, D(x) itself for hinge and lsgan), and its class head's probabilities
  (None without one); a per-class family scores each image with its own class's
  D."""
  objective = objectives.get(model.objective)
  model = _in_form(model, inference)

  def scores(logit, class_logits):
    return (objective.score(logit),
            None if class_logits is None else jax.nn.softmax(class_logits))

  def labelled(state: gan_lib.GANState, x, labels):
    return scores(*gan_inference.discriminate(model, state.d_params,
                                        state.d_batch_stats, x, labels))

  def one_class(state: gan_lib.GANState, x, label):
    return scores(*gan_inference.discriminate_class(
        model, state.d_params, state.d_batch_stats, x, label))

  return family_lib.Scorer(labelled, one_class, objective.score_description,
                           probability=objective.probability)


def _family(description: str) -> family_lib.Family:
  return family_lib.Family(
      description=description, build=networks.build_gan, init=_init,
      make_train_step=_make_train_step, metrics=METRICS,
      latent_dim=lambda config: int(config.gan.latent_dim),
      make_sampler=_make_sampler, make_scorer=_make_scorer,
      validate=config_checks.validate)


for _name, _description in (
    ('acgan', "paper 003's CovidGAN: G(z, y); D(x) -> (realness, class logits)"),
    ('dcgan_per_class', 'papers 000/001/002: one unconditional DCGAN per class, '
                        'trained together'),
    ('cgan', "paper 004's MLP conditional GAN: G(z, y); D(x, y) -> realness")):
  family_lib.FAMILIES.register(_name)(_family(_description))
