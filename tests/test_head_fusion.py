"""Head pose all round: blending face, head points and torso, on exact synthetic tracks.

The tracks here are built from known rotations, so every expected value is exact: a whole
turn must read continuously through +-180 degrees, the torso must carry the head where no
fit holds (a back view), and the sphere must stay on every tracked frame (its size: test_head_size.py).
"""
from __future__ import annotations

import numpy as np
import pytest

from dreamactor_core.signals.head_fusion import (POINT_YAW_CAP_DEG, TORSO_LEAD_FRAMES, blend_angles, fade, face_weight,
                                                fuse_head, torso_rotations)
from dreamactor_core.signals.head_pose import angles_from_rotation, rotation_from_angles
from dreamactor_core.signals.torso_turn import facing_flips, sharpen_turn, steady_runs
from head_tracks import head_fit, turned_body


def test_torso_axes_follow_the_turn():
    yaws = np.array([0.0, 45.0, 135.0, -170.0])
    world, _ = turned_body(yaws)
    for r, yaw in zip(torso_rotations(world), yaws):
        np.testing.assert_allclose(angles_from_rotation(r)[:2], [yaw, 0.0], atol=1e-6)


def test_fade_ramps_in_and_out_and_weights_taper():
    w = fade(np.array([0, 1, 1, 1, 1, 1, 0], bool), 2)
    np.testing.assert_allclose(w, [0, 0.5, 1, 1, 1, 0.5, 0])
    np.testing.assert_allclose(fade(np.ones(4, bool), 3), 1.0)  # the clip's ends are not a gap
    np.testing.assert_allclose(face_weight(np.array([0.0, 45.0, 60.0, 75.0, -90.0])), [1, 1, 0.5, 0, 0])


def test_blend_is_a_circular_mean():
    a = np.array([[170.0, 0, 0]])
    b = np.array([[-170.0, 10, 0]])
    out = blend_angles([a, b], [np.ones(1), np.ones(1)])
    assert abs(abs(out[0, 0]) - 180.0) < 1e-6 and out[0, 1] == pytest.approx(5.0)
    assert np.isnan(blend_angles([a], [np.zeros(1)])).all()


def test_whole_turn_is_continuous_and_back_views_keep_the_sphere():
    """0 -> 360 degrees: the face holds near frontal, nothing holds behind; yaw never jumps."""
    yaws = np.linspace(0.0, 360.0, 73)[:-1]
    world, px = turned_body(yaws - TORSO_LEAD_FRAMES * 5.0)  # the pose trails the turn, as MediaPipe's does
    wrapped = (yaws + 180) % 360 - 180
    face = head_fit(wrapped, np.abs(wrapped) < 50)
    points = head_fit(wrapped, np.abs(wrapped) < 95, radius=36.0)
    seen = np.ones((len(yaws), 33), bool)
    out = fuse_head(face, points, world, px, seen, fps=25.0)
    assert np.isfinite(out["angles"]).all() and np.isfinite(out["radius_px"]).all()
    np.testing.assert_allclose(out["angles"][:, 0], yaws, atol=1e-3)  # unwrapped: reads 0 -> 355
    assert np.abs(np.diff(out["angles"][:, 0])).max() < 6.0
    # The torso carries the turned head past the face (the head points, exact here, agree with it).
    assert {"face", "torso"} <= set(out["source"])
    # The head-point radius is put on the face's scale, so the size does not jump behind.
    np.testing.assert_allclose(out["radius_px"], 40.0, rtol=1e-6)


def test_torso_only_counts_where_shoulders_and_hips_are_seen():
    """A portrait's invented hips must not turn the head: with no fit and no seen torso, no sphere."""
    yaws = np.zeros(10)
    world, px = turned_body(yaws)
    seen = np.ones((10, 33), bool)
    seen[:, 23:25] = False
    nothing = head_fit(yaws, np.zeros(10, bool))
    out = fuse_head(nothing, nothing, world, px, seen, fps=25.0)
    assert np.isnan(out["angles"]).all() and out["source"] == ["none"] * 10


def _yaw(r: np.ndarray) -> float:
    return float(angles_from_rotation(r)[0])


def test_shoulders_in_the_picture_correct_a_lagging_world_turn():
    """The world pose reads 45 (or 130) where the picture shows 60 (or 150): the shoulders' foreshortening
    pulls the turn most of the way back; near frontal, where it says little, the world pose's angle stays."""
    for world_yaw, true_yaw, want, tol in ((45.0, 60.0, 60.0, 3.0), (130.0, 150.0, 150.0, 9.0), (5.0, 0.0, 5.0, 1e-6)):
        world, _ = turned_body(np.array([world_yaw]))
        _, px = turned_body(np.array([true_yaw]))
        out = sharpen_turn(torso_rotations(world), px, world)
        assert abs(_yaw(out[0]) - want) <= tol, (world_yaw, true_yaw, _yaw(out[0]))
        assert abs(_yaw(out[0]) - true_yaw) < abs(world_yaw - true_yaw) + 1e-6


