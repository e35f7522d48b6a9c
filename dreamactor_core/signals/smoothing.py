"""Temporal smoothing of a motion with one ``strength`` knob: a zero-lag local quadratic fit for the body.

Each coordinate at frame t becomes the value at t of a quadratic fitted by weighted least
squares to the frames around t (tricube weights over a radius of ``strength`` x 0.28 s; a
Savitzky-Golay-like filter). Extraction is offline, so the window is centred: nothing lags.
A quadratic follows constant acceleration exactly, so a fast limb's swing and its
turnarounds pass through; only the frame-to-frame jitter around them is removed. A
speed-adaptive low-pass (One Euro, used before) slows to its lowest cutoff exactly at a
turnaround, where the speed is zero, and flattened the peaks of a waving arm or a marching
knee by 2-5 px: on the child and upper-body hard cases it cost PCK@0.02 against raw MediaPipe.

One MediaPipe frame can put a joint 20-30 px off where it is on the frames around it (an elbow
passing behind the body in a turn). A plain fit spreads that error over its neighbours; so the fit
is made twice, the second time with each sample weighed by how far it lay from the first
(:func:`outlier_trust`, bisquare weights as in robust LOWESS): the stray frame is pulled back onto
its neighbours' track instead. Pixels decide; world and camera joints take the same weights.

The window never reaches across a break: a missing value (NaN stays NaN and is not filled)
or a jump, a one-frame step of a landmark over 3x its steps just before and after and over
5% of the person's size. That is MediaPipe swapping left and right (a portrait at +-70 deg of
head yaw) or re-detecting, not motion; a fit across it would smear the jump over its
neighbours.

First, frames where MediaPipe read the body from behind for a moment (left and right swapped)
are mirrored back (:mod:`side_swaps`). Body (pixels, world and camera space) and hands take the fit. The face mesh and the person
box keep the forward-backward One Euro filter (:mod:`one_euro`) at the same strength.

MediaPipe Pose's own landmark filter still runs first (``extract.POSE_FILTER``). Measured with it
off and this fit given a window per sample (the widest of 1-5x the radius whose confidence
interval still meets the narrower ones'), on cached extractions: PCK@0.02 over raw +0.019 on our
14 clips (with it on: +0.007), +0.023 on 72 held-out clips (+0.010), +0.014 on 8 fresh ones
(+0.004); jitter 0.38-0.42x raw (0.53-0.56x). But keypoint targets missed: ours 1 (head-turn clip,
mean px 3.81 for 3.78; with it on 0), held-out 4 (4), fresh 2 (0). Pose's filter holds a still
joint for ~2 s, so it keeps the first frame's reading (taken in the detector's crop), which here
lies nearer the truth than the tracked crop's later readings; no centred fit of the unfiltered
landmarks gets that back (even a clip-long mean of that clip's still ankle: 2.10 px off, raw
1.76). Nor could we redo Pose's filter from the unfiltered landmarks: it scales each landmark's
speed by the size of a crop that MediaPipe's solution API does not return.
"""
from __future__ import annotations

import math

import numpy as np

from ..utils import DreamActorError
from .motion import Motion
from .one_euro import one_euro_many
from .side_swaps import undo_side_swaps

_RADIUS_S = 0.28  # kernel radius at strength 1 (seconds); 0.14 s (3.5 frames at 25 fps) by default
_JUMP_RATIO = 3.0  # a step this many times its neighbours' ...
_JUMP_SHARE = 0.05  # ... and over this share of the person's size is a break, not motion
# A sample this many times its landmark's median distance from the first fit gets no weight in the second
# (Cleveland's robust locally weighted regression: bisquare weights at 6 median residuals).
ROBUST_SCALE = 6.0
MIN_RESIDUAL_PX = 0.5  # ...a landmark that barely moves still allows this much
_CHUNK = 1 << 20  # values per chunk of the fit's running sums (memory stays ~70 MB for long clips)


