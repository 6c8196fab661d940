"""Training and synthesis throughput of the project's models on the devices present.

  python scripts/benchmark_throughput.py --models=dcgan64,covidgan112 --batch=64 \
      --json=out.json [--torch-ref] [--dtypes=float32,bfloat16]

Models: the GAN families at their papers' sizes (`dcgan64`: papers 000/001/002,
64x64x3, z = 100, ngf = ndf = 64; `covidgan112`: paper 003's ACGAN; `covidgan56`:
the same at covid_acgan.py:cpu's size (56x56x1, G 64, D 16 wide); `cgan224`:
paper 004's MLP CGAN, 224x224x1) and any classifier by name (`custom_cnn`,
`gmd_cnn`, `resnet18`, ...; at --classifier_resolution). A GAN gets a `train`
record (one D and one G update per step, as the pipeline trains it) and a
`synthesis` record (generate, round to uint8, score with D in inference mode:
the synthesis-and-filter stage); an EDM diffusion model (`edm28`, `edm64`:
gan_small_data.py:diffusion's U-Net at 28 and 64 px) a `train` record and a
`sampleN` record for each N of --sample_steps (8, 18, 40: N Heun steps, 2N - 1
network evaluations, the synthesis stage's program; float32 only: the family has
no mixed-precision mode); a classifier gets a `train` record. Each step
runs data-parallel over all local devices (batch split over a 1-D mesh). For each
record: compile time (separately), warm-up steps, then the median of timed
windows, images/s and the FLOP/s achieved by XLA's own FLOP count of the step.

`--profile` also traces a few steps of each train record with `jax.profiler` and
adds `op_time_by_kind`: XLA's op time per step summed by the kind of op (numbered
instances merged, e.g. every matrix product `ynn_fusion.N` on CPU), largest first.

With --torch-ref and PyTorch importable, the classic PyTorch DCGAN loop (the
PyTorch DCGAN example that papers 000/002 print: one D update on a real and a
fake batch, then one G update through a fresh D forward; BN, BCE, Adam 2e-4,
beta1 0.5) runs on the same shapes in the same process, and the dcgan64 train
record gets `torch_images_per_sec` and `ratio` (JAX / PyTorch); the reference
runs on the GPU when JAX does. `--dtypes=float32,bfloat16` also times the GANs
in mixed precision (config.gan.compute_dtype: bf16 compute, float32 parameters,
optimizer state and losses).
"""

import itertools
import json
import os
import platform
import sys
from typing import Dict, List

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pylint: disable=wrong-import-position
import throughput_timing as timing
from gan_aug.classifier import optimizer as classifier_optimizer
from gan_aug.classifier import step_batches
from gan_aug.classifier import training as classifier_lib
from gan_aug.config_blocks import blocks
from gan_aug.gan import networks
from gan_aug.gan import step as gan_lib
from gan_aug.generator import family as family_lib
from gan_aug.models import classifiers
from gan_aug.runtime import sharding
from gan_aug.synthesis import synthesize
# pylint: enable=wrong-import-position

_MODELS = flags.DEFINE_list('models', ['dcgan64'], 'GAN families (dcgan64, '
                            'covidgan112, covidgan56, cgan224), EDM models (edm28, '
                            'edm64) and classifier names.')
_BATCH = flags.DEFINE_integer('batch', 64, 'Global batch per step.')
_CLASSIFIER_RESOLUTION = flags.DEFINE_integer('classifier_resolution', 224,
                                              'Input side of the classifiers.')
_WARMUP = flags.DEFINE_integer('warmup', 2, 'Untimed steps after compiling.')
_WINDOWS = flags.DEFINE_integer('windows', 5, 'Timed windows (the median is kept).')
_STEPS = flags.DEFINE_integer('steps_per_window', 3, 'Steps per timed window.')
_PROFILE = flags.DEFINE_bool('profile', False, 'Trace train steps and report XLA '
                              'op time by kind of op.')
