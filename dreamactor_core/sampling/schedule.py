"""Flow-matching noise schedule with a timestep shift (as the Wan family samples).

Rectified-flow convention: ``x_sigma = (1 - sigma) * x0 + sigma * noise`` and the
model predicts the velocity ``noise - x0``. ``sigma`` runs from 1 (pure noise) to
0 (data). The model's timestep input is ``1000 * sigma``.

The shift bends a uniform grid toward high noise, ``s' = shift * s / (1 + (shift - 1) * s)``;
Wan2.2-Animate samples with shift 5. With the uniform base grid, schedule
percent ``p`` (0 at the first step, 1 at the end) is simply ``1 - base_sigma``,
so step ``i`` of ``n`` sits at ``p = i / n``; strength windows use that.
"""
from __future__ import annotations

import math

import torch

from ..utils import DreamActorError

NUM_TRAIN_TIMESTEPS = 1000


def shift_sigmas(sigmas: torch.Tensor, shift: float) -> torch.Tensor:
    """Apply the flow timestep shift to sigmas in [0, 1]."""
    if not shift > 0:
        raise DreamActorError(f"shift: must be positive, got {shift}; Wan2.2-Animate uses 5.0")
    return shift * sigmas / (1.0 + (shift - 1.0) * sigmas)


def flow_sigmas(steps: int, shift: float = 5.0, *, denoise: float = 1.0) -> torch.Tensor:
    """``steps + 1`` float64 sigmas from (shifted) ``denoise`` down to exactly 0.

    ``denoise`` < 1 starts part-way (image-to-video refinement); the grid is the
    last ``steps`` intervals of a uniform grid over [0, denoise].
    """
    if int(steps) != steps or steps < 1:
        raise DreamActorError(f"steps: must be a whole number >= 1, got {steps}")
    if not 0.0 < denoise <= 1.0:
        raise DreamActorError(f"denoise: must be in (0, 1], got {denoise}")
    base = torch.linspace(float(denoise), 0.0, int(steps) + 1, dtype=torch.float64)
    return shift_sigmas(base, shift)


def base_percent(steps: int) -> torch.Tensor:
    """Schedule percent of each step's start (``i / steps``), used by strength windows."""
    return torch.arange(int(steps), dtype=torch.float64) / float(steps)


def timesteps(sigmas: torch.Tensor) -> torch.Tensor:
    """Model timestep inputs for every sigma except the final 0."""
    return sigmas[:-1] * NUM_TRAIN_TIMESTEPS


def add_noise(x0: torch.Tensor, noise: torch.Tensor, sigma: float) -> torch.Tensor:
    """The flow interpolation ``(1 - sigma) * x0 + sigma * noise``."""
    return (1.0 - sigma) * x0 + sigma * noise


def log_snr(sigma: float) -> float:
    """lambda = log(alpha / sigma) with alpha = 1 - sigma; -inf at sigma 1, +inf at 0."""
    if sigma >= 1.0:
        return -math.inf
    if sigma <= 0.0:
        return math.inf
    return math.log((1.0 - sigma) / sigma)
