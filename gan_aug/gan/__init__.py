"""The papers' GANs as generator families (networks, state, train steps, EMA,
DiffAugment, the checks of config.gan), and the generator stage's loop and
divergence record, which serve every family."""