_JSON = flags.DEFINE_string('json', None, 'Write the records here as JSON.')
_TORCH_REF = flags.DEFINE_bool('torch-ref', False, 'Also time the PyTorch DCGAN loop.')
_STAGES = flags.DEFINE_list('stages', ['train', 'synthesis'],
                            'What to time for the GANs and EDM models: train, '
                            'synthesis (EDM: sampling).')
_DTYPES = flags.DEFINE_list('dtypes', ['float32'],
                           'GAN compute dtypes to time (config.gan.compute_dtype): '
                           'float32, bfloat16 (mixed precision; classifiers: float32).')
_SAMPLE_STEPS = flags.DEFINE_list('sample_steps', ['8', '18', '40'],
                                   'EDM models: the Heun steps N whose sampling is '
                                   'timed (2N - 1 network evaluations each).')
_CONV_IMPL = flags.DEFINE_list('conv_impl', ['auto'],
                               'How the GANs\' and the custom_cnn / gmd_cnn '
                               'convolutions are computed: auto, lax, matmul; '
                               'several (e.g. lax,matmul) are timed one after the '
                               'other in this invocation.')

# name -> (GAN family, resolution, channels, gan config fields).
GAN_MODELS = {
    'dcgan64': ('dcgan_per_class', 64, 3, dict(latent_dim=100, g_base_width=64,
                                               d_base_width=64)),
    'covidgan112': ('acgan', 112, 3, dict(latent_dim=100, label_embedding_dim=50,
                                          g_base_width=1024, g_kernel_size=5,
                                          d_base_width=64, d_dropout=0.5)),
    # covid_acgan.py:cpu's GAN: the ACGAN at 56x56x1, G 64 and D 16 wide.
    'covidgan56': ('acgan', 56, 1, dict(latent_dim=100, label_embedding_dim=50,
                                        g_base_width=64, g_kernel_size=5,
                                        d_base_width=16, d_dropout=0.5)),
    'cgan224': ('cgan', 224, 1, dict(latent_dim=128,
                                     g_hidden_widths=(128, 256, 512, 1024),
                                     d_hidden_widths=(512, 512, 512, 512),
                                     d_dropout=0.4)),
}
_NUM_CLASSES = 3  # The COVID-19 data sets' three classes (dcgan64: one class).
# name -> (resolution, channels, config.gan fields): the EDM diffusion family
# (gan_aug/diffusion) at gan_small_data.py:diffusion's U-Net (widths 32, 64, 64,
# one block per level, attention at the lowest side), 28 px as PneumoniaMNIST
# and 64 px (attention at 16 px), grayscale.
EDM_MODELS = {
    'edm28': (28, 1, dict(unet_widths=(32, 64, 64), attention_resolutions=(7,))),
    'edm64': (64, 1, dict(unet_widths=(32, 64, 64), attention_resolutions=(16,))),
}


def _gan_config(name: str, dtype: str, conv_impl: str):
  family, resolution, channels, fields = GAN_MODELS[name]
  return blocks.config(
      data=blocks.data(resolution=resolution, channels=channels),
      gan=blocks.gan(name=family, batch_size=_BATCH.value,
                     conv_impl=conv_impl, compute_dtype=dtype,
                     **fields))


