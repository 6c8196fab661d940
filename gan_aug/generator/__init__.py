"""Generator families as one unit: what the generator stage, synthesis and the
report ask of a family (`family.Family`), finding one by name or module, and
the generator stage itself (`loop`, `divergence`), which serves every family."""
