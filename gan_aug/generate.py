"""Accepted fakes of a trained GAN stage, for tools outside this project.

    python -m gan_aug.generate --workdir=RUN_WORKDIR --out=DIR --per_class=N \
        [--gan_stage=stages/gan-<fp>] [--seed=S] [--checkpoint_step=STEP]

Reads a finished or partly finished run (read-only, no lock): the GAN stage's
checkpoints and stage.json, and the run's config.json for its filter
(config.synthesis: threshold mode, threshold, class agreement, batch size,
attempt cap, checkpoints used). Fakes are generated, scored and filtered as
`gan_aug.synthesis.synthesize` does, from the same indexed latents

  normal(fold_in(synthesize.latent_class_key(seed, step, class), index)),

so with the default seed (the stage's) a class's k-th image is the run's own k-th
accepted fake of that class. A family's sampling fields (edm's guidance and
sample steps) key synthesis stages, not the GAN stage: they are the run's
config.gan values, or the family's defaults where config.gan lacks them (a
generator of several in one protocol), and the checkpoint is --checkpoint_step's
or the newest. DIR gets N accepted fakes per class as
DIR/<class>/NNNNNN.png and DIR/manifest.json (one entry per image: file, class,
checkpoint path and step, latent index, D's realness (none for a family without
a scorer, such as `edm`, whose every sample is kept) and, when D has a class
head, its class probabilities). Everything is written into a hidden folder
beside DIR and renamed to DIR at the end, so a crash leaves no half-written DIR;
an existing non-empty DIR is never touched.
"""

import dataclasses
import json
import math
import os
import shutil
import uuid
from typing import Dict, List, Optional, Tuple

import ml_collections
import numpy as np
from absl import app
from absl import flags
from absl import logging
from PIL import Image

from gan_aug import data as data_lib
from gan_aug.core.errors import ConfigError, DatasetNotFoundError, SynthesisError
from gan_aug.generator import family as family_lib
from gan_aug.pipeline import stages
from gan_aug.runtime import cli
from gan_aug.runtime import sharding
from gan_aug.synthesis import accepted_set
from gan_aug.synthesis import filter as synthesis_filter
from gan_aug.synthesis import real_scores
from gan_aug.synthesis import synthesize


@dataclasses.dataclass
class GANStage:
  """A run's GAN stage: its folder, its stage.json key, and the run's config
  with the stage's own seed, GAN and data fields."""
  workdir: str
  name: str
  key: Dict
  config: ml_collections.ConfigDict
  run_seed: int  # config.json's seed, from which the run loaded its data.

  @property
  def dir(self) -> str:
    return os.path.join(self.workdir, 'stages', self.name)

  @property
  def checkpoint_dir(self) -> str:
    return os.path.join(self.dir, 'checkpoints')


def check_request(out_dir: str, per_class: int) -> None:
  """Refuses N < 1 and an output folder that exists and is not empty."""
  if per_class < 1:
    raise ConfigError(f'--per_class={per_class}: ask for at least 1 image per class.')
  if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
    raise ConfigError(f'--out={out_dir} already exists and is not an empty folder; '
                      'nothing was written. Choose a new folder.')


def checkpoint_steps(stage_dir: str) -> List[int]:
  """The steps of a GAN stage's complete checkpoints (Orbax names each folder by
  its step; unfinished ones carry a suffix)."""
  path = os.path.join(stage_dir, 'checkpoints')
  if not os.path.isdir(path):
    return []
  return sorted(int(name) for name in os.listdir(path)
                if name.isdigit() and os.path.isdir(os.path.join(path, name)))


def gan_stage_names(workdir: str) -> List[str]:
  """The GAN stage folders under workdir/stages (those with a stage.json)."""
  stages_dir = os.path.join(workdir, 'stages')
  if not os.path.isdir(stages_dir):
    return []
  return sorted(name for name in os.listdir(stages_dir) if name.startswith('gan-')
                and os.path.isfile(os.path.join(stages_dir, name, 'stage.json')))