def _body_with_feet(yaws_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_body` standing on feet: heels and toes (foot 0.41 of the torso's height, toes to the camera at 0)."""
    world, _ = turned_body(yaws_deg)
    feet = {29: (0.1, 0.9, 0.05), 30: (-0.1, 0.9, 0.05), 31: (0.1, 0.95, -0.15), 32: (-0.1, 0.95, -0.15)}
    for i, yaw in enumerate(yaws_deg):
        r = rotation_from_angles(yaw, 0.0, 0.0)
        for j, p in feet.items():
            world[i, j] = r @ np.array(p)
    return world, np.concatenate([200.0 + 300.0 * world[..., :2], np.zeros((len(yaws_deg), 33, 1))], -1)


def test_the_feet_read_back_views_where_the_world_pose_lags():
    """A whole turn whose world pose lags the picture by 20 degrees: near the back view the shoulders'
    width cannot say so (a cosine is flat there), the feet across the picture can."""
    true = np.linspace(0.0, 360.0, 41)[:-1]
    world, _ = _body_with_feet(true - 20.0)
    _, px = _body_with_feet(true)
    back = np.abs((true + 180.0) % 360.0 - 180.0) > 135.0
    errors = {}
    for name, feet_seen in (("without", None), ("with", np.ones(40, bool))):
        yaw = np.array([_yaw(r) for r in sharpen_turn(torso_rotations(world), px, world, 25.0, feet_seen)])
        errors[name] = np.abs((yaw - true + 180.0) % 360.0 - 180.0)[back].mean()
    assert errors["with"] < 2.0 < 5.0 < errors["without"], errors
    # Feet that are never seen apart (a portrait's invented ones, all on one spot) are not used.
    flat = px.copy()
    flat[:, 29:33] = px[:, [23]]
    yaw = np.array([_yaw(r) for r in sharpen_turn(torso_rotations(world), flat, world, 25.0, np.ones(40, bool))])
    plain = np.array([_yaw(r) for r in sharpen_turn(torso_rotations(world), flat, world, 25.0)])
    np.testing.assert_allclose(yaw, plain)


def test_a_face_on_the_back_of_a_spinning_head_is_not_a_face():
    """FaceMesh "finds" a face at 35 degrees on two frames where the head is turned 110-125 and the Pose
    head points failed: it is dropped, the torso carries the head there."""
    yaws = np.linspace(0.0, 360.0, 41)[:-1]
    world, px = _body_with_feet(yaws - TORSO_LEAD_FRAMES * 9.0)  # trailing, as MediaPipe's
    wrapped = (yaws + 180) % 360 - 180
    face = head_fit(wrapped, np.abs(wrapped) < 50)
    points = head_fit(wrapped, np.abs(wrapped) < 95)
    for t in (12, 13):  # 108 and 117 degrees
        face["rotation"][t], face["center_px"][t], face["radius_px"][t] = rotation_from_angles(35.0, 0, 0), (200, 5), 40
    out = fuse_head(face, points, world, px, np.ones((40, 33), bool), fps=25.0)
    assert np.abs(out["angles"][12:14, 0] - yaws[12:14]).max() < 3.0
    assert out["source"][12] == out["source"][13] == "torso"


def test_a_torso_that_jumps_faster_than_a_pirouette_starts_a_new_run():
    yaw = np.array([0.0, 9.0, 18.0, 160.0, 165.0, 20.0, 29.0])
    runs = steady_runs(yaw, np.ones(7, bool), fps=25.0)
    assert list(runs) == [0, 0, 0, 1, 1, 2, 2]
    assert list(steady_runs(np.arange(0, 360, 9.0), np.ones(40, bool), 25.0)) == [0] * 40  # a fast whole turn


def test_a_head_turning_on_a_still_body_is_not_held_back_by_the_torso():
    """The face is lost at 50 degrees while the head goes on to 75 and the body stays: the head points carry it."""
    head = np.linspace(0.0, 75.0, 30)
    world, px = turned_body(np.zeros(30))
    out = fuse_head(head_fit(head, head < 50), head_fit(head, np.ones(30, bool)), world, px, np.ones((30, 33), bool),
                    25.0)
    assert np.abs(out["angles"][-8:, 0] - head[-8:]).max() < 6.0
    assert set(out["source"][-8:]) == {"body"}


def test_a_body_swapped_left_for_right_does_not_turn_the_head():
    """MediaPipe flips the body for ten frames while the face is lost; the head points hold 30 degrees."""
    body = np.zeros(30)
    body[10:20] = 170.0
    world, px = turned_body(body)
    head = np.full(30, 30.0)
    face = head_fit(head, np.r_[np.ones(10, bool), np.zeros(10, bool), np.ones(10, bool)])
    out = fuse_head(face, head_fit(head, np.ones(30, bool)), world, px, np.ones((30, 33), bool), 25.0)
    np.testing.assert_allclose(out["angles"][:, 0], 30.0, atol=1.0)


def test_a_face_fit_stuck_near_60_degrees_does_not_hold_the_yaw_back():
    """FaceMesh's yaw tops out near 60 while the head turns on to 75 (the points follow): the yaw
    follows the points there, and the face's pitch still counts."""
    head = np.linspace(0.0, 75.0, 30)
    world, px = turned_body(np.zeros(30))
    seen = np.ones((30, 33), bool)
    seen[:, 23:25] = False  # a portrait: no torso
    face = head_fit(np.minimum(head, 58.0), np.ones(30, bool))
    out = fuse_head(face, head_fit(head, np.ones(30, bool)), world, px, seen, 25.0)
    far = head >= 68
    assert np.abs(out["angles"][far, 0] - head[far]).max() < 1.5  # (the track rounds the face's corner at 58)
    assert np.abs(out["angles"][head <= 40, 0] - head[head <= 40]).max() < 0.05


def test_head_points_that_over_read_the_face_leave_the_saturated_face_a_share():
    """Where the face holds (15-45 degrees) the head points read the head 20% more turned than it is; past
    that FaceMesh tops out at 50 while the head goes on to 62 (the points to 74). The face keeps enough of the
    yaw to take back part of the points' over-read (with points that agree with the face it keeps none: the
    test above)."""
    head = np.linspace(0.0, 62.0, 30)
    world, px = turned_body(np.zeros(30))
    seen = np.ones((30, 33), bool)
    seen[:, 23:25] = False  # a portrait: no torso
    points = 1.2 * head
    face = head_fit(np.minimum(head, 50.0), np.ones(30, bool))
    out = fuse_head(face, head_fit(points, np.ones(30, bool)), world, px, seen, 25.0)
    far = head >= 55
    err = out["angles"][far, 0] - head[far]
    assert (np.abs(err) < 0.75 * (points - head)[far]).all()
    assert (out["angles"][far, 0] > 55.0).all()  # still far past where the face stops


def test_head_points_past_their_saturation_read_as_the_cap():
    """A portrait held between 62 and 72 degrees after FaceMesh lost it: MediaPipe's head points no longer
    follow the turn there and their fit scatters over 78-88. Those readings count as ``POINT_YAW_CAP_DEG``,
    nearer the head than any of them; readings below it are kept."""
    head = np.concatenate([np.linspace(0.0, 62.0, 15), 67.0 + 5.0 * np.sin(np.arange(15))])
    world, px = turned_body(np.zeros(30))
    seen = np.ones((30, 33), bool)
    seen[:, 23:25] = False  # a portrait: no torso
    points = head.copy()
    points[15:] = 83.0 + 5.0 * np.cos(np.arange(15))
    out = fuse_head(head_fit(head, head < 50), head_fit(points, np.ones(30, bool)), world, px, seen, 25.0)
    np.testing.assert_allclose(out["angles"][20:, 0], POINT_YAW_CAP_DEG, atol=1.5)  # (the track bends into it)
    assert (np.abs(out["angles"][20:, 0] - head[20:]) < np.abs(points - head)[20:]).all()
    np.testing.assert_allclose(out["angles"][10:15, 0], head[10:15], atol=2.5)  # (the track bends into the cap)


def test_a_tracked_head_that_no_source_reads_is_held_between_its_neighbours():
    """A portrait near profile: FaceMesh is lost and the head points fit nothing for five frames while the
    person is tracked (no torso: the hips are not seen). The sphere stays, turning on between the frames around."""
    head = np.linspace(40.0, 80.0, 30)
    world, px = turned_body(np.zeros(30))
    seen = np.ones((30, 33), bool)
    seen[:, 23:25] = False
    gap = (np.arange(30) >= 20) & (np.arange(30) < 25)
    out = fuse_head(head_fit(head, np.arange(30) < 10), head_fit(head, ~gap), world, px, seen, 25.0)
    assert np.isfinite(out["angles"]).all() and np.isfinite(out["radius_px"]).all()
    np.testing.assert_allclose(out["angles"][gap, 0], head[gap], atol=1.0)  # (bent only by the points' cap at 75)
    assert [out["source"][i] for i in np.flatnonzero(gap)] == ["held"] * 5


def test_a_collapsed_face_does_not_swing_the_yaw():
    """A walk with the head held at 24 degrees; FaceMesh's mesh collapsed (flagged) and its yaw swings by 12
    while the head points hold: the yaw follows the points."""
    t = np.arange(30)
    world, px = turned_body(np.full(30, 24.0))
    face = head_fit(24.0 + 12.0 * np.sin(t / 3.0), np.ones(30, bool))
    out = fuse_head(face, head_fit(np.full(30, 24.0), np.ones(30, bool)), world, px, np.ones((30, 33), bool), 25.0,
                    face_collapsed=np.ones(30, bool))
    np.testing.assert_allclose(out["angles"][:, 0], 24.0, atol=2.5)  # (the torso, at 1%, carries a little of the face)


def test_a_face_fit_flattening_a_deep_bow_does_not_hold_the_pitch_back():
    """A head bowing to -55 degrees that FaceMesh reads as -38 (its face foreshortened top to bottom):
    past FACE_PITCH_DEG the pitch follows the head points; a small nod stays the face's."""
    bow = np.linspace(0.0, -55.0, 30)
    world, px = turned_body(np.zeros(30))
    seen = np.ones((30, 33), bool)
    seen[:, 23:25] = False  # no torso: the fits alone
    face, points = head_fit(np.zeros(30), np.ones(30, bool)), head_fit(np.zeros(30), np.ones(30, bool))
    for i, p in enumerate(bow):
        face["rotation"][i] = rotation_from_angles(0.0, max(p, -38.0) + 2.0, 0.0)
        points["rotation"][i] = rotation_from_angles(0.0, p, 0.0)
    out = fuse_head(face, points, world, px, seen, 25.0)
    deep = bow <= -47
    assert np.abs(out["angles"][deep, 1] - bow[deep]).max() < 1.5  # (the track rounds the hand-over to the points)
    small = bow >= -20
    assert np.abs(out["angles"][small, 1] - (bow[small] + 2.0)).max() < 0.5


def test_the_back_view_is_placed_where_the_shoulders_look_widest():
    """The world pose's depth changes sign three frames after the shoulders looked widest (the body
    passed its back view there): the change is moved to that frame; a change with no wider frame
    near it stays."""
    depth = np.array([0.5, 0.4, 0.3, 0.2, 0.1, 0.05, -0.1, -0.3])
    width = np.array([0.80, 0.90, 0.97, 0.95, 0.90, 0.85, 0.80, 0.70])
    np.testing.assert_array_equal(facing_flips(depth, width, 5), [1, 1, -1, -1, -1, -1, -1, -1])
    clipped = np.array([0.80, 0.90, 1.0, 1.0, 0.90, 0.85, 0.80, 0.70])  # a flat top: its middle
    np.testing.assert_array_equal(facing_flips(depth, clipped, 5), [1, 1, 1, -1, -1, -1, -1, -1])
    widest_at_the_change = np.array([0.70, 0.75, 0.80, 0.85, 0.90, 0.95, 0.97, 0.90])
    np.testing.assert_array_equal(facing_flips(depth, widest_at_the_change, 5), [1, 1, 1, 1, 1, 1, -1, -1])


def test_a_held_head_takes_the_loose_head_point_fit_where_there_is_one():
    """At the turn's extreme (the gap's middle) interpolation can only read the head less turned than its
    neighbours; a loose head-point fit, where the strict one failed, reads the extreme itself."""
    head = np.concatenate([np.linspace(40.0, 70.0, 15), np.linspace(70.0, 40.0, 15)])
    world, px = turned_body(np.zeros(30))
    seen = np.ones((30, 33), bool)
    seen[:, 23:25] = False
    gap = (np.arange(30) >= 12) & (np.arange(30) < 18)
    loose = head_fit(head + 3.0, gap)["rotation"]
    loose[gap & (np.arange(30) == 17)] = np.nan        # one gap frame without even a loose fit
    out = fuse_head(head_fit(head, np.arange(30) < 5), head_fit(head, ~gap), world, px, seen, 25.0,
                    rough_rotation=loose)
    took = gap & (np.arange(30) != 17)
    interpolated = np.interp(np.arange(30), [11, 18], head[[11, 18]])  # (flat 63.6: the track is far nearer)
    assert (np.abs(out["angles"][took, 0] - head[took] - 3.0) < 0.5 * np.abs(interpolated - head - 3.0)[took]).all()
    assert abs(out["angles"][17, 0] - head[17]) < abs(interpolated[17] - head[17])
    assert all(out["source"][i] == "held" for i in np.flatnonzero(gap))
