"""What a protocol compares: the arms (a registry) and the axes (seeds, fractions,
variants and sweeps) of config.protocol."""
