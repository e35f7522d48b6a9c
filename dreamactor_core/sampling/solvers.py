"""ODE solvers for flow-matching sampling: Euler, DPM++ 2M and UniPC (both second order).

A solver walks ``sigmas`` (from :func:`schedule.flow_sigmas`, ending in 0) with a
velocity model ``velocity(x, sigma, step) -> v`` where ``v = noise - x0``.
Every step makes exactly one model call, checks ``cancel`` before it and
reports ``progress`` after it, so cancelling returns within one step.
The state is kept in float32 whatever dtype the model computes in.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..utils import CancelFn, DreamActorError, ProgressFn, check_cancel, report
from .schedule import log_snr
from .unipc import UniPC

VelocityFn = Callable[[torch.Tensor, float, int], torch.Tensor]
SOLVERS = ("euler", "dpmpp_2m", "unipc")


def _dpm_first_order(x: torch.Tensor, x0: torch.Tensor, s: float, t: float) -> torch.Tensor:
    """Exact exponential-integrator step for a constant data prediction (DDIM form)."""
    if t <= 0.0:
        return x0
    # (sigma_t / sigma_s) x + (alpha_t - sigma_t alpha_s / sigma_s) x0, written without logs
    # so that s = 1 (alpha_s = 0, lambda_s = -inf) is exact.
    ratio = t / s
    return ratio * x + ((1.0 - t) - ratio * (1.0 - s)) * x0


def sample(
    velocity: VelocityFn,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    solver: str = "euler",
    *,
    progress: ProgressFn = None,
    cancel: CancelFn = None,
) -> torch.Tensor:
    """Integrate from ``sigmas[0]`` to ``sigmas[-1]`` starting at ``x`` (noise at sigma 1)."""
    if solver not in SOLVERS:
        raise DreamActorError(f"solver: unknown '{solver}'; choose one of {', '.join(SOLVERS)}")
    sig = [float(s) for s in sigmas]
    steps = len(sig) - 1
    if steps < 1:
        raise DreamActorError("sigmas: need at least two values (one step)")
    x = x.to(torch.float32)
    prev_x0 = None
    prev_h = math.nan
    unipc = UniPC() if solver == "unipc" else None
    for i in range(steps):
        check_cancel(cancel)
        s, t = sig[i], sig[i + 1]
        v = velocity(x, s, i).to(torch.float32)
        if solver == "euler":
            x = x + (t - s) * v
        elif unipc is not None:
            x = unipc.step(x, x - s * v, s, t)
        else:
            x0 = x - s * v
            h = log_snr(t) - log_snr(s)
            x0_eff = x0
            if prev_x0 is not None and t > 0.0 and math.isfinite(h) and math.isfinite(prev_h):
                # second-order multistep correction (linear extrapolation of x0 in lambda)
                r = prev_h / h
                x0_eff = (1.0 + 0.5 / r) * x0 - (0.5 / r) * prev_x0
            x = _dpm_first_order(x, x0_eff, s, t)
            prev_x0, prev_h = x0, h
        del v
        report(progress, i + 1, steps)
    return x
