"""The papers' GANs as generator families: networks, state, train steps, objectives
and R1, EMA, DiffAugment and the checks of config.gan."""