def kernel_radius(strength: float, fps: float) -> float:
    """The fit's kernel radius in frames for a strength in [0, 1] (<= 1 frame: no smoothing)."""
    s = float(strength)
    if not 0.0 <= s <= 1.0 or math.isnan(s):
        raise DreamActorError(f"smoothing strength must be in [0, 1], got {strength}")
    if not fps > 0:
        raise DreamActorError(f"smoothing: fps must be positive, got {fps}")
    return s * _RADIUS_S * float(fps)


def landmark_segments(points: np.ndarray, scale: float) -> np.ndarray:
    """Segment ids ``[T, N]`` of ``points [T, N, >=2]`` (pixels): a new id after a gap or a jump, -1 where missing."""
    xy = np.asarray(points, np.float64)[..., :2]
    valid = np.isfinite(xy).all(-1)
    step = np.nan_to_num(np.linalg.norm(np.diff(xy, axis=0), axis=-1), nan=0.0)  # [T-1, N]: t -> t+1
    pad = np.zeros((1,) + step.shape[1:])
    around = np.maximum(np.concatenate([pad, step[:-1]]), np.concatenate([step[1:], pad]))
    jump = (step > _JUMP_RATIO * around) & (step > _JUMP_SHARE * scale)
    start = valid.copy()
    start[1:] &= ~valid[:-1] | jump
    return np.where(valid, np.cumsum(start, axis=0), -1)


def _local_quadratic(x: np.ndarray, seg: np.ndarray, radius: float, trust: np.ndarray | None = None) -> np.ndarray:
    """Tricube-weighted quadratic fit of each column of ``x [T, F]`` at every frame, within ``seg``;
    ``trust [T, F]`` (optional) weighs each sample besides."""
    T = x.shape[0]
    reach = int(math.ceil(radius)) - 1
    valid = seg >= 0
    xs = np.where(valid, x, 0.0)
    trust = np.ones_like(xs) if trust is None else np.where(valid, trust, 0.0)
    S = np.zeros((5,) + x.shape)  # sums of w * s^k, k = 0..4 (s: offset in frames)
    B = np.zeros((3,) + x.shape)  # sums of w * x * s^k, k = 0..2
    for s in range(-reach, reach + 1):
        lo, hi = max(0, -s), min(T, T - s)
        if hi <= lo:
            continue
        w = ((seg[lo + s:hi + s] == seg[lo:hi]) & valid[lo:hi]) * (1.0 - (abs(s) / radius) ** 3) ** 3 * trust[lo + s:hi + s]
        wx = w * xs[lo + s:hi + s]
        for k in range(5):
            S[k, lo:hi] += w * float(s) ** k
        for k in range(3):
            B[k, lo:hi] += wx * float(s) ** k
    s0, s1, s2, s3, s4 = S
    # The fit's value at s = 0 is the first row of the 3x3 normal matrix's inverse times B (cofactors).
    c0, c1, c2 = s2 * s4 - s3 * s3, s2 * s3 - s1 * s4, s1 * s3 - s2 * s2
    det = s0 * c0 + s1 * c1 + s2 * c2
    ok = det > 1e-6 * np.maximum(s0, 1e-12) ** 5  # too few frames for a quadratic: keep the raw value
    est = np.where(ok, (c0 * B[0] + c1 * B[1] + c2 * B[2]) / np.where(ok, det, 1.0), xs)
    return np.where(valid, est, np.nan)


