"""Head yaw as one track in time, anchored on the frames where the face reads it steadily.

FaceMesh reads a head's yaw within a few degrees where its face is steady (found on the frames either side: picked
up again on a fast turn it lags the head by a frame, 13 degrees at 12 deg/frame) and either turned under
``ANCHOR_DEG`` or agreeing with MediaPipe's head points within ``AGREE_DEG``. Past ~40 degrees the two err in
opposite ways on most heads (the face flattens the turn, saturating near 40-60; the head points over-read it by
10-20, or under-read it on some looks), so where they still agree both hold. These are the **anchors**.

Every other frame's per-frame blend (:func:`head_fusion.fuse_head`) is a loose reading: a saturated face, head
points that over- or under-read by up to 20-25, a torso. A head's yaw changes smoothly, so the track is the one that
stays closest to the blend while bending least (the least squares of its distance to the blend, anchors weighted 1
and other frames ``LOOSE_WEIGHT``, plus ``BEND`` times its squared second differences). Where the face saturates
or is lost for a few frames the anchors' trend on both sides carries the track through (a quick look aside to 80
degrees that the blend reads as 55-60 is raised toward its peak), and over longer runs the blend decides.

The head points' over-read is also carried in time, on a bowed head: a deep bow foreshortens the face until
FaceMesh loses it, and MediaPipe's head points read a bowed head too far turned (a held-out 2.4 m body bowing to -55
with its head held at -35: the points read -55 to -65). It shows beside the anchors nearest in time (the same body's
points read -50 to -56 beside a face reading -25 to -34 as it came up), so on bowed frames without a face their yaw
is turned back by its median there (:func:`unbow_point_yaw`).

Pitch is made a track the same way (:func:`smooth_pitch`), anchored where the face is steady and its pitch under
``PITCH_ANCHOR_DEG``: FaceMesh flattens a deeper bow toward a frontal face as it does a far turn, and the head points
are coarse in pitch, so there the anchors' trend carries the track (no bound: either fit may read a bow short).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import solveh_banded

ANCHOR_DEG = 35.0  # the face reads the yaw within a few degrees below this...
AGREE_DEG = 5.0  # ...and further turned where the head points read it within this
LOOSE_WEIGHT = 0.1  # the per-frame blend's weight off the anchors (1 on them)
# Bend penalty at 25 fps (scaled by fps^4, so it stays the same in seconds): on anchors a swing faster than ~2.9 Hz,
# elsewhere ~1.6 Hz, is halved (the hard-case portrait's look aside is 0.6 Hz, a 360 turn slower still). Half this
# lets the track overshoot quick looks aside (portrait misses on held-out variants grow); 1-2x more changes little.
BEND = 4.0
# A quick look aside (between two anchors at most this far apart) where the blend reads the head past ANCHOR_DEG:
# a saturated face holds the blend back there, so it bounds the turn from below (never past profile). Longer, the
# head may have held still out there, and the anchors' trend would overshoot it.
MAX_EXCURSION_S = 0.8
PROFILE_DEG = 90.0
BOUND_ROUNDS = 8
BOWED_DEG = 25.0  # the points' pitch past which the face's pitch weight starts going (head_fusion.FACE_PITCH_DEG)
PITCH_ANCHOR_DEG = 25.0  # a steady face's pitch is an anchor below this (head_fusion.FACE_PITCH_DEG's start)
SIDE_DEG = 10.0  # an over-read is measured where both fits read the head turned at least this far, the same way
NEAREST = 10  # ...over this many anchors nearest in time
BEHIND_DEG = 100.0  # a reading this far round is past profile: no over-read measured in front applies, no look aside


def face_anchors(face_yaw: np.ndarray, point_yaw: np.ndarray | None = None) -> np.ndarray:
    """``[T]`` frames whose face ``face_yaw`` ``[T]`` is steady (a face on the frames either side too) and reads
    under ``ANCHOR_DEG``, or within ``AGREE_DEG`` of the head points' ``point_yaw`` ``[T]`` where given."""
    f = np.asarray(face_yaw, np.float64)
    have = np.isfinite(f)
    steady = have.copy()
    steady[1:] &= have[:-1]
    steady[:-1] &= have[1:]
    held = np.abs(np.nan_to_num(f, nan=np.inf)) < ANCHOR_DEG
    if point_yaw is not None:
        held |= np.abs(np.nan_to_num(f - np.asarray(point_yaw, np.float64), nan=np.inf)) < AGREE_DEG
    return steady & held