def benchmark_gan(name: str, dtype: str, conv_impl: str) -> List[Dict]:
  """The train and synthesis records of one GAN family at one compute dtype."""
  config = _gan_config(name, dtype, conv_impl)
  num_classes = 1 if name == 'dcgan64' else _NUM_CLASSES
  model = networks.build_gan(config, num_classes)
  mesh = sharding.make_mesh(jax.local_devices())
  replicated = sharding.replicated(mesh)
  batch, latent = _BATCH.value, config.gan.latent_dim
  shape = (config.data.resolution,) * 2 + (config.data.channels,)
  tx = gan_lib.adam(2e-4, 0.5, 0.999)
  state = jax.jit(lambda: gan_lib.init_state(model, tx, tx, seed=0, latent_dim=latent,
                                             image_shape=shape),
                  out_shardings=replicated)()
  rng = np.random.default_rng(0)
  if model.one_per_class:
    per_class_batch = batch // num_classes
    images = rng.integers(0, 256, (num_classes, 4 * per_class_batch) + shape, np.uint8)
    labels = np.full((num_classes,), 4 * per_class_batch, np.int32)
  else:
    per_class_batch = batch
    images = rng.integers(0, 256, (4 * batch,) + shape, np.uint8)
    labels = rng.integers(0, num_classes, (4 * batch,)).astype(np.int32)
  images, labels = jax.device_put((images, labels), replicated)
  step = gan_lib.make_train_step(model, tx, tx, mesh=mesh,
                                 batch_size=per_class_batch, latent_dim=latent)
  records = []
  if 'train' in _STAGES.value:
    compile_s, flops, step_timing, state = timing.time_train_step(
        step, state, images, labels, mesh)
    records.append(timing.record(name, 'train', _BATCH.value,
                                per_class_batch * num_classes, compile_s, flops,
                                step_timing, dtype))
  if 'synthesis' not in _STAGES.value:
    return records
  generate = synthesize.make_generate_and_score(
      family_lib.find(config.gan.name), model, mesh, batch, latent)
  key = synthesize.latent_class_key(0, 0, 0)
  start, label = jnp.int32(0), jnp.int32(0)
  compiled_gen, compile_s, flops = timing.compile_program(generate, state, key, start,
                                                         label)
  records.append(timing.record(name, 'synthesis', batch, batch, compile_s, flops,
                               timing.time_steps(
                                   lambda: compiled_gen(state, key, start, label)),
                               dtype))
  return records


def benchmark_edm(name: str, conv_impl: str) -> List[Dict]:
  """The train record of an EDM model (one Adam step on a batch of noised real
  images, the EMA update included) and a `sampleN` record per --sample_steps:
  the synthesis stage's program (N Heun steps from latents to uint8 images,
  guidance 1: one network call per evaluation), images/s = batch / its time."""
  resolution, channels, fields = EDM_MODELS[name]
  config = blocks.config(
      data=blocks.data(resolution=resolution, channels=channels),
      gan=blocks.edm(batch_size=_BATCH.value, conv_impl=conv_impl, **fields))
  family = family_lib.find('edm')
  model = family.build(config, _NUM_CLASSES)
  mesh = sharding.make_mesh(jax.local_devices())
  replicated = sharding.replicated(mesh)
  shape = (resolution, resolution, channels)
  state = jax.jit(family.init(model, config, shape), out_shardings=replicated)(seed=0)
  rng = np.random.default_rng(0)
  images = jax.device_put(rng.integers(0, 256, (4 * _BATCH.value,) + shape, np.uint8),
                          replicated)
  labels = jax.device_put(rng.integers(0, _NUM_CLASSES, (4 * _BATCH.value,))
                          .astype(np.int32), replicated)
  step = family.make_train_step(model, config, mesh=mesh, batch_size=_BATCH.value,
                                num_examples=4 * _BATCH.value, num_steps=1,
                                streamed=False)
  records = []
  if 'train' in _STAGES.value:
    compile_s, flops, step_timing, state = timing.time_train_step(
        step, state, images, labels, mesh)
    records.append(timing.record(name, 'train', _BATCH.value, _BATCH.value, compile_s,
                                 flops, step_timing))
  if 'synthesis' not in _STAGES.value:
    return records
  key = synthesize.latent_class_key(0, 0, 0)
  start, label = jnp.int32(0), jnp.int32(0)
  for steps in map(int, _SAMPLE_STEPS.value):
    config.gan.sample_steps = steps
    generate = synthesize.make_generate_and_score(
        family, family.build(config, _NUM_CLASSES), mesh, _BATCH.value,
        family.latent_dim(config))
    compiled, compile_s, flops = timing.compile_program(generate, state, key, start,
                                                        label)
    records.append(dict(timing.record(
        name, f'sample{steps}', _BATCH.value, _BATCH.value, compile_s, flops,
        timing.time_steps(lambda: compiled(state, key, start, label))),
                        network_evaluations=2 * steps - 1))
  return records


