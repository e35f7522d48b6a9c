"""Flow-matching training targets (rectified flow, as Wan and DreamActor-M1 use)."""
from __future__ import annotations

import torch


def sample_sigmas(n: int, generator: torch.Generator, shift: float = 5.0) -> torch.Tensor:
    """Noise levels in (0, 1): logit-normal draws pushed towards noise by the timestep shift.

    The shift is the same map the sampler uses (sigma' = s*sigma / (1 + (s-1)*sigma)), so
    training spends its steps where high-resolution video sampling spends them.
    """
    u = torch.sigmoid(torch.randn(n, generator=generator))
    return shift * u / (1 + (shift - 1) * u)


def noisy_input(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x_sigma = (1 - sigma) x0 + sigma noise, and the velocity target noise - x0."""
    s = sigma.view(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    return (1 - s) * x0 + s * noise, noise - x0


def flow_loss(pred: torch.Tensor, target: torch.Tensor, ref_frames: int = 0) -> torch.Tensor:
    """Mean squared velocity error over the video frames (reference slots excluded)."""
    return torch.mean((pred[:, :, ref_frames:].float() - target[:, :, ref_frames:].float()) ** 2)
