"""Head yaw as one track in time (yaw_track), on synthetic yaw tracks with exact truth.

- A look aside like the hard-case portrait (+-80 degrees, 40 frames at 25 fps): the face reads it exactly up to 45
  degrees and saturates at 42 beyond; the per-frame blend reads the far part as 55 (head points that under-read).
- A head held turned 30 degrees bows to -55 and comes back up: FaceMesh reads it exactly while the bow is under 40
  degrees and loses it beyond; the head points read the yaw 20 degrees too far turned throughout (their pitch right).

Every expected value follows from these tracks.
"""
from __future__ import annotations

import numpy as np

from dreamactor_core.signals.head_fusion import fuse_head
from dreamactor_core.signals.head_pose import rotation_from_angles
from dreamactor_core.signals.yaw_track import (ANCHOR_DEG, PITCH_ANCHOR_DEG, PROFILE_DEG, _bend_least, face_anchors,
                                               points_over_read, smooth_pitch, smooth_yaw, unbow_point_yaw)

FPS = 25.0
OVER = 20.0


def _look_aside(peak: float = 80.0, frames: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True yaw, the face's reading (saturated at 42 past 45) and a blend that reads the far part as 55."""
    head = peak * np.sin(2.0 * np.pi * np.arange(frames) / frames)
    face = np.where(np.abs(head) < 45.0, head, np.sign(head) * 42.0)
    blend = np.where(np.abs(head) < 40.0, head, np.sign(head) * 55.0)
    return head, face, blend


def _bow(yaw: float = -30.0, frames: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True (yaw, pitch) ``[T, 2]``, the face's yaw (NaN past a 40 degree bow) and the head points' angles."""
    pitch = -55.0 * np.sin(np.pi * np.arange(frames) / (frames - 1))
    head = np.stack([np.full(frames, yaw), pitch], 1)
    face = np.where(np.abs(pitch) < 40.0, yaw, np.nan)
    points = np.stack([np.full(frames, yaw + np.sign(yaw) * OVER), pitch, np.zeros(frames)], 1)
    return head, face, points


def _portrait(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World pose, pixel pose and seen landmarks of a portrait framing (no torso: the hips unseen)."""
    seen = np.ones((n, 33), bool)
    seen[:, 23:25] = False
    return np.zeros((n, 33, 3)), np.concatenate([np.full((n, 33, 2), 200.0), np.zeros((n, 33, 1))], -1), seen


def _track(angles: np.ndarray, have: np.ndarray) -> dict:
    """A fit's track of (yaw, pitch) ``angles`` ``[T, 2]`` on the frames ``have``."""
    n = len(angles)
    rot = np.full((n, 3, 3), np.nan)
    rot[have] = [rotation_from_angles(y, p, 0.0) for y, p in angles[have]]
    return {"rotation": rot, "center_px": np.full((n, 2), 200.0), "radius_px": np.full(n, 40.0)}


def test_the_track_is_the_least_squares_solution_and_keeps_a_steady_turn():
    rng = np.random.default_rng(0)
    for m in (3, 4, 9):
        values, weights = rng.normal(size=m), rng.uniform(0.1, 1.0, m)
        d2 = np.diff(np.eye(m), 2, axis=0)
        np.testing.assert_allclose(_bend_least(values, weights, 2.0),
                                   np.linalg.solve(np.diag(weights) + 2.0 * d2.T @ d2, weights * values), atol=1e-9)
    # A whole turn at a steady speed does not bend: it is kept as read, past +-180 (the yaw is unwrapped).
    turn = np.linspace(0.0, 360.0, 60)
    np.testing.assert_allclose(smooth_yaw(turn, np.full(60, np.nan), turn, FPS), turn, atol=1e-9)


def test_anchors_are_steady_faces_under_the_band_or_agreeing_with_the_head_points():
    face = np.array([0.0, 10.0, np.nan, 20.0, 30.0, 40.0, 50.0, 60.0])
    # A face picked up again is no anchor (it lags a fast turn), nor is a face past ANCHOR_DEG on its own...
    assert face_anchors(face).tolist() == [True, False, False, False, True, False, False, False]
    # ...unless the head points read it within AGREE_DEG.
    points = np.array([0.0, 10.0, 0.0, 20.0, 30.0, 70.0, 53.0, 75.0])
    assert face_anchors(face, points).tolist() == [True, False, False, False, True, False, True, False]


def test_a_quick_look_aside_is_carried_towards_its_peak_by_the_faces_trend():
    head, face, blend = _look_aside()
    out = smooth_yaw(blend, face, blend, FPS)
    far = np.abs(head) > 70.0
    # Both ways round the far end reads closer to the head than the blend's 55...
    assert np.abs(out[far] - head[far]).mean() < 0.6 * np.abs(blend[far] - head[far]).mean()
    assert (np.abs(out[far]) > np.abs(blend[far])).all()
    # ...and the anchors stay within a few degrees of the face that reads them.
    anchored = face_anchors(face, blend)
    assert anchored.sum() >= 12 and np.abs(out[anchored] - head[anchored]).max() < 3.0


def test_a_fast_wide_swing_is_raised_up_to_profile_and_not_past_it():
    head, face, blend = _look_aside(peak=160.0)  # the anchors' trend passes profile
    out = smooth_yaw(blend, face, blend, FPS)
    assert np.abs(out).max() == PROFILE_DEG


def test_a_head_held_turned_for_long_is_left_to_the_blend():
    """A turn out to 70 held for two seconds, which the blend reads as 60: the hold's middle keeps the blend's 60."""
    head = np.concatenate([np.linspace(0.0, 70.0, 8), np.full(50, 70.0), np.linspace(70.0, 0.0, 8)])
    face = np.where(head < 45.0, head, 42.0)
    blend = np.where(head < 40.0, head, 60.0)
    out = smooth_yaw(blend, face, blend, FPS)
    np.testing.assert_allclose(out[20:46], 60.0, atol=0.5)


def test_runs_apart_are_smoothed_apart():
    """Two runs of known frames at different yaws, with no frame between them known: neither pulls the other."""
    yaw = np.r_[np.full(10, 20.0), np.full(5, np.nan), np.full(10, -40.0)]
    out = smooth_yaw(yaw, yaw, yaw, FPS)
    np.testing.assert_allclose(out[:10], 20.0, atol=1e-9)
    np.testing.assert_allclose(out[15:], -40.0, atol=1e-9)
    assert np.isnan(out[10:15]).all()


def test_the_fusion_raises_a_look_aside_its_head_points_under_read():
    """Through fuse_head: a portrait (no torso) whose face saturates at 42 and whose head points read 55 at the far
    end of an 80 degree look aside."""
    head, face_yaw, points = _look_aside()
    n = len(head)
    zero = np.zeros(n)
    out = fuse_head(_track(np.c_[face_yaw, zero], np.ones(n, bool)), _track(np.c_[points, zero], np.ones(n, bool)),
                    *_portrait(n), FPS)
    far = np.abs(head) > 70.0
    assert np.abs(out["angles"][far, 0] - head[far]).mean() < 0.6 * np.abs(points[far] - head[far]).mean()
    np.testing.assert_allclose(out["angles"][far, 1], 0.0, atol=1e-6)  # the pitch is not touched


def test_the_over_read_is_measured_where_the_face_reads_steadily():
    _, face, points = _bow()
    idx, over = points_over_read(face, points[:, 0])
    assert len(idx) >= 3 and np.isfinite(face[idx]).all() and (np.abs(face[idx]) < ANCHOR_DEG).all()
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
    """Through fuse_head (a portrait framing: no torso), the bowed frames read the head's -30, not the points' -50
    (within the 2 degrees by which the head points pull the frames with a face, which the track carries over)."""
    head, face, points = _bow()
    n = len(head)
    out = fuse_head(_track(head, np.isfinite(face)), _track(points[:, :2], np.ones(n, bool)), *_portrait(n), FPS)
    lost = np.isnan(face)
    np.testing.assert_allclose(out["angles"][lost, 0], head[lost, 0], atol=3.5)


def test_a_bow_read_coarsely_past_the_faces_range_is_carried_by_its_trend():
    """A bow to -55 and back (40 frames): the face reads the pitch exactly while under PITCH_ANCHOR_DEG; past it the
    blend scatters by +-4 degrees from frame to frame (coarse head points). The track is nearer the head there,
    and keeps the anchors."""
    head, _, _ = _bow()
    pitch = head[:, 1]
    face = np.where(np.abs(pitch) < 40.0, pitch, np.nan)
    loose = np.abs(pitch) >= PITCH_ANCHOR_DEG
    blend = np.where(loose, pitch + 4.0 * (-1.0) ** np.arange(len(pitch)), pitch)
    out = smooth_pitch(blend, face, FPS)
    assert np.abs(out - pitch)[loose].mean() < 0.5 * np.abs(blend - pitch)[loose].mean()
    anchored = ~loose & np.isfinite(face)
    assert anchored.sum() >= 10 and np.abs(out - pitch)[anchored].max() < 1.0