def points_over_read(face_yaw: np.ndarray, point_yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``[M]`` where the head points' over-read is measured, and the over-read there ``[M]`` (degrees,
    ``|points| - |face|``): anchors under ``ANCHOR_DEG`` where both read the head turned the same way."""
    f, p = np.asarray(face_yaw, np.float64), np.asarray(point_yaw, np.float64)
    same = (np.sign(np.nan_to_num(f)) == np.sign(np.nan_to_num(p))) & (np.abs(np.nan_to_num(f)) >= SIDE_DEG)
    idx = np.flatnonzero(face_anchors(f) & np.isfinite(p) & same)
    return idx, np.abs(p[idx]) - np.abs(f[idx])


def unbow_point_yaw(point_a: np.ndarray, face_yaw: np.ndarray) -> np.ndarray:
    """``point_a`` ``[T, 3]`` (yaw, pitch, roll of the head-point fit) with the yaw of the frames that have no face
    (``face_yaw`` ``[T]`` NaN) and a pitch past ``BOWED_DEG`` turned back by the over-read of the nearest measured
    frames (:func:`points_over_read`; none where it is negative or fewer than 3 frames measured it), never past
    frontal; head points read behind the head are left alone."""
    out = np.array(point_a, np.float64)
    idx, over = points_over_read(face_yaw, out[:, 0])
    if len(idx) < 3:
        return out
    yaw = np.nan_to_num(out[:, 0])
    bowed = (np.isnan(face_yaw) & np.isfinite(out).all(1) & (np.abs(np.nan_to_num(out[:, 1])) > BOWED_DEG)
             & (np.abs(yaw) < BEHIND_DEG))
    for t in np.flatnonzero(bowed):
        near = np.argsort(np.abs(idx - t), kind="stable")[:NEAREST]
        out[t, 0] = np.sign(yaw[t]) * max(0.0, abs(yaw[t]) - max(0.0, float(np.median(over[near]))))
    return out


def _bend_least(values: np.ndarray, weights: np.ndarray, bend: float) -> np.ndarray:
    """``[M]`` the track minimising ``sum(weights * (track - values)^2) + bend * sum(second differences^2)``
    (its normal equations are five-banded and positive definite: solved in O(M))."""
    m = len(values)
    if m < 3:
        return np.array(values, np.float64)
    # D2^T D2 (D2: the rows 1, -2, 1) in upper banded form: the second superdiagonal, the first, the diagonal.
    c = (1.0, -2.0, 1.0)
    d2 = np.zeros((3, m))
    for k in range(3):
        d2[2, k:k + m - 2] += c[k] ** 2
    for k in range(2):
        d2[1, 1 + k:k + m - 1] += c[k] * c[k + 1]
    d2[0, 2:] = c[0] * c[2]
    ab = bend * d2
    ab[2] += weights
    return solveh_banded(ab, weights * values)


def _look_asides(anchors: np.ndarray, yaw: np.ndarray, fps: float) -> np.ndarray:
    """``[T]`` the frames of quick looks aside: runs of frames that are no anchors, between two anchors at most
    ``MAX_EXCURSION_S`` apart, where ``yaw`` reads past ``ANCHOR_DEG`` and in front of ``BEHIND_DEG``."""
    out = np.zeros(len(anchors), bool)
    idx = np.flatnonzero(anchors)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= MAX_EXCURSION_S * fps + 1:
            out[a + 1:b] = True
    turned = np.abs(np.nan_to_num(yaw))
    return out & (turned >= ANCHOR_DEG) & (turned < BEHIND_DEG)


def _track(values: np.ndarray, anchors: np.ndarray, fps: float, bound: np.ndarray | None = None) -> np.ndarray:
    """``values`` ``[T]`` (NaN where unknown) as the track that bends least near them, each run of known frames on
    its own: ``anchors`` weighted 1, other frames ``LOOSE_WEIGHT``; on frames ``bound`` a value only bounds the
    track's magnitude from below (it stops counting where the track reads further; capped at ``PROFILE_DEG``)."""
    out = np.array(values, np.float64)
    weights = np.where(anchors, 1.0, LOOSE_WEIGHT)
    bound = np.zeros(len(out), bool) if bound is None else bound
    bend = BEND * (fps / 25.0) ** 4
    known = np.isfinite(out)
    edges = np.flatnonzero(np.diff(np.r_[0, known.astype(np.int8), 0]))
    for start, stop in zip(edges[::2], edges[1::2]):
        read, w, bounded = out[start:stop], weights[start:stop], bound[start:stop]
        if not anchors[start:stop].any():
            # No face anchors the run (keypoints imported without a face, a clip seen from behind): the blend is
            # all there is, so it keeps the anchors' weight; 0.1 everywhere would smooth it ten times as hard.
            w = np.ones_like(w)
        beyond = np.zeros(len(read), bool)
        for _ in range(BOUND_ROUNDS):  # the frames the track passes change a few times, then hold
            track = _bend_least(read, np.where(beyond, 0.0, w), bend)
            passed = bounded & (np.sign(track) == np.sign(read)) & (np.abs(track) > np.abs(read))
            if (passed == beyond).all():
                break
            beyond = passed
        out[start:stop] = np.where(beyond, np.sign(track) * np.minimum(np.abs(track), PROFILE_DEG), track)
    return out


def smooth_yaw(yaw: np.ndarray, face_yaw: np.ndarray, point_yaw: np.ndarray, fps: float) -> np.ndarray:
    """``yaw`` ``[T]`` (degrees, unwrapped; NaN where unknown) as the track that bends least near it, each run of
    known frames on its own, with the anchors of ``face_yaw`` / ``point_yaw`` ``[T]`` (:func:`face_anchors`)
    weighted 1 and the other frames ``LOOSE_WEIGHT``. On a quick look aside (:func:`_look_asides`) ``yaw`` only
    bounds the turn: where the track reads the head more turned, ``yaw`` stops counting (up to ``PROFILE_DEG``)."""
    anchors = face_anchors(face_yaw, point_yaw)
    return _track(yaw, anchors, fps, _look_asides(anchors, np.asarray(yaw, np.float64), fps))


def smooth_pitch(pitch: np.ndarray, face_pitch: np.ndarray, fps: float) -> np.ndarray:
    """``pitch`` ``[T]`` (degrees; NaN where unknown) as the track that bends least near it, anchored (weight 1) where
    the face ``face_pitch`` ``[T]`` is steady and under ``PITCH_ANCHOR_DEG``, other frames ``LOOSE_WEIGHT``."""
    f = np.asarray(face_pitch, np.float64)
    steady = face_anchors(np.where(np.isfinite(f), 0.0, np.nan))
    return _track(pitch, steady & (np.abs(np.nan_to_num(f, nan=np.inf)) < PITCH_ANCHOR_DEG), fps)
