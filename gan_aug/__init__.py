"""gan_aug: GAN-based synthetic data augmentation for small medical image data sets."""
