"""Generator families as one unit: what the generator stage, synthesis and the
report ask of a family (`family.Family`), and finding one by name or module."""
