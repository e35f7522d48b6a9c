"""A head turn's far end from its speed going out and coming back (turn_peak), on exact synthetic yaw tracks.

The head looks aside and back like the hard-case portrait (+-80 degrees, 40 frames at 25 fps); the face reads it
exactly up to 45 degrees and saturates at 42 beyond, and the fused track reads the far part as 55 (the head points
of a head they under-read). Every expected value follows from the track.
"""
from __future__ import annotations

import numpy as np

from dreamactor_core.signals.head_fusion import fuse_head
from dreamactor_core.signals.turn_peak import PROFILE_DEG, face_anchors, raise_to_turn

FPS = 25.0


def _look_aside(peak: float = 80.0, frames: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True yaw, the face's reading (saturated at 42 past 45) and a fused track that reads the far part as 55."""
    head = peak * np.sin(2.0 * np.pi * np.arange(frames) / frames)
    face = np.where(np.abs(head) < 45.0, head, np.sign(head) * 42.0)
    fused = np.where(np.abs(head) < 40.0, head, np.sign(head) * 55.0)
    return head, face, fused


def test_a_quick_look_aside_is_raised_towards_its_peak_and_never_past_it():
    head, face, fused = _look_aside()
    out = raise_to_turn(fused, face, fused, FPS)
    far = np.abs(head) > 70.0
    # Both ways round, the far end reads closer to the head than the fused track's 55, and no further than it.
    assert (np.abs(out[far] - head[far]) < 0.6 * np.abs(fused[far] - head[far])).all()
    raised = out != fused
    assert raised.sum() >= 10 and (np.abs(out[raised]) <= np.abs(head[raised]) + 1e-9).all()
    assert (np.abs(out) >= np.abs(fused) - 1e-9).all()  # raised, never lowered
    near = np.abs(head) < 35.0
    np.testing.assert_array_equal(out[near], fused[near])


def test_a_track_that_already_reads_further_is_kept():
    head, face, _ = _look_aside()
    fused = np.where(np.abs(head) < 40.0, head, np.sign(head) * 85.0)  # head points that over-read
    np.testing.assert_array_equal(raise_to_turn(fused, face, fused, FPS), fused)


def test_a_head_held_turned_for_long_is_left_to_the_fits():
    """A turn out to 70 held for two seconds: the cubic through its way out and back would overshoot."""
    head = np.concatenate([np.linspace(0.0, 70.0, 8), np.full(50, 70.0), np.linspace(70.0, 0.0, 8)])
    face = np.where(head < 45.0, head, 42.0)
    fused = np.where(head < 40.0, head, 60.0)
    np.testing.assert_array_equal(raise_to_turn(fused, face, fused, FPS), fused)


def test_a_head_held_near_the_anchor_band_is_no_excursion():
    """A bend with the head held near 35 degrees: the face's reading flickers across ANCHOR_DEG; nothing moves."""
    head = 35.0 + 2.0 * np.sin(np.arange(40))
    np.testing.assert_array_equal(raise_to_turn(head, head, head, FPS), head)


def test_a_face_picked_up_again_is_no_anchor_and_the_cubic_stops_at_profile():
    face = np.array([0.0, 10.0, np.nan, 20.0, 30.0, 40.0])
    assert face_anchors(face).tolist() == [True, False, False, False, True, False]
    head, face, fused = _look_aside(peak=160.0, frames=40)  # a fast, wide swing: its cubic passes profile
    out = raise_to_turn(fused, face, fused, FPS)
    assert (out != fused).any()  # the swing is raised...
    assert np.abs(out).max() == PROFILE_DEG  # ...up to profile, not to the cubic's own peak


def test_the_fusion_raises_a_look_aside_its_head_points_under_read():
    """Through fuse_head: a portrait (no torso) whose face saturates at 42 and whose head points read 55 at the far
    end of an 80 degree look aside."""
    head, face_yaw, fused = _look_aside()
    points = np.where(np.abs(head) < 40.0, head, np.sign(head) * 55.0)
    n = len(head)
    world = np.zeros((n, 33, 3))
    px = np.concatenate([np.full((n, 33, 2), 200.0), np.zeros((n, 33, 1))], -1)
    seen = np.ones((n, 33), bool)
    seen[:, 23:25] = False  # a portrait: no torso

    def track(yaws):
        from dreamactor_core.signals.head_pose import rotation_from_angles
        return {"rotation": np.stack([rotation_from_angles(y, 0.0, 0.0) for y in yaws]),
                "center_px": np.full((n, 2), 200.0), "radius_px": np.full(n, 40.0)}

    out = fuse_head(track(face_yaw), track(points), world, px, seen, FPS)
    far = np.abs(head) > 70.0
    assert (np.abs(out["angles"][far, 0] - head[far]) < 15.0).all()
    np.testing.assert_allclose(out["angles"][far, 1], 0.0, atol=1e-6)  # the pitch is not touched