def smooth_array(values: np.ndarray, fps: float, strength: float, segments: np.ndarray | None = None,
                 trust: np.ndarray | None = None) -> np.ndarray:
    """Zero-lag local quadratic smoothing of ``values [T, N, ...]`` along time.

    ``segments [T, N]`` (see :func:`landmark_segments`) stops the fit at jumps; without it only
    gaps (NaN) stop it. Each value after axis 1 (x, y, z...) is fitted on its own.
    """
    values = np.asarray(values)
    radius = kernel_radius(strength, fps)
    if radius <= 1.0 or values.shape[0] < 3:
        return values.copy()
    T = values.shape[0]
    flat = values.reshape(T, -1).astype(np.float64)
    if segments is None:  # each value on its own, broken at gaps only
        seg = landmark_segments(flat[:, :, None], math.inf)
    else:
        per = flat.shape[1] // segments.shape[1]
        seg = np.repeat(segments, per, axis=1)
        seg = np.where(np.isfinite(flat), seg, -1)
    if trust is not None:
        trust = np.repeat(np.asarray(trust, np.float64), flat.shape[1] // trust.shape[1], axis=1)
    out = np.empty_like(flat)
    step = max(1, _CHUNK // T)
    for a in range(0, flat.shape[1], step):
        out[:, a:a + step] = _local_quadratic(flat[:, a:a + step], seg[:, a:a + step], radius,
                                              None if trust is None else trust[:, a:a + step])
    return out.reshape(values.shape).astype(values.dtype)


def outlier_trust(points: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """``[T, N]`` bisquare weights of each landmark sample by its distance (pixels) from a first fit:
    1 on the fit, 0 from ``ROBUST_SCALE`` times the landmark's median distance (at least ``MIN_RESIDUAL_PX``)."""
    d = np.linalg.norm(np.asarray(points, np.float64)[..., :2] - np.asarray(fitted, np.float64)[..., :2], axis=-1)
    with np.errstate(invalid="ignore"):
        typical = np.maximum(np.nanmedian(d, axis=0, keepdims=True), MIN_RESIDUAL_PX)
        return np.nan_to_num(np.clip(1.0 - (d / (ROBUST_SCALE * typical)) ** 2, 0.0, 1.0) ** 2, nan=1.0)


def _person_scale(motion: Motion) -> float:
    box = motion.person_box
    diag = np.hypot(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    diag = diag[np.isfinite(diag)]
    return float(np.median(diag)) if diag.size else float(max(motion.width, motion.height))


def smooth_motion(motion: Motion, strength: float = 0.5) -> Motion:
    """A new motion with body, hands, face landmarks and the person box smoothed over time.

    ``strength`` 0 turns smoothing off; 1 is the strongest (a 0.28 s kernel radius for the body
    and hands). The default 0.5 leaves the body keypoints no less accurate than raw MediaPipe on
    the shared and hard-case synthetic sets (PCK@0.02 and mean pixel error) with less jitter.
    Frames where MediaPipe swapped left and right for a moment are mirrored back first
    (``meta["smoothing"]["mirrored_frames"]`` counts them). Flags and head fields are left as they are (the
    head stage reads the smoothed landmarks).
    """
    kernel_radius(strength, motion.fps)  # validates
    if strength == 0:
        return motion.copy()
    scale, fps = _person_scale(motion), motion.fps
    motion, mirrored = undo_side_swaps(motion, scale)
    out = motion.copy()
    # World and camera-space joints break where their pixels jump: the same joint, in other units.
    body = landmark_segments(motion.body_px, scale)
    trust = outlier_trust(motion.body_px, smooth_array(motion.body_px, fps, strength, body))
    out.body_px = smooth_array(motion.body_px, fps, strength, body, trust)
    out.body_world = smooth_array(motion.body_world, fps, strength, body, trust)
    if motion.body_cam is not None:
        out.body_cam = smooth_array(motion.body_cam, fps, strength, body, trust)
    hands = motion.hands_px.reshape(len(motion), -1, motion.hands_px.shape[-1])
    out.hands_px = smooth_array(hands, fps, strength, landmark_segments(hands, scale)).reshape(motion.hands_px.shape)
    # The face is small and turns fast relative to the person: its speed is judged against its own size.
    out.face_px, out.person_box = one_euro_many([motion.face_px, motion.person_box], fps, strength,
                                                [scale * 0.25, scale])
    out.meta["smoothing"] = {"filter": "robust_local_quadratic", "face": "one_euro_zero_lag", "strength": float(strength),
                             "mirrored_frames": len(mirrored)}
    return out
