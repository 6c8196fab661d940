"""Training: pure step functions, data-parallel sharding, checkpoints and loops."""
