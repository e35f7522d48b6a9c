"""The head sphere's size (head_size.sphere_track) and the face-health flag that decides it, on exact tracks.

A FaceMesh face that collapses (reads the head small against MediaPipe's head points) must not shrink the sphere;
the size is measured where the face held, on the points' typical scale where it never did, and a frame with nothing
to size it takes the frames around.
"""
from __future__ import annotations

import numpy as np
import pytest

from dreamactor_core.signals.head_depth import collapsed_faces
from dreamactor_core.signals.head_fusion import fuse_head
from dreamactor_core.signals.head_size import sphere_track
from dreamactor_core.signals.point_sources import MEDIAPIPE, POINT_SOURCES
from head_tracks import head_fit, turned_body


@pytest.mark.parametrize("shrunk", [slice(5, 30), slice(0, 40)])
def test_a_face_mesh_that_shrinks_does_not_shrink_the_sphere(shrunk):
    """FaceMesh reading the face at 0.6 of its size for 25 frames (or the whole clip) while the Pose
    head points keep the head's size: the sphere keeps the size the face had where it held (or the
    head points' size on the face's usual scale)."""
    yaws = np.zeros(40)
    world, px = turned_body(yaws)
    face = head_fit(yaws, np.ones(40, bool))
    points = head_fit(yaws, np.ones(40, bool), radius=40.0 / MEDIAPIPE.face_over_points)
    face["radius_px"][shrunk] = 24.0
    collapsed = collapsed_faces(face["radius_px"], points["radius_px"], fps=25.0)
    np.testing.assert_array_equal(np.flatnonzero(collapsed), np.arange(40)[shrunk])
    out = fuse_head(face, points, world, px, np.ones((40, 33), bool), fps=25.0, face_collapsed=collapsed)
    np.testing.assert_allclose(out["radius_px"], 40.0, rtol=1e-6)
    # The face still places the sphere.
    np.testing.assert_allclose(out["center_px"], np.tile([200.0, 5.0], (40, 1)), atol=1e-6)
    # Measured on the frames where the face held; the typical scale where it never did.
    assert out["scale"] == ("typical" if shrunk == slice(0, 40) else "measured")


def test_the_collapsed_face_flag_reads_each_frame_and_its_neighbours():
    """A face under MediaPipe's collapsed_face_ratio of the head points' size is flagged on its own frame, and so is a
    lone frame that holds its size amid collapsed ones (one frame cannot measure the face's scale); a
    face at its usual scale, or a frame missing either fit, is not."""
    points = np.full(30, 30.0)
    face = points * MEDIAPIPE.face_over_points
    face[1] = points[1] * (MEDIAPIPE.collapsed_face_ratio - 0.02)  # one collapsed frame
    face[10:25] = points[10:25] * 0.9  # a collapsed run with one frame at the usual size inside
    face[17] = points[17] * MEDIAPIPE.face_over_points
    face[27] = np.nan
    points[28] = np.nan
    np.testing.assert_array_equal(np.flatnonzero(collapsed_faces(face, points, fps=25.0)), [1, *range(10, 25)])


def test_a_face_that_held_on_too_few_frames_does_not_set_the_sphere_scale():
    """FaceMesh collapsed on every frame but the first, which reads the head at 0.85 of its size (just above
    the collapse ratio): one frame does not measure the face-to-head-points scale, so the head points size
    every frame on the typical one."""
    yaws = np.zeros(40)
    world, px = turned_body(yaws)
    face = head_fit(yaws, np.ones(40, bool))
    points = head_fit(yaws, np.ones(40, bool), radius=40.0 / MEDIAPIPE.face_over_points)
    face["radius_px"][0] = 34.0
    face["radius_px"][1:] = 24.0
    collapsed = collapsed_faces(face["radius_px"], points["radius_px"], fps=25.0)
    assert not collapsed[0] and collapsed[1:].all()
    out = fuse_head(face, points, world, px, np.ones((40, 33), bool), fps=25.0, face_collapsed=collapsed)
    np.testing.assert_allclose(out["radius_px"], 40.0, rtol=1e-6)
    assert out["scale"] == "typical"  # what the height reads (no height: the size was not measured)


def test_a_single_photo_with_a_held_face_is_sized_by_its_face():
    """A reference photo is one frame: a face that held its size there sizes the sphere (the typical
    face/head-point ratio is for clips whose face never held; it read the references' heads 1-6% large)."""
    face = {"center_px": np.array([[100.0, 80.0]]), "radius_px": np.array([40.0])}
    points = {"center_px": np.array([[101.0, 82.0]]), "radius_px": np.array([40.0 / 1.2])}
    body_px = np.full((1, 33, 3), 50.0)
    centre, radius, scale = sphere_track(face, points, np.ones(1), np.full((1, 3), 0.1), body_px, 25.0,
                                         np.zeros(1, bool))
    assert radius[0] == pytest.approx(40.0) and scale == "measured"
    # The same photo whose mesh collapsed: the head points size it, on the typical scale.
    _, radius, scale = sphere_track(face, points, np.ones(1), np.full((1, 3), 0.1), body_px, 25.0, np.ones(1, bool))
    assert radius[0] == pytest.approx(40.0 / 1.2 * MEDIAPIPE.face_over_points) and scale == "typical"
    # No face at all: nothing measures the points' scale, so their source's typical one sizes them (MediaPipe's
    # draws the head narrower; keypoints imported from another detector sit on the real eyes and ears), and the
    # size is not a measured one.
    no_face = {"center_px": np.full((1, 2), np.nan), "radius_px": np.full(1, np.nan)}
    for source, want in (("mediapipe", 40.0 / 1.2 * MEDIAPIPE.face_over_points), ("pose_keypoint", 40.0 / 1.2)):
        _, radius, scale = sphere_track(no_face, points, np.zeros(1), np.full((1, 3), 0.1), body_px, 25.0,
                                        np.zeros(1, bool), POINT_SOURCES[source])
        assert radius[0] == pytest.approx(want) and scale == "typical"


def test_a_collapsed_face_without_head_points_takes_its_size_from_the_frames_around():
    """A frame whose face collapsed (it does not size the sphere) and whose head points failed to fit
    has nothing to size it: it takes the steady size of the frames around, not the head points' missing
    size (before: their NaN read as 1 px, and a run of such frames outlasting the running median drew a
    sphere of about 1.3 px)."""
    n = 40
    face = {"center_px": np.tile([100.0, 80.0], (n, 1)), "radius_px": np.full(n, 40.0)}
    points = {"center_px": np.tile([101.0, 82.0], (n, 1)), "radius_px": np.full(n, 40.0 / 1.2)}
    body_px = np.full((n, 33, 3), 50.0)
    gap = np.zeros(n, bool)
    gap[15:30] = True  # longer than the 0.6 s running median
    points["radius_px"][gap] = np.nan
    face["radius_px"][gap] = 24.0
    w_point = np.where(gap[:, None], 0.0, 0.1) * np.ones((n, 3))
    for collapsed in (gap, np.ones(n, bool)):  # the clip's scale measured elsewhere / typical everywhere
        centre, radius, _ = sphere_track(face, points, np.ones(n), w_point, body_px, 25.0, collapsed)
        want = 40.0 if not collapsed.all() else 40.0 / 1.2 * MEDIAPIPE.face_over_points
        np.testing.assert_allclose(radius, want, rtol=1e-6)
        np.testing.assert_allclose(centre[gap], [[100.0, 80.0]] * int(gap.sum()))
