"""Separable Gaussian blur of image stacks, shared by reference detail and the VAE's SSIM loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_blur(x: torch.Tensor, sigma: float, radius: int, mode: str = "replicate") -> torch.Tensor:
    """Blur ``x`` [N, 1, H, W] with a Gaussian of ``sigma`` cut at ``radius`` pixels; ``mode`` pads the edges."""
    k = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device) / sigma) ** 2)
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode=mode), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode=mode), k.view(1, 1, -1, 1))
