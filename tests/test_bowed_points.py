"""The head points' yaw on a bowed head without a face (bowed_points), on exact synthetic tracks.

A head held turned 30 degrees bows to -55 and comes back up; FaceMesh reads it exactly while the bow is under
40 degrees and loses it beyond; the head points read the yaw 20 degrees too far turned throughout (their pitch
right). Every expected value follows from these tracks.
"""
from __future__ import annotations

import numpy as np

from dreamactor_core.signals.bowed_points import points_over_read, unbow_point_yaw
from dreamactor_core.signals.head_fusion import fuse_head
from dreamactor_core.signals.head_pose import rotation_from_angles

OVER = 20.0


def _bow(yaw: float = -30.0, frames: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True (yaw, pitch) ``[T, 2]``, the face's yaw (NaN past a 40 degree bow) and the head points' angles."""
    pitch = -55.0 * np.sin(np.pi * np.arange(frames) / (frames - 1))
    head = np.stack([np.full(frames, yaw), pitch], 1)
    face = np.where(np.abs(pitch) < 40.0, yaw, np.nan)
    points = np.stack([np.full(frames, yaw + np.sign(yaw) * OVER), pitch, np.zeros(frames)], 1)
    return head, face, points


def test_the_over_read_is_measured_where_the_face_reads_steadily():
    _, face, points = _bow()
    idx, over = points_over_read(face, points[:, 0])
    assert len(idx) >= 3 and np.isfinite(face[idx]).all()
    np.testing.assert_allclose(over, OVER)


def test_a_bowed_head_without_a_face_loses_the_points_over_read():
    head, face, points = _bow()
    out = unbow_point_yaw(points, face)
    lost = np.isnan(face)
    np.testing.assert_allclose(out[lost, 0], head[lost, 0], atol=1e-9)
    np.testing.assert_array_equal(out[~lost], points[~lost])  # a face there: the points stay as read
    np.testing.assert_array_equal(out[:, 1:], points[:, 1:])  # pitch and roll untouched


def test_points_that_agree_with_the_face_or_read_behind_the_head_are_kept():
    head, face, points = _bow()
    agree = points.copy()
    agree[:, 0] = head[:, 0]
    np.testing.assert_array_equal(unbow_point_yaw(agree, face), agree)
    behind = points.copy()
    behind[np.isnan(face), 0] = -150.0
    np.testing.assert_array_equal(unbow_point_yaw(behind, face)[:, 0], behind[:, 0])


def test_the_fusion_reads_a_bowed_head_at_its_yaw():
    """Through fuse_head (a portrait framing: no torso), the bowed frames read the head's -30, not the points' -50."""
    head, face, points = _bow()
    n = len(head)

    def track(angles, have):
        rot = np.full((n, 3, 3), np.nan)
        rot[have] = [rotation_from_angles(y, p, 0.0) for y, p in angles[have]]
        return {"rotation": rot, "center_px": np.full((n, 2), 200.0), "radius_px": np.full(n, 40.0)}

    world = np.zeros((n, 33, 3))
    px = np.concatenate([np.full((n, 33, 2), 200.0), np.zeros((n, 33, 1))], -1)
    seen = np.ones((n, 33), bool)
    seen[:, 23:25] = False
    out = fuse_head(track(head, np.isfinite(face)), track(points[:, :2], np.ones(n, bool)), world, px, seen, 25.0)
    lost = np.isnan(face)
    np.testing.assert_allclose(out["angles"][lost, 0], head[lost, 0], atol=1e-6)
