"""Architectures only, as pure Flax modules: the papers' GANs (`acgan`, `dcgan`,
`cgan`), the classifiers by name (`classifiers`, `transfer`, `backbones`) and
the convolution layers they share (`conv_layers`, `matmul_conv`).

Which GAN family a config names, and how its modules are built, is
`gan_aug.gan.networks`; the checks of each config block live with the stage that
trains it (`gan_aug.gan.config_checks`, `gan_aug.classifier.config_checks`).
"""