def _describe(workdir: str, name: str) -> str:
  """One line per stage for the listing: seed, GAN, checkpoints, done or not."""
  stage_dir = os.path.join(workdir, 'stages', name)
  with open(os.path.join(stage_dir, 'stage.json')) as f:
    key = json.load(f)
  done = os.path.exists(os.path.join(stage_dir, 'done.json'))
  return (f'  --gan_stage=stages/{name}  (seed {key.get("seed")}, '
          f'{key.get("gan", {}).get("name")}, checkpoint steps '
          f'{checkpoint_steps(stage_dir)}, {"complete" if done else "unfinished"})')


def open_stage(workdir: str, gan_stage: Optional[str] = None) -> GANStage:
  """The GAN stage to generate from (the only one, or `gan_stage`: a folder name
  `gan-<fp>`, `stages/gan-<fp>` or its path) with the config it was trained under."""
  workdir = os.path.abspath(workdir)
  names = gan_stage_names(workdir)
  if not names:
    raise SynthesisError(f'{workdir} has no GAN stage (no stages/gan-*/stage.json): '
                         'train one first with python -m gan_aug.main.')
  listing = '\n'.join(_describe(workdir, name) for name in names)
  if gan_stage is None:
    if len(names) > 1:
      raise ConfigError(f'{workdir} has {len(names)} GAN stages; choose one with '
                        f'--gan_stage:\n{listing}')
    name = names[0]
  else:
    name = os.path.basename(os.path.normpath(gan_stage))
    if name not in names:
      raise ConfigError(f'--gan_stage={gan_stage} is not a GAN stage of {workdir}; '
                        f'its GAN stages:\n{listing}')
  config_path = os.path.join(workdir, 'config.json')
  if not os.path.exists(config_path):
    raise SynthesisError(f'{config_path} not found: generation needs the run\'s config '
                         '(gan_aug.main writes it when a run starts; a filter '
                         'sweep keeps one per setting in filter_sweep/<name>/).')
  with open(config_path) as f:
    run_config = json.load(f)
  with open(os.path.join(workdir, 'stages', name, 'stage.json')) as f:
    key = json.load(f)
  # The stage's own fields win: it may have been trained by an earlier config.
  # Its key holds no sampling fields (they key synthesis stages): a family's
  # own are at their defaults where the run's config.gan lacks them.
  family = family_lib.find(key['gan'].get('name', run_config['gan']['name']))
  config = {**run_config, 'seed': key['seed'],
            'fast_compile': key.get('fast_compile', False),
            'gan': {**family.fields, **run_config['gan'], **key['gan']},
            'data': {**run_config['data'], **key['data']}}
  return GANStage(workdir, name, key, ml_collections.ConfigDict(config),
                  run_config['seed'])


def training_data(stage: GANStage) -> Tuple[data_lib.Dataset, float]:
  """(data set, training fraction) the stage was trained on, found by its
  fingerprint among the run's fractions."""
  config = stage.config
  try:
    full = data_lib.load_dataset(config.data, stage.run_seed)
  except DatasetNotFoundError as e:
    raise SynthesisError(
        f'The data set {stage.name} was trained on is not at {e.path!r} (config.json\'s '
        'data.dir or data.path; a relative path is read from the current folder): '
        'run from the folder the run was started in.') from e
  for fraction in config.protocol.fractions:
    dataset = data_lib.keep_training_fraction(full, float(fraction), config.seed)
    if stages.data_fingerprint(dataset) == stage.key['data_fingerprint']:
      return dataset, float(fraction)
  raise SynthesisError(
      f'The data set config.json names ({config.data.name}, '
      f'{config.data.dir or config.data.path or "generated"}) is not the one '
      f'{stage.name} was trained on (fingerprint mismatch for fractions '
      f'{list(config.protocol.fractions)}): has it changed or moved?')


