"""Random weights for the plain-PyTorch references the Flax ports are checked against."""

import torch


def randomized(build, seed: int = 0) -> torch.nn.Module:
  """`build()` on the 'meta' device (skipping torch's init), randomized, in eval mode.

  Weights are of a size that keeps activations O(1) and the batch norms are far
  from the identity, so a port that drops or misplaces one shows in the outputs.
  """
  with torch.device('meta'):
    model = build()
  model = model.to_empty(device='cpu')
  generator = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for module in model.modules():
      if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
        fan_in = module.weight[0].numel()
        module.weight.normal_(0, (2 / fan_in) ** 0.5, generator=generator)
        if module.bias is not None:
          module.bias.uniform_(-0.1, 0.1, generator=generator)
      elif isinstance(module, torch.nn.BatchNorm2d):
        module.weight.uniform_(0.5, 1.5, generator=generator)
        module.bias.uniform_(-0.2, 0.2, generator=generator)
        module.running_mean.uniform_(-0.2, 0.2, generator=generator)
        module.running_var.uniform_(0.5, 1.5, generator=generator)
        module.num_batches_tracked.zero_()
  return model.eval()
