"""The keypoint source's head-point record: looked up from ``meta["source"]``, it sizes and turns the head."""
from __future__ import annotations

import numpy as np
import pytest

from dreamactor_core.signals import face_geometry as geo
from dreamactor_core.signals.head_pose import camera_matrix, default_focal_px, estimate_head, rotation_from_angles
from dreamactor_core.signals.motion import Motion
from dreamactor_core.signals.point_sources import POINT_SOURCES, point_source
from dreamactor_core.utils import DreamActorError


def _head_points_only(source: str, frames: int = 12, yaw: float = 10.0, face: bool = False) -> tuple[Motion, float]:
    """A motion whose only landmarks are the textbook head points of a head 1.2 m away (with ``face``, also the
    face landmarks where the face model has them), and that head's true radius in pixels."""
    w = h = 512
    k = camera_matrix(w, h, default_focal_px(w, h))
    t = np.array([20.0, -30.0, 1200.0])
    r = rotation_from_angles(yaw, -5.0, 0.0)
    m = Motion.empty(frames, fps=25, width=w, height=h, source=source)
    drawn = [(geo.pose_head_model(), m.body_px)] + ([(geo.face_mesh_model(), m.face_px)] if face else [])
    for (idx, pts), out in drawn:
        uvw = (pts @ r.T + t) @ k.T
        out[:, idx, :2] = uvw[:, :2] / uvw[:, 2:3]
    m.body_conf[:, geo.pose_head_model()[0]] = 0.9
    return m, k[0, 0] * geo.HEAD_RADIUS_MM / t[2]


def test_head_points_without_a_face_are_sized_by_their_source():
    """The same points, no face on any frame: keypoints on the real eyes and ears (an import) read the head at its
    size; MediaPipe's, which it draws narrower than the head, are put on its typical face-to-points scale."""
    imported, truth = _head_points_only("pose_keypoint")
    drawn, _ = _head_points_only("mediapipe")
    a, b = estimate_head(imported), estimate_head(drawn)
    assert a.meta["head_scale"] == b.meta["head_scale"] == "typical"
    np.testing.assert_allclose(a.head_radius_px, truth, rtol=0.01)
    np.testing.assert_allclose(b.head_radius_px / a.head_radius_px, POINT_SOURCES["mediapipe"].face_over_points,
                               rtol=1e-6)
    np.testing.assert_allclose(a.head_angles[:, 0], 10.0, atol=0.5)  # textbook points read on the textbook head


@pytest.mark.parametrize("meta, said", [({"source": "kinect"}, "'kinect'"), ({}, "no 'source'"),
                                        ({"source": ["mediapipe"]}, "['mediapipe']")])
def test_an_unknown_source_is_refused_before_any_fit(meta, said):
    m, _ = _head_points_only("mediapipe", frames=2)
    m.meta = meta
    with pytest.raises(DreamActorError) as err:
        estimate_head(m)
    assert said in str(err.value) and "mediapipe, pose_keypoint" in str(err.value)


def test_an_imported_face_at_the_head_s_size_has_not_collapsed():
    """An import with a face on every frame, its eyes and ears on the real ones: the face reads the head at the
    points' size, which for MediaPipe's narrower points would be a collapsed mesh (flagged on every frame, the
    clip sized on MediaPipe's typical scale: 1.3x too large). On its own source's scale it held."""
    m, truth = _head_points_only("pose_keypoint", face=True)
    out = estimate_head(m)
    assert out.meta["head_face_health"] == ["held"] * m.num_frames and out.meta["head_scale"] == "measured"
    np.testing.assert_allclose(out.head_radius_px, truth, rtol=0.01)
    np.testing.assert_allclose(out.head_angles, np.tile((10.0, -5.0, 0.0), (m.num_frames, 1)), atol=0.5)
