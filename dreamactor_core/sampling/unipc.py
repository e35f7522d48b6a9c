"""UniPC (Zhao et al. 2023, arXiv 2302.04867): a multistep predictor-corrector for flow matching.

Wan2.2's own sampling scripts default to this solver. It is written here in data
prediction form (x0 = x - sigma v) on lambda = log(alpha / sigma), alpha = 1 - sigma,
with the B(h) = expm1(-h) variant ("bh2") Wan uses and a second-order predictor:

* predictor UniP: the exponential-integrator step of the newest x0 estimate plus
  divided differences of older estimates (weights ``rho`` from the paper's linear system);
* corrector UniC: once the model has been called at the predicted point, its x0 estimate
  re-does that step with one more difference. The corrector reuses that call, so every
  step still costs exactly one model evaluation.

Points at sigma 1 (lambda = -inf) are kept out of the differences, and the last step
(to sigma 0, lambda = +inf) is first order: both would otherwise divide by infinity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .schedule import log_snr


def _weights(h: float, rks: list[float], corrector: bool) -> tuple[list[float], float, float]:
    """(rho, h_phi_1, B(h)) for a step of size ``h`` with difference ratios ``rks`` (the last is 1)."""
    hh = -h
    h_phi_1 = math.expm1(hh)
    b_h = h_phi_1
    h_phi_k, fact = h_phi_1 / hh - 1.0, 1.0
    rows, rhs = [], []
    for j in range(1, len(rks) + 1):
        rows.append([r ** (j - 1) for r in rks])
        rhs.append(h_phi_k * fact / b_h)
        fact *= j + 1
        h_phi_k = h_phi_k / hh - 1.0 / fact
    n = len(rks) if corrector else len(rks) - 1
    if n == 0:
        return [], h_phi_1, b_h
    if n == 1:
        return [0.5], h_phi_1, b_h
    a = torch.tensor([r[:n] for r in rows[:n]], dtype=torch.float64)
    return torch.linalg.solve(a, torch.tensor(rhs[:n], dtype=torch.float64)).tolist(), h_phi_1, b_h


@dataclass
class _Step:
    """What the corrector needs of the predictor step that produced the current sample."""
    x: torch.Tensor
    s: float
    t: float
    x0: torch.Tensor
    diffs: list[torch.Tensor]
    rks: list[float]


class UniPC:
    """Stateful stepper: ``x = stepper.step(x, x0, s, t)`` once per model call, in order."""

    def __init__(self, order: int = 2, corrector: bool = True):
        self.order, self.corrector = order, corrector
        self.history: list[tuple[float, torch.Tensor]] = []  # (lambda, x0) of earlier points
        self.last: _Step | None = None

    def _base(self, st: _Step, h_phi_1: float) -> torch.Tensor:
        alpha_t = 1.0 - st.t
        return (st.t / st.s) * st.x - alpha_t * h_phi_1 * st.x0

    def step(self, x: torch.Tensor, x0: torch.Tensor, s: float, t: float) -> torch.Tensor:
        """Correct the current sample ``x`` (at ``s``, with the model's ``x0`` there), then predict at ``t``."""
        lam_s, lam_t = log_snr(s), log_snr(t)
        if self.corrector and self.last is not None:
            st = self.last
            rho, h_phi_1, b_h = _weights(log_snr(st.t) - log_snr(st.s), st.rks + [1.0], corrector=True)
            terms = sum(r * d for r, d in zip(rho[:-1], st.diffs)) + rho[-1] * (x0 - st.x0)
            x = self._base(st, h_phi_1) - (1.0 - st.t) * b_h * terms
        # the newest order-1 earlier points with a finite lambda give the differences; the last step
        # (lambda_t = +inf) stays first order
        keep = self.order - 1
        finite = [(lam, m) for lam, m in self.history if math.isfinite(lam)]
        usable = finite[-keep:] if keep > 0 and math.isfinite(lam_t) else []
        h = lam_t - lam_s
        rks = [(lam - lam_s) / h for lam, _ in reversed(usable)]
        diffs = [(m - x0) / r for r, (_, m) in zip(rks, reversed(usable))]
        st = _Step(x, s, t, x0, diffs, rks)
        if t <= 0.0:
            out = x0
        else:
            rho, h_phi_1, b_h = _weights(h, rks + [1.0], corrector=False)
            out = self._base(st, h_phi_1)
            if rho:
                out = out - (1.0 - t) * b_h * sum(r * d for r, d in zip(rho, diffs))
        self.history = [*self.history, (lam_s, x0)][-keep:] if keep > 0 else []
        self.last = st
        return out