def _restore(stage: GANStage, dataset: data_lib.Dataset, mesh,
             step: Optional[int]):
  """(family, networks, [(step, state)]): the run's newest
  synthesis.num_checkpoints, or `step`."""
  steps = checkpoint_steps(stage.dir)
  if not steps:
    raise SynthesisError(f'{stage.dir} has no checkpoint yet; let the GAN train '
                         'until it saves one (gan.checkpoint_every).')
  count = stage.config.synthesis.num_checkpoints
  if step is not None:
    if step not in steps:
      raise ConfigError(f'--checkpoint_step={step}: {stage.name} has checkpoints '
                        f'at steps {steps}.')
    count = len(steps) - steps.index(step)  # restore takes the newest ones.
  family, networks, states = synthesize.restore(stage.config, dataset,
                                                stage.checkpoint_dir, count, mesh)
  return family, networks, states[:1] if step is not None else states


def _write(folder: str, manifest: Dict, images: List[np.ndarray]) -> None:
  """The PNGs and manifest.json into `folder`."""
  for row, image in zip(manifest['images'], images):
    path = os.path.join(folder, row['file'])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
  with open(os.path.join(folder, 'manifest.json'), 'w') as f:
    json.dump(manifest, f, indent=1)


def generate(stage: GANStage, out_dir: str, per_class: int,
             seed: Optional[int] = None, checkpoint_step: Optional[int] = None,
             mesh=None) -> Dict:
  """Writes `per_class` accepted fakes per class and manifest.json to `out_dir`;
  returns the manifest. `seed` defaults to the stage's own."""
  check_request(out_dir, per_class)
  config, cfg = stage.config, stage.config.synthesis
  if cfg.get('classifier_filter', False):
    raise ConfigError(
        'The run filters its fakes by classifier agreement too '
        '(config.synthesis.classifier_filter), which this command does not apply: '
        'its fakes would not be the run\'s. The run\'s own accepted set is in its '
        'synthesis stage (stages/synthesis-<fp>/synthetic/).')
  seed = config.seed if seed is None else seed
  mesh = mesh if mesh is not None else sharding.make_mesh()
  try:
    sharding.check_divisible(cfg.batch_size, mesh, 'synthesis.batch_size')
  except ValueError as e:
    raise ConfigError(f'{e} (the run\'s config.json)') from e
  dataset, fraction = training_data(stage)
  family, networks, states = _restore(stage, dataset, mesh, checkpoint_step)
  generate_fn = synthesize.make_generate_and_score(family, networks, mesh,
                                                   cfg.batch_size,
                                                   family.latent_dim(config))
  scored, require_agreement = synthesize.filter_rule(family, networks, cfg)
  if scored:
    val_only = dataclasses.replace(dataset, splits={'val': dataset.splits['val']})
    real_val = real_scores.score_real_splits(
        synthesize.make_scorer(family, networks, mesh), states[-1][1], val_only,
        cfg.batch_size)['val']
    threshold = synthesis_filter.filter_threshold(cfg, real_val)
  else:  # A family without a scorer (edm): every sample is kept, as in the run.
    threshold = -math.inf
  cap = synthesis_filter.attempt_cap(per_class, cfg.max_attempts_multiple,
                                     cfg.batch_size)
  logging.info('Generating %d per class from %s, checkpoint step(s) %s, seed %d: '
               'threshold %.4f (%s), class agreement %s.', per_class, stage.dir,
               [s for s, _ in states], seed, threshold, cfg.threshold_mode,
               require_agreement)
  images, rows, counts = [], [], {}
  for label, name in enumerate(dataset.class_names):
    draw, _ = synthesize.accept_class(generate_fn, states, seed, label, per_class, cap,
                                      threshold, require_agreement, cfg.batch_size)
    class_images, generated, passed = draw.images, draw.generated, draw.passed
    class_rows = draw.accepted
    logging.info('Class %s: %d/%d accepted, %d generated (pass rate %.3f).', name,
                 len(class_rows), per_class, generated, passed / generated)
    if len(class_rows) < per_class:
      raise SynthesisError(
          f'Class {name}: only {len(class_rows)} of {per_class} fakes passed the '
          f'filter in {generated} attempts (pass rate {passed / generated:.3f}; the '
          f'cap is synthesis.max_attempts_multiple={cfg.max_attempts_multiple} x N, '
          'at least one batch). Ask for fewer with --per_class; nothing was written.')
    counts[name] = {'generated': generated, 'passed': passed,
                    'accepted': len(class_rows)}
    images.extend(class_images)
    for i, fake in enumerate(class_rows):
      row = accepted_set.image_record(
          f'{accepted_set.class_folder(label, name)}/{i:06d}.png', label,
          dataset.class_names, synthesize.manifest_fake(fake, scored))
      row['checkpoint'] = os.path.join(stage.checkpoint_dir,
                                       str(fake['checkpoint_step']))
      rows.append(row)
  manifest = {
      'workdir': stage.workdir, 'gan_stage': f'stages/{stage.name}',
      'seed': seed, 'per_class': per_class, 'train_fraction': fraction,
      'checkpoint_steps': [int(s) for s, _ in states],
      'threshold': threshold if math.isfinite(threshold) else None,
      'threshold_mode': cfg.threshold_mode,
      'threshold_setting': synthesize.threshold_setting(cfg),
      'require_class_agreement': require_agreement,
      'class_names': list(dataset.class_names), 'counts': counts, 'images': rows,
  }
  parent, base = os.path.split(os.path.abspath(out_dir))
  os.makedirs(parent, exist_ok=True)
  tmp_dir = os.path.join(parent, f'.{base}.tmp-{uuid.uuid4().hex[:8]}')
  os.makedirs(tmp_dir)
  try:
    _write(tmp_dir, manifest, images)
    os.replace(tmp_dir, out_dir)  # Fails, writing nothing, if DIR filled meanwhile.
  except BaseException:
    shutil.rmtree(tmp_dir, ignore_errors=True)
    raise
  logging.info('Wrote %d images and manifest.json to %s.', len(rows), out_dir)
  return manifest