def benchmark_classifier(name: str, conv_impl: str) -> List[Dict]:
  """The train record of one classifier (random init, Adam, real-size inputs)."""
  cfg = blocks.classifier(name=name, resolution=_CLASSIFIER_RESOLUTION.value,
                          batch_size=_BATCH.value, conv_impl=conv_impl)
  model = classifiers.build_classifier(cfg, _NUM_CLASSES)
  mesh = sharding.make_mesh(jax.local_devices())
  replicated = sharding.replicated(mesh)
  shape = (cfg.resolution, cfg.resolution, 3)
  tx = classifier_optimizer.make_optimizer(cfg)
  state = jax.jit(lambda: classifier_lib.init_state(model, tx, 0, shape),
                  out_shardings=replicated)()
  rng = np.random.default_rng(0)
  images = jax.device_put(rng.integers(0, 256, (4 * _BATCH.value,) + shape, np.uint8),
                          replicated)
  labels = jax.device_put(rng.integers(0, _NUM_CLASSES, (4 * _BATCH.value,))
                          .astype(np.int32), replicated)
  train_step = classifier_lib.make_train_step(model, tx, mesh)
  # The batch index as train_arms draws it, in the same program.
  step = lambda state, images, labels: train_step(
      state, images, labels, step_batches.batch_indices(
          state.rng, state.step, images.shape[0], _BATCH.value))
  compile_s, flops, step_timing, _ = timing.time_train_step(step, state, images, labels,
                                                            mesh)
  record = timing.record(name, 'train', _BATCH.value, _BATCH.value, compile_s, flops,
                         step_timing)
  record['resolution'] = cfg.resolution
  return [record]


def torch_dcgan_images_per_sec() -> float:
  """Images/s of the classic PyTorch DCGAN training loop at --batch, 64x64x3.

  On the GPU when JAX runs on one and PyTorch sees CUDA; on the CPU otherwise.
  """
  import torch  # pylint: disable=import-outside-toplevel
  from torch import nn  # pylint: disable=import-outside-toplevel
  on_gpu = jax.default_backend() == 'gpu' and torch.cuda.is_available()
  device = torch.device('cuda' if on_gpu else 'cpu')
  nz, ngf, ndf, nc, batch = 100, 64, 64, 3, _BATCH.value
  generator = nn.Sequential(
      nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8),
      nn.ReLU(True),
      nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
      nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
      nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
      nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
      nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf),
      nn.ReLU(True),
      nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
  discriminator = nn.Sequential(
      nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
      nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
      nn.LeakyReLU(0.2, inplace=True),
      nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4),
      nn.LeakyReLU(0.2, inplace=True),
      nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8),
      nn.LeakyReLU(0.2, inplace=True),
      nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())
  generator, discriminator = generator.to(device), discriminator.to(device)
  criterion = nn.BCELoss()
  opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
  opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
  real = torch.rand(batch, nc, 64, 64, device=device) * 2 - 1
  ones = torch.ones(batch, device=device)
  zeros = torch.zeros(batch, device=device)

  def step():
    discriminator.zero_grad()
    criterion(discriminator(real).view(-1), ones).backward()
    fake = generator(torch.randn(batch, nz, 1, 1, device=device))
    criterion(discriminator(fake.detach()).view(-1), zeros).backward()
    opt_d.step()
    generator.zero_grad()
    criterion(discriminator(fake).view(-1), ones).backward()
    opt_g.step()

  sync = (lambda _: torch.cuda.synchronize()) if on_gpu else (lambda _: None)
  return batch / timing.time_steps(step, sync)['seconds_per_step']


def _environment() -> Dict:
  device = jax.local_devices()[0]
  versions = {'python': platform.python_version(), 'jax': jax.__version__}
  for package in ('jaxlib', 'flax', 'optax', 'numpy', 'torch'):
    try:
      versions[package] = __import__(package).__version__
    except ImportError:
      pass
  return {'platform': device.platform, 'device_kind': device.device_kind,
          'device_count': jax.local_device_count(),
          'process_count': jax.process_count(), 'cpu_count': os.cpu_count(),
          'versions': versions}


