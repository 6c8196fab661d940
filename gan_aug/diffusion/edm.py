"""EDM's formulas (Karras et al., "Elucidating the Design Space of
Diffusion-Based Generative Models", NeurIPS 2022), as pure functions.

Preconditioning (their Table 1), with sigma_data = 0.5:
  c_skip = sigma_d^2 / (sigma^2 + sigma_d^2)   c_out = sigma sigma_d / sqrt(sigma^2 + sigma_d^2)
  c_in = 1 / sqrt(sigma^2 + sigma_d^2)          c_noise = ln(sigma) / 4
  D(x; sigma) = c_skip x + c_out F(c_in x; c_noise).
Training: ln sigma ~ N(P_mean = -1.2, P_std = 1.2), loss weight
lambda(sigma) = (sigma^2 + sigma_d^2) / (sigma sigma_d)^2 on ||D(y + n; sigma) - y||^2.
Sampling: their Algorithm 1, the deterministic Heun sampler over the schedule
sigma_i = (sigma_max^(1/rho) + i / (N - 1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho,
i < N, then sigma_N = 0: N steps, 2N - 1 evaluations of D (the last step is Euler).
"""

from typing import Callable

import jax
import jax.numpy as jnp

SIGMA_DATA = 0.5
P_MEAN, P_STD = -1.2, 1.2
SIGMA_MIN, SIGMA_MAX, RHO = 0.002, 80.0, 7.0


def c_skip(sigma, sigma_data: float = SIGMA_DATA):
  return sigma_data ** 2 / (sigma ** 2 + sigma_data ** 2)


def c_out(sigma, sigma_data: float = SIGMA_DATA):
  return sigma * sigma_data / jnp.sqrt(sigma ** 2 + sigma_data ** 2)


def c_in(sigma, sigma_data: float = SIGMA_DATA):
  return 1.0 / jnp.sqrt(sigma ** 2 + sigma_data ** 2)


def c_noise(sigma):
  return jnp.log(sigma) / 4.0


def loss_weight(sigma, sigma_data: float = SIGMA_DATA):
  """lambda(sigma), which makes the effective training target unit variance."""
  return (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2


def precondition(network: Callable, x: jax.Array, sigma: jax.Array) -> jax.Array:
  """D(x; sigma) = c_skip x + c_out F(c_in x; c_noise) for `network(x_in, c_noise)`
  (sigma [B], broadcast over the image axes)."""
  s = sigma.reshape((-1,) + (1,) * (x.ndim - 1)).astype(x.dtype)
  return c_skip(s) * x + c_out(s) * network(c_in(s) * x, c_noise(sigma))


def training_sigmas(key: jax.Array, batch: int, dtype=jnp.float32) -> jax.Array:
  """sigma with ln sigma ~ N(P_mean, P_std^2), one per image."""
  return jnp.exp(jax.random.normal(key, (batch,), dtype) * P_STD + P_MEAN)


def schedule(num_steps: int, sigma_min: float = SIGMA_MIN,
             sigma_max: float = SIGMA_MAX, rho: float = RHO) -> jax.Array:
  """The sampler's sigma_0 = sigma_max > ... > sigma_{N-1} = sigma_min, then 0:
  N + 1 values."""
  if num_steps < 2:
    raise ValueError(f'The Heun sampler needs at least 2 steps; got {num_steps}.')
  i = jnp.arange(num_steps, dtype=jnp.float32)
  inv = 1.0 / rho
  sigmas = (sigma_max ** inv + i / (num_steps - 1)
            * (sigma_min ** inv - sigma_max ** inv)) ** rho
  return jnp.concatenate([sigmas, jnp.zeros((1,), jnp.float32)])


def heun_sample(denoise: Callable, latents: jax.Array, num_steps: int,
                sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX,
                rho: float = RHO) -> jax.Array:
  """Algorithm 1 (deterministic, no churn): x_0 = sigma_0 * latents, then Heun
  steps down the schedule. `denoise(x, sigma)` with sigma a scalar -> D(x;
  sigma). 2N - 1 evaluations of `denoise`, in a `lax.fori_loop` (one traced
  network per kind of step)."""
  sigmas = schedule(num_steps, sigma_min, sigma_max, rho).astype(latents.dtype)

  def euler(x, i):
    t_cur, t_next = sigmas[i], sigmas[i + 1]
    d_cur = (x - denoise(x, t_cur)) / t_cur
    return x + (t_next - t_cur) * d_cur, d_cur

  def heun_step(i, x):
    t_cur, t_next = sigmas[i], sigmas[i + 1]
    x_next, d_cur = euler(x, i)
    d_prime = (x_next - denoise(x_next, t_next)) / t_next
    return x + (t_next - t_cur) * (0.5 * d_cur + 0.5 * d_prime)

  x = jax.lax.fori_loop(0, num_steps - 1, heun_step, latents * sigmas[0])
  return euler(x, num_steps - 1)[0]  # To sigma_N = 0: an Euler step.


def guided(conditional: jax.Array, unconditional: jax.Array,
           guidance: float) -> jax.Array:
  """Classifier-free guidance: (1 - s) D_u + s D_c."""
  return (1.0 - guidance) * unconditional + guidance * conditional
