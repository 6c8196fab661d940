"""The GAN: its families, state and train steps, loop, divergence record, EMA,
DiffAugment and the checks of config.gan."""