def _command(workdir: str, out_dir: str, per_class: int, gan_stage: Optional[str],
             seed: Optional[int], checkpoint_step: Optional[int]) -> Dict:
  """Refusals first, then JAX's compilation set-up for the stage, then generation."""
  check_request(out_dir, per_class)
  stage = open_stage(workdir, gan_stage)
  cli.set_up_compilation(stage.config)  # Before the first JAX computation.
  return generate(stage, out_dir, per_class, seed, checkpoint_step)


def _define_flags() -> None:
  """The command's flags (defined only when run as a command, so that importing
  this module beside gan_aug.main defines no clashing --workdir)."""
  flags.DEFINE_string('workdir', None, 'The run\'s --workdir.')
  flags.DEFINE_string('out', None, 'New (or empty) folder for the images.')
  flags.DEFINE_integer('per_class', None, 'Accepted fakes per class.')
  flags.DEFINE_string('gan_stage', None, 'stages/gan-<fp>; needed when the '
                      'workdir has several GAN stages.')
  flags.DEFINE_integer('seed', None, 'Latent seed (default: the stage\'s, which '
                       'reproduces the run\'s own set).')
  flags.DEFINE_integer('checkpoint_step', None, 'Generate from this checkpoint '
                       'only (default: the newest synthesis.num_checkpoints, as '
                       'the run did).')
  flags.mark_flags_as_required(['workdir', 'out', 'per_class'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.set_up_logging()
  f = flags.FLAGS
  cli.run_or_exit(_command, f.workdir, f.out, f.per_class, f.gan_stage, f.seed,
                  f.checkpoint_step, who='generate')


if __name__ == '__main__':
  _define_flags()
  app.run(main)
