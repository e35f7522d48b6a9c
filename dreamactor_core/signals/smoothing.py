"""Temporal smoothing of landmarks: a zero-lag One Euro filter with one ``strength`` knob.

The One Euro filter (Casiez et al., CHI 2012) is a low-pass filter whose cutoff
rises with speed: still joints are smoothed hard (jitter goes), fast ones barely
(no lag). Because extraction is offline we run it forward and backward in time and
average the two passes; their small lags point in opposite directions and cancel,
so even fast motion is not delayed.

Missing values (NaN) stay missing and restart the filter, so a gap never smears
values across it.
"""
from __future__ import annotations

import math

import numpy as np

from ..utils import DreamActorError
from .motion import Motion

_FACE, _TRUNK, _MID, _END = 0.2, 0.6, 0.5, 0.25
# strength -> filter parameters. Speeds are measured in "scales per second" (the
# scale being the person's size), so the same strength behaves alike at any resolution.
_MAX_LOG_CUTOFF = 1.0  # strength ~0: min cutoff 10 Hz (almost nothing removed at 25 fps)
_LOG_CUTOFF_RANGE = 1.9  # strength 1: min cutoff ~0.13 Hz (still joints nearly frozen)
_BETA = 6.0  # cutoff gain per scale/second of speed
# Hz, cutoff of the speed estimate: 1 Hz (the usual value) and 3 Hz react too late to a fast
# child's arm or a jumping jack on the hard-case set.
_D_CUTOFF = 4.5
# Per body landmark (MediaPipe-33 order): the size its speed is measured against, as a share
# of the person. Face points turn with the head and hands and feet swing at the end of long
# chains: against the whole person their fast moves look slow and would be smoothed away;
# shoulders and hips swing fast too when the trunk bends or turns.
BODY_JOINT_SCALE = np.array([_FACE] * 11 + [_TRUNK, _TRUNK, _MID, _MID] + [_END] * 8
                            + [_TRUNK, _TRUNK, _MID, _MID] + [_END] * 6)


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


def _person_scale(motion: Motion) -> float:
    box = motion.person_box
    diag = np.hypot(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    diag = diag[np.isfinite(diag)]
    return float(np.median(diag)) if diag.size else float(max(motion.width, motion.height))


def smooth_motion(motion: Motion, strength: float = 0.5) -> Motion:
    """A new motion with body, hands and face landmarks smoothed over time.

    ``strength`` 0 turns smoothing off; 1 is the strongest. Confidences, flags and
    head fields are left as they are (the head stage reads the smoothed landmarks).
    """
    filter_params(strength)  # validates
    out = motion.copy()
    if strength == 0:
        return out
    px_scale = _person_scale(motion)
    fps = motion.fps
    joint = BODY_JOINT_SCALE[:, None]
    out.body_px = one_euro(motion.body_px, fps, strength, px_scale * joint)
    out.body_world = one_euro(motion.body_world, fps, strength, joint)  # metres; a person is ~1.7 m
    # Hands and face are small and fast relative to the person: use their own size.
    out.hands_px = one_euro(motion.hands_px, fps, strength, px_scale * 0.25)
    out.face_px = one_euro(motion.face_px, fps, strength, px_scale * 0.25)
    out.person_box = one_euro(motion.person_box, fps, strength, px_scale)
    if motion.body_cam is not None:
        out.body_cam = one_euro(motion.body_cam, fps, strength, 1.0)
    out.meta["smoothing"] = {"filter": "one_euro_zero_lag", "strength": float(strength)}
    return out
