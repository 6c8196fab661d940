"""Paper 003 (Calabrese & Marabotto): CovidGAN, an ACGAN on 112x112x3 chest X-rays.

Command (GAN_AUG_DATA_DIR holds the paper's data set, the COVID-19 Radiography
Database unpacked as `COVID-19_Radiography_Dataset/`, or pass --config.data.dir):
  python -m gan_aug.main --config=configs/covid_acgan.py --workdir=runs/covid
The default reads it as `tfds:covid19_radiography` (prepared once into TFDS records
under config.data.prepared_dir; paper 003's three classes COVID, Normal and Viral
Pneumonia, without Lung_Opacity: §2.1). `:cpu` and `:smoke` stand in the 3-class
folder `covid19_3way/` (the shared data), read as an image folder.

Classifier: `custom_cnn` (default), or paper 003's transfer models with
`--config.classifier.name=vgg16` / `resnet50` (ImageNet weights converted with
scripts/convert_torchvision.py into --config.classifier.pretrained_dir; frozen
backbone and a new head as the paper; without weights the network trains end to
end, and the report says so).

Default protocol (`blocks.paper_protocol`): the paper's comparison (§8: classical
against synthetic augmentation, beside real) plus gan_classical, real_oversampled and
gan_pretrain, 3 seeds; `:smoke` and `:phantom` run real vs gan, one seed. The
paper's claims (Table 9's validation accuracies; Tables 5/8's test reports, whose
second test set held generated images) are in `config.claims`.

Variants, combined with commas (e.g. `configs/covid_acgan.py:phantom,smoke`):
  (none) / paper  the paper's recipe: Adam 2e-4 (beta1 0.5), batch 64, 1500 epochs,
                  G width 1024, latent 100, label embedding 50, D dropout 0.5;
  smoke           a few steps with narrow networks, to check an install (~1 min on CPU);
  cpu             the default protocol sized for 2 CPU cores (see get_config);
  phantom         the offline demo: the generated chest X-ray phantom (NOT medical
                  data) at 28x28x1, G/D widths 64/16, batch 32, 1500 GAN steps; the
                  filter threshold is the 5 % quantile of D's scores of real
                  validation images (`real_quantile`), since D never scores a real
                  phantom image 0.76; classifier at 28x28 with Adam 1e-3, <= 16
                  epochs of 50 steps.

Choices where the paper is silent or ambiguous (see gan_aug/models/acgan.py):
  * D: four 3x3 stride-2 convolutions (the parameter count the paper gives);
  * latent size 100 (gives the paper's ~22 M generator parameters);
  * latent z ~ N(0, 1); the paper's "normal distribution with 0.02 standard
    deviation" is read as the weight initialisation of the Keras ACGAN recipe;
  * one D update per step on a real batch of 64 and a fake batch of 64 (summed
    losses), then one G update through D in training mode; fake labels uniform;
  * a validation split is carved from train (15 %, seeded, stratified).
Synthesis (the paper does not say how many images it added, nor how it chose them):
  * target `multiple` 1.0 (as many fakes as real images per class), at most 20x
    that many generated; the papers' filter D(G(z)) >= 0.76 (papers 000/002) with D
    in inference mode, plus agreement of D's class head with the requested class.
Classifier, paper 003 §6.2 custom CNN (3,043,695 parameters at 224x224x3):
  * dropout rates 0.25 after the conv blocks and 0.5 after dense 128 (unstated);
  * inputs scaled by 1/255 (Keras `rescale`), batch 32 (Keras default);
  * Adam 1e-4, at most 100 epochs, early stopping on validation loss with
    patience 5, best weights kept. The paper's epochs were 379 steps (12122
    images / 32); one pass over this folder's 209 training images is 6 steps, too
    few for "patience 5" to mean the same thing, so an epoch here is 50 steps
    (`classifier.steps_per_epoch`; 0 = one pass), the same for both arms.

Runtime: the paper recipe on 209 training images is 1500 epochs x 3 steps = 4500
steps of batch 64. On 2 CPU cores (AMD EPYC, AVX-512) one such step takes 13.0 s
with the layers as matrix products (`conv_impl` auto on CPU; 212 s with Flax's
convolutions, whose transposed-convolution gradients are slow on XLA:CPU): about
16 hours for the GAN, so run the paper recipe on a GPU/TPU (README, Throughput).

Measured results: `:cpu`'s default protocol is the `covid_acgan:cpu` row of
docs/results.md ("The papers' default protocols at `:cpu` sizes", 26 min on 2
cores) and of the README's claim table; other runs under `configs/covid_acgan.py`.
"""

import os

import ml_collections

from gan_aug.config_blocks import blocks
from gan_aug.config_blocks import variants as variant_blocks
from gan_aug.report import claims

# §8: classical augmentation against synthetic augmentation.
PAPER_ARMS = ('real', 'classical', 'gan')


