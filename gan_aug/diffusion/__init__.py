"""The diffusion generator family (EDM): its formulas, U-Net, train step and sampler."""