def _print_table(records: List[Dict], env: Dict) -> None:
  print(f"\n{env['device_kind']} x {env['device_count']} ({env['platform']}), "
        f"jax {env['versions']['jax']}")
  header = (f"{'model':<14}{'stage':<11}{'dtype':<10}{'conv':<8}{'batch':>6}"
            f"{'compile s':>11}"
            f"{'ms/step':>10}"
            f"{'images/s':>10}{'GFLOP/s':>9}{'torch img/s':>13}{'ratio':>7}")
  print(header)
  print('-' * len(header))
  for r in records:
    torch_ips = r.get('torch_images_per_sec')
    print(f"{r['model']:<14}{r['stage']:<11}{r['dtype']:<10}{r['conv_impl']:<8}"
          f"{r['batch']:>6}"
          f"{r['compile_s']:>11.1f}"
          f"{r['seconds_per_step'] * 1e3:>10.1f}{r['images_per_sec']:>10.1f}"
          f"{r['achieved_gflops']:>9.1f}"
          + (f"{torch_ips:>13.1f}{r['ratio']:>7.2f}" if torch_ips else ''))
  for r in records:
    if r.get('op_time_by_kind'):
      print(f"\n{r['model']} {r['stage']} ({r['dtype']}): XLA op time per step by kind")
      for entry in r['op_time_by_kind']:
        print(f"  {entry['ms']:9.1f} ms {100 * entry['share']:5.1f} %  {entry['kind']}")


def main(argv):
  del argv
  known = list(GAN_MODELS) + list(EDM_MODELS) + list(classifiers.CLASSIFIERS.names())
  unknown = [m for m in _MODELS.value if m not in known]
  if unknown:
    raise app.UsageError(f'Unknown model(s) {unknown}; valid: {sorted(known)}')
  if _BATCH.value % jax.local_device_count():
    raise app.UsageError(f'--batch={_BATCH.value} does not split over '
                         f'{jax.local_device_count()} devices.')
  bad_dtypes = [d for d in _DTYPES.value if d not in networks.COMPUTE_DTYPES]
  if bad_dtypes:
    raise app.UsageError(f'Unknown dtype(s) {bad_dtypes}; valid: '
                         f'{sorted(networks.COMPUTE_DTYPES)}')
  timing.SETTINGS.update(warmup=_WARMUP.value, windows=_WINDOWS.value,
                         steps_per_window=_STEPS.value, profile=_PROFILE.value)
  # PyTorch first: on CPU it ran ~20 % slower once JAX had run in the process.
  torch_ips = None
  if _TORCH_REF.value and 'dcgan64' in _MODELS.value:
    try:
      print('Timing the PyTorch DCGAN reference ...', flush=True)
      torch_ips = torch_dcgan_images_per_sec()
    except ImportError:
      print('--torch-ref: PyTorch is not importable; no reference timed.')
  records = []
  for name, conv_impl in itertools.product(_MODELS.value, _CONV_IMPL.value):
    if name in EDM_MODELS:
      # The diffusion family has no mixed-precision mode: float32 only.
      print(f'Benchmarking {name} (float32, conv_impl {conv_impl}) ...', flush=True)
      records += [dict(r, conv_impl=conv_impl) for r in benchmark_edm(name, conv_impl)]
      continue
    if name not in GAN_MODELS:
      print(f'Benchmarking {name} (float32, conv_impl {conv_impl}) ...', flush=True)
      records += [dict(r, conv_impl=conv_impl)
                  for r in benchmark_classifier(name, conv_impl)]
      continue
    for dtype in _DTYPES.value:
      print(f'Benchmarking {name} ({dtype}, conv_impl {conv_impl}) ...', flush=True)
      records += [dict(r, conv_impl=conv_impl)
                  for r in benchmark_gan(name, dtype, conv_impl)]
  if torch_ips:
    for r in records:
      if r['model'] == 'dcgan64' and r['stage'] == 'train' and r['dtype'] == 'float32':
        r.update(torch_images_per_sec=torch_ips, ratio=r['images_per_sec'] / torch_ips)
  env = _environment()
  _print_table(records, env)
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump({'environment': env, 'results': records}, f, indent=1)
    print(f'\nWrote {_JSON.value}')


if __name__ == '__main__':
  app.run(main)
