"""The papers' GANs as generator families: networks, state, train steps, EMA,
DiffAugment and the checks of config.gan."""
