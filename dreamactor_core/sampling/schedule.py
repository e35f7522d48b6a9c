"""Flow-matching noise schedule with a timestep shift (as the Wan family samples).

Rectified-flow convention: ``x_sigma = (1 - sigma) * x0 + sigma * noise`` and the
model predicts the velocity ``noise - x0``. ``sigma`` runs from 1 (pure noise) to
0 (data). The model's timestep input is ``1000 * sigma``.

The shift bends a uniform grid toward high noise, ``s' = shift * s / (1 + (shift - 1) * s)``;
Wan2.2-Animate samples with shift 5. With the uniform base grid, schedule
percent ``p`` (0 at the first step, 1 at the end) is simply ``1 - base_sigma``,
so step ``i`` of ``n`` sits at ``p = i / n``; strength windows use that.

:func:`sampling_schedule` gives the grid and the model timesteps Wan2.2-Animate
actually uses (``grid="official"``, ``timesteps="integer"``), or the plain uniform
grid with float timesteps that the pack used before; see README "Same as official".
"""
from __future__ import annotations

import math

import torch

from ..utils import DreamActorError

NUM_TRAIN_TIMESTEPS = 1000
GRIDS = ("official", "uniform")
TIMESTEP_KINDS = ("integer", "float")
# Wan2.2's UniPC scheduler takes its first base sigma from its 1000-step training table, whose
# largest entry is 1 - 1/1000 held as float32; the official grid therefore starts at t = 999.
UNIPC_BASE_MAX = float(torch.tensor(0.999, dtype=torch.float32))
# base sigma of the first step per solver on the official grid (DPM++ and Euler start from pure noise)
OFFICIAL_BASE_MAX = {"unipc": UNIPC_BASE_MAX, "dpmpp_2m": 1.0, "euler": 1.0}


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


def sampling_schedule(solver: str, steps: int, shift: float = 5.0, *, grid: str = "official",
                      timesteps: str = "integer") -> tuple[torch.Tensor, torch.Tensor]:
    """``(sigmas, model_timesteps)`` for ``steps`` steps of ``solver``.

    ``grid="official"``: base points ``b_i = b_max - i b_max / steps``, i < steps, with ``b_max``
    from :data:`OFFICIAL_BASE_MAX`, shifted in float64, then 0 appended; the sigmas are rounded
    to float32 (what the official solvers step on) and returned as float64.
    ``grid="uniform"``: :func:`flow_sigmas` (from exactly 1, not rounded).
    ``timesteps="integer"``: ``int(1000 sigma)`` truncated toward zero from the unrounded sigma, as
    the official pipeline feeds its DiT; ``"float"``: ``1000 sigma``. Both float64, ``steps`` long.
    """
    if grid not in GRIDS:
        raise DreamActorError(f"grid: unknown '{grid}'; choose one of {', '.join(GRIDS)}")
    if timesteps not in TIMESTEP_KINDS:
        raise DreamActorError(f"timesteps: unknown '{timesteps}'; choose one of {', '.join(TIMESTEP_KINDS)}")
    if grid == "uniform":
        exact = flow_sigmas(steps, shift)
        sigmas = exact
    else:
        if solver not in OFFICIAL_BASE_MAX:
            raise DreamActorError(f"solver: unknown '{solver}'; choose one of {', '.join(OFFICIAL_BASE_MAX)}")
        if int(steps) != steps or steps < 1:
            raise DreamActorError(f"steps: must be a whole number >= 1, got {steps}")
        n = int(steps)
        top = OFFICIAL_BASE_MAX[solver]
        # start + i * (-top / n), the rounding of an evenly spaced float64 range: the truncated
        # timesteps depend on it (1 - 5/6 shifted by 5 truncates to 499, this form gives 500)
        base = top + torch.arange(n, dtype=torch.float64) * (-top / n)
        exact = torch.cat([shift_sigmas(base, shift), torch.zeros(1, dtype=torch.float64)])
        sigmas = exact.float().double()
    t = exact[:-1] * NUM_TRAIN_TIMESTEPS
    return sigmas, (torch.trunc(t) if timesteps == "integer" else t)


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
