"""The bottom floor: errors, registries, config checks, fingerprints, atomic files,
TensorBoard scalars, provenance and image grids; imports nothing above it."""
