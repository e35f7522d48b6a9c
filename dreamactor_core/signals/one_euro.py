"""The One Euro filter, run forward and backward: what smooths the face mesh and the person box.

The One Euro filter (Casiez et al., CHI 2012) is a low-pass filter whose cutoff rises with
speed: still points are smoothed hard (jitter goes), fast ones barely. Because extraction is
offline it runs forward and backward in time and the two passes are averaged, so their lags
cancel. Its cutoff is lowest where the speed is zero, which is also where a swinging limb
turns around, so it flattens such peaks: limbs use :mod:`smoothing`'s local quadratic fit
instead. The head turns and nods more slowly and its sphere and crops profit from the harder
smoothing of still faces (head yaw and pitch errors on the synthetic sets were a little lower
with it than with the quadratic fit).

Missing values (NaN) stay missing and restart the filter, so a gap never smears values
across it.
"""
from __future__ import annotations

import math

import numpy as np

from ..utils import DreamActorError

# strength -> filter parameters. Speeds are measured in "scales per second" (the
# scale being the person's size), so the same strength behaves alike at any resolution.
_MAX_LOG_CUTOFF = 1.0  # strength ~0: min cutoff 10 Hz (almost nothing removed at 25 fps)
_LOG_CUTOFF_RANGE = 1.9  # strength 1: min cutoff ~0.13 Hz (still joints nearly frozen)
_BETA = 6.0  # cutoff gain per scale/second of speed
# Hz, cutoff of the speed estimate: 1 Hz (the usual value) and 3 Hz react too late to a fast
# child's arm or a jumping jack on the hard-case set.
_D_CUTOFF = 4.5


def filter_params(strength: float) -> tuple[float, float]:
    """``(min_cutoff_hz, beta)`` for a strength in [0, 1]."""
    s = float(strength)
    if not 0.0 <= s <= 1.0 or math.isnan(s):
        raise DreamActorError(f"smoothing strength must be in [0, 1], got {strength}")
    min_cutoff = 10.0 ** (_MAX_LOG_CUTOFF - _LOG_CUTOFF_RANGE * s)
    return min_cutoff, _BETA * (0.25 + 0.75 * s)


def _alpha(cutoff, dt: float):
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def _one_euro_pass(x: np.ndarray, dt: float, min_cutoff: float, beta: float, scale: float) -> np.ndarray:
    """One causal pass over axis 0 of ``x [T, F]``; NaN entries reset their feature."""
    out = np.full_like(x, np.nan)
    prev = np.full(x.shape[1], np.nan, dtype=x.dtype)
    dprev = np.zeros(x.shape[1], dtype=x.dtype)
    a_d = _alpha(_D_CUTOFF, dt)
    for t in range(x.shape[0]):
        cur = x[t]
        valid = ~np.isnan(cur)
        fresh = valid & np.isnan(prev)  # first sample after a start or a gap
        dx = np.where(fresh, 0.0, (cur - prev) / dt)
        dprev = np.where(valid, a_d * dx + (1.0 - a_d) * dprev, 0.0)
        cutoff = min_cutoff + beta * np.abs(dprev) / scale
        a = _alpha(cutoff, dt)
        smoothed = np.where(fresh, cur, a * cur + (1.0 - a) * prev)
        prev = np.where(valid, smoothed, np.nan)
        out[t] = prev
    return out


def one_euro(values: np.ndarray, fps: float, strength: float, scale: float = 1.0) -> np.ndarray:
    """Zero-lag One Euro smoothing of ``values [T, ...]`` along time.

    ``scale`` is the size of the thing being tracked in the values' units (e.g. the
    person's box diagonal in pixels) so that speed-adaptivity does not depend on units;
    an array broadcast against ``values[0]`` gives each feature its own.
    """
    values = np.asarray(values)
    if strength == 0 or values.shape[0] < 3:
        return values.copy()
    if not fps > 0:
        raise DreamActorError(f"smoothing: fps must be positive, got {fps}")
    min_cutoff, beta = filter_params(strength)
    flat = values.reshape(values.shape[0], -1).astype(np.float64)
    dt = 1.0 / float(fps)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), values.shape[1:]).reshape(-1)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    fwd = _one_euro_pass(flat, dt, min_cutoff, beta, scale)
    bwd = _one_euro_pass(flat[::-1], dt, min_cutoff, beta, scale)[::-1]
    return ((fwd + bwd) * 0.5).reshape(values.shape).astype(values.dtype)
