"""The head points' yaw on a bowed head that FaceMesh has lost, less their over-read measured against the face.

A deep bow foreshortens the face top to bottom until FaceMesh loses it; MediaPipe's head points then carry the
yaw alone, and on a bowed head they read it too far turned (a held-out 2.4 m body bowing to -55 with its head
held at -35: the points read -55 to -65). Their over-read is a trait of how they sit on this head, and it shows
where the face still reads the yaw steadily next to them (the same body's points read -50 to -56 beside a face
reading -25 to -34 as it came up). So on bowed frames without a face, the points' yaw is turned back by the
median over-read of the nearest frames where the face reads it under ``turn_peak.ANCHOR_DEG`` (never turned
past frontal, and a head point read behind the head is left alone).
"""
from __future__ import annotations

import numpy as np

from .turn_peak import ANCHOR_DEG, face_anchors

BOWED_DEG = 25.0  # the points' pitch past which the face's pitch weight starts going (head_fusion.FACE_PITCH_DEG)
SIDE_DEG = 10.0  # an over-read is measured where both fits read the head turned at least this far, the same way
NEAREST = 10  # ...over this many measured frames nearest in time
BEHIND_DEG = 100.0  # head points read this far round are past profile: no over-read measured in front applies


def points_over_read(face_yaw: np.ndarray, point_yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``[M]`` where the over-read is measured, and the over-read there ``[M]`` (degrees, ``|points| - |face|``)."""
    f, p = np.asarray(face_yaw, np.float64), np.asarray(point_yaw, np.float64)
    same = (np.sign(np.nan_to_num(f)) == np.sign(np.nan_to_num(p))) & (np.abs(np.nan_to_num(f)) >= SIDE_DEG)
    idx = np.flatnonzero(face_anchors(f) & np.isfinite(p) & same)
    return idx, np.abs(p[idx]) - np.abs(f[idx])


def unbow_point_yaw(point_a: np.ndarray, face_yaw: np.ndarray) -> np.ndarray:
    """``point_a`` ``[T, 3]`` (yaw, pitch, roll of the head-point fit) with the yaw of the frames that have no face
    (``face_yaw`` ``[T]`` NaN) and a pitch past ``BOWED_DEG`` turned back by the over-read of the nearest measured
    frames (:func:`points_over_read`; none where it is negative or fewer than 3 frames measured it)."""
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
