"""A head turn's far end, where no fit reads it, from how fast the turn went out and came back.

FaceMesh reads a head's yaw within a few degrees up to ~35 degrees and flattens it beyond (saturated near
40-60, depending on the face). Past that the head points carry the yaw, and how far they are off depends on
the person's looks: on the hard-case portrait and most held-out bodies they read a 75-85 degree turn 10-20
degrees over, but on one (dark skin, light hair) the face reads 40 and the points 54 for a 78-degree turn.
No single frame tells these apart.

Time does: a head's yaw is continuous, and so is its speed. Where a turn goes out past what the face reads
and comes back within ``MAX_EXCURSION_S``, the cubic through the last two frames the face reads on each side
(their yaw and so the speed going out and coming back) says how far it must at least have gone. The fused yaw
is raised to it where it reads the head less turned, and never lowered: a head that holds still at the far
end would make the cubic overshoot, and there the fits' own reading stays. The cubic is capped at profile.
"""
from __future__ import annotations

import numpy as np

ANCHOR_DEG = 35.0  # the face reads the yaw within a few degrees below this...
SATURATED_DEG = 40.0  # ...and flattens it past this: an excursion has the face lost or reading beyond it
OUT_DEG = 50.0  # ...and a fit reading past this (a head held near 35-40, its face flickering, is not one)
MAX_EXCURSION_S = 0.8  # a quick look aside; longer, the head may have held still out there
PROFILE_DEG = 90.0  # the cubic never reads past profile
BEHIND_DEG = 110.0  # a track that reads this far is turning round, not looking aside
# The two anchors on each side lie at most this many frames apart: the speed going out and coming back is
# read over a short step, not across a gap where the face flickered.
ANCHOR_STEP = 2


def face_anchors(face_yaw: np.ndarray) -> np.ndarray:
    """``[T]`` frames whose face yaw is read within ``ANCHOR_DEG`` and whose neighbours have a face too: FaceMesh
    picking a face up again on a fast turn lags the head by a frame (13 degrees at 12 deg/frame)."""
    have = np.isfinite(face_yaw)
    steady = have.copy()
    steady[1:] &= have[:-1]
    steady[:-1] &= have[1:]
    return steady & (np.abs(np.nan_to_num(face_yaw, nan=np.inf)) < ANCHOR_DEG)


def raise_to_turn(yaw: np.ndarray, face_yaw: np.ndarray, point_yaw: np.ndarray, fps: float) -> np.ndarray:
    """``yaw`` ``[T]`` (degrees, unwrapped; NaN where unknown) raised, between two runs of :func:`face_anchors`
    of ``face_yaw`` ``[T]``, to the cubic through the last two anchors on each side where it reads the head more
    turned (at most ``PROFILE_DEG``). Only where the excursion lasts at most ``MAX_EXCURSION_S``, the face is lost
    or reads past ``SATURATED_DEG`` somewhere in it, and ``yaw`` or the head points' ``point_yaw`` ``[T]`` read
    past ``OUT_DEG`` (a face that saturates holds the fused yaw back: that is what is mended here)."""
    out = np.array(yaw, np.float64)
    idx = np.flatnonzero(face_anchors(face_yaw) & np.isfinite(out))
    longest = MAX_EXCURSION_S * fps
    for j in range(1, len(idx) - 2):
        a, b = idx[j], idx[j + 1]
        if b - a < 2 or b - a > longest or idx[j - 1] < a - ANCHOR_STEP or idx[j + 2] > b + ANCHOR_STEP:
            continue
        gap = np.arange(a + 1, b)
        wrapped = (out[gap] + 180.0) % 360.0 - 180.0
        if not np.isfinite(wrapped).all() or np.abs(wrapped).max() >= BEHIND_DEG:
            continue
        side = np.sign(wrapped.mean())
        furthest = np.fmax(np.abs(wrapped), np.abs((np.asarray(point_yaw, np.float64)[gap] + 180.0) % 360.0 - 180.0))
        lost = ~(np.abs(np.asarray(face_yaw, np.float64)[gap]) <= SATURATED_DEG)  # (NaN: no face)
        if not (furthest > OUT_DEG).any() or not lost.any() or side == 0:
            continue
        ends = np.array([idx[j - 1], a, b, idx[j + 2]])
        cubic = np.polyval(np.polyfit(ends - a, face_yaw[ends], 3), gap - a)
        reach = np.minimum(cubic * side, PROFILE_DEG)
        further = reach > wrapped * side
        out[gap[further]] += (side * reach - wrapped)[further]
    return out
