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
    """One causal pass over axis 0 of ``x [T, F]``; NaN entries reset their feature.

    A value after a gap or at the start (``fresh``) is taken as it is, with speed 0; a missing one stays NaN
    (NaN carries through the arithmetic on its own). Which values are fresh or follow a seen one is known from
    ``x`` alone, so it is worked out once; a frame's masked writes run only where it has such values."""
    seen = ~np.isnan(x)
    follows = seen.copy()
    follows[0] = False
    follows[1:] &= seen[:-1]  # the speed estimate goes on (elsewhere it restarts at 0)
    fresh = seen & ~follows
    any_fresh, all_follow = fresh.any(1), follows.all(1)
    out = np.empty_like(x)
    prev = np.full(x.shape[1], np.nan, dtype=x.dtype)
    dprev = np.zeros(x.shape[1], dtype=x.dtype)
    a_d = _alpha(_D_CUTOFF, dt)
    for t in range(x.shape[0]):
        cur = x[t]
        dprev = a_d * ((cur - prev) / dt) + (1.0 - a_d) * dprev
        if not all_follow[t]:
            dprev[~follows[t]] = 0.0
        a = _alpha(min_cutoff + beta * np.abs(dprev) / scale, dt)
        prev = a * cur + (1.0 - a) * prev
        if any_fresh[t]:
            prev[fresh[t]] = cur[fresh[t]]
        out[t] = prev
    return out


def one_euro(values: np.ndarray, fps: float, strength: float, scale: float = 1.0) -> np.ndarray:
    """Zero-lag One Euro smoothing of ``values [T, ...]`` along time.

    ``scale`` is the size of the thing being tracked in the values' units (e.g. the
    person's box diagonal in pixels) so that speed-adaptivity does not depend on units;
    an array broadcast against ``values[0]`` gives each feature its own.
    """
    return one_euro_many([values], fps, strength, [scale])[0]


def one_euro_many(arrays: list[np.ndarray], fps: float, strength: float, scales: list) -> list[np.ndarray]:
    """:func:`one_euro` of each of ``arrays`` (each ``[T, ...]``, the same T) with its ``scales`` entry.

    Every array's forward and backward passes run as one pass over their features side by side: the filter
    is per feature, so the numbers are those of one pass each, and the per-frame loop's cost (numpy calls on a
    few thousand values) is paid once instead of twice per array.
    """
    arrays = [np.asarray(v) for v in arrays]
    if strength == 0 or arrays[0].shape[0] < 3:
        return [v.copy() for v in arrays]
    if not fps > 0:
        raise DreamActorError(f"smoothing: fps must be positive, got {fps}")
    min_cutoff, beta = filter_params(strength)
    flat = np.concatenate([v.reshape(v.shape[0], -1).astype(np.float64) for v in arrays], 1)
    scale = np.concatenate([np.broadcast_to(np.asarray(s, dtype=np.float64), v.shape[1:]).reshape(-1)
                            for v, s in zip(arrays, scales)])
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    f = flat.shape[1]
    both = _one_euro_pass(np.concatenate([flat, flat[::-1]], 1), 1.0 / float(fps), min_cutoff, beta,
                          np.concatenate([scale, scale]))
    smoothed = (both[:, :f] + both[::-1, f:]) * 0.5
    out, start = [], 0
    for v in arrays:
        size = int(np.prod(v.shape[1:]))
        out.append(smoothed[:, start:start + size].reshape(v.shape).astype(v.dtype))
        start += size
    return out