def _record_claims(config) -> None:
  """Paper 003's claims: Table 9's validation accuracies (its headline "5/6 %
  increase"), and the test reports of Tables 5 and 8, whose second test set
  holds generated images."""
  ambiguity = ('Whether its GAN arm kept classical augmentation is not said (§8: '
               '"the different type of data augmentation management"); this run '
               'has gan_classical too')
  for model, before, after, line in (('custom_cnn', 0.8989, 0.9604, 'l.447, l.603'),
                                     ('vgg16', 0.9315, 0.9737, 'l.273, l.547'),
                                     ('resnet50', 0.9298, 0.9707, 'l.341, l.575')):
    config.claims[f'{model}_validation_accuracy'] = claims.claim(
        metric='accuracy', classifier=model, before_arm='classical',
        after_arm='gan', before=before, after=after, split='validation',
        source=f'Table 9 (txt l.621-628; the validation accuracies of {line})',
        note='Single runs. ' + ambiguity)
  for metric, before, after in (('weighted_f1', 0.94, 0.97), ('macro_f1', 0.92, 0.97)):
    config.claims[f'custom_cnn_test_{metric}'] = claims.claim(
        metric=metric, classifier='custom_cnn', before_arm='classical',
        after_arm='gan', before=before, after=after, split='test',
        test_has_synthetic=True, source='Tables 5 and 8 (classification reports)',
        not_comparable='the second test set grew from 1,516 to 2,126 images (587 '
                       'of the 610 added are COVID-19) while the real class counts '
                       'stayed fixed: the added test images are generated ones')


def get_config(arg: str = None):
  """Returns the CovidGAN config; `arg` is a comma-separated list of variants."""
  variants = variant_blocks.parse_variants(arg, ('paper', 'smoke', 'phantom', 'cpu'),
                                           'covid_acgan')
  config = blocks.config(
      seed=0,
      protocol=blocks.paper_protocol(PAPER_ARMS),
      data=blocks.data(name='tfds:covid19_radiography',
                       dir=os.path.join(blocks.data_root(),
                                        'COVID-19_Radiography_Dataset'),
                       channels=3, resolution=112),
      gan=blocks.gan(
          name='acgan', latent_dim=100, label_embedding_dim=50, g_base_width=1024,
          g_kernel_size=5, d_base_width=64, d_dropout=0.5,
          # Keras ACGAN: D's class head also learns the fakes' requested labels.
          aux_loss_on_fake=True, batch_size=64, num_epochs=1500),
      synthesis=blocks.synthesis(require_class_agreement=True),
      classifier=blocks.classifier(name='custom_cnn', resolution=224,
                                   learning_rate=1e-4, steps_per_epoch=50))

  _record_claims(config)
  if ('cpu' in variants or 'smoke' in variants) and 'phantom' not in variants:
    variant_blocks.use_stand_in(config, 'covid19_3way')
  if 'phantom' in variants:
    # The quick start: one seed of real vs gan, and no claim about X-rays.
    config.protocol.arms, config.protocol.seeds = ('real', 'gan'), 1
    config.claims = ml_collections.ConfigDict()
    config.data.name = 'phantom'
    config.data.resolution = 28
    config.data.channels = 1
    config.gan.g_base_width = 64
    config.gan.d_base_width = 16
    config.gan.batch_size = 32
    config.gan.num_steps = 1500
    config.gan.log_every = 100
    config.synthesis.threshold_mode = 'real_quantile'
    config.classifier.resolution = 28
    config.classifier.learning_rate = 1e-3
    config.classifier.max_epochs = 16
  if 'cpu' in variants:
    # The default protocol sized for 2 CPU cores: the ACGAN at 56x56x1 with G/D
    # widths 64/16, the paper's batch of 64 (32 before its layers were matrix
    # products on CPU), 1200 steps; the filter at the 5 % quantile of D's
    # scores of real validation images (with 0.76 a few fakes pass, none of some
    # classes); the custom CNN at 56x56, Adam 1e-4, epochs of 25 steps, at most
    # 40, patience 3.
    config.data.resolution = 56
    config.data.channels = 1
    config.gan.g_base_width = 64
    config.gan.d_base_width = 16
    config.gan.batch_size = 64
    config.gan.num_steps = 1200
    config.gan.log_every = 100
    config.gan.sample_every = 400
    config.gan.checkpoint_every = 400
    config.synthesis.threshold_mode = 'real_quantile'
    config.classifier.resolution = 56
    config.classifier.steps_per_epoch = 25
    config.classifier.max_epochs = 40
    config.classifier.patience = 3
  if 'smoke' in variants:
    variant_blocks.make_smoke(config)
    config.protocol.arms, config.protocol.seeds = ('real', 'gan'), 1
    config.data.phantom_per_class = {'train': 24, 'val': 8, 'test': 8}
    config.gan.g_base_width = 64
    config.gan.d_base_width = 8
    config.gan.batch_size = 16
    config.classifier.resolution = 32
  return config
