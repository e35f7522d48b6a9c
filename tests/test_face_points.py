"""The FaceMesh landmarks measured on the head (face_points, face_geometry.face_mesh_model) and the
batched refit at a held distance that uses them (head_depth)."""
from __future__ import annotations

import json

import numpy as np

from dreamactor_core.signals import face_geometry as geo
from dreamactor_core.signals.face_points import FACE_MESH_POINTS, combine, triangulate
from dreamactor_core.signals.head_depth import refit_at_depth_batch
from dreamactor_core.signals.head_pose import angles_from_rotation, camera_matrix, rotation_from_angles


def _clip(points_mm, poses, k, radius_m=0.13):
    """Ground truth and exact landmarks ``[T, 478, 3]`` of a head with ``points_mm`` seen at ``poses``."""
    frames, face = [], np.full((len(poses), 478, 3), np.nan)
    for i, (angles, centre_m) in enumerate(poses):
        r = rotation_from_angles(*angles)
        cam = (points_mm * radius_m / geo.HEAD_RADIUS_MM) @ r.T + np.asarray(centre_m)
        face[i, :len(points_mm), :2] = cam[:, :2] / cam[:, 2:] * k[0, 0] + k[:2, 2]
        frames.append({"head": {"yaw_deg": angles[0], "R_head_to_cam": r.tolist(), "center_cam": list(centre_m),
                                "radius_m": radius_m}})
    return {"camera": {"K": k.tolist()}, "frames": frames}, face


def test_triangulation_recovers_the_points_from_exact_rays():
    rng = np.random.default_rng(0)
    pts = rng.uniform([-60, -40, -110], [60, 100, -20], (FACE_MESH_POINTS, 3))
    k = camera_matrix(384, 384, 576.0)
    poses = [((a, b, 0.0), (0.05 * a / 30, -0.7, 3.0)) for a in (-30, -10, 0, 15, 30) for b in (-15, -5, 5)]
    poses += [((60.0, 0.0, 0.0), (0.0, -0.7, 3.0))] * 5  # turned past MAX_YAW_DEG: not used
    gt, face = _clip(pts, poses, k)
    face[-5:] += 40.0  # would spoil the points if they counted
    face[:, 7] = np.nan  # a landmark never seen
    out = triangulate(face, gt)
    seen = np.arange(FACE_MESH_POINTS) != 7
    np.testing.assert_allclose(out[seen], pts[seen], atol=0.05)
    assert np.isnan(out[7]).all()


def test_combine_keeps_points_the_clips_agree_on_and_mirrors_pairs():
    base = np.full((FACE_MESH_POINTS, 3), np.nan)
    base[0] = (0.4, 30.0, -110.0)  # near the midline
    base[1], base[2] = (-40.0, -8.0, -70.0), (41.0, -8.6, -70.4)  # a left/right pair, slightly off
    base[3] = (-60.0, 20.0, -30.0)  # an outline point that moves from head to head
    clips = [base.copy() for _ in range(3)]
    clips[1][3] += (15.0, 0.0, 20.0)
    clips[2][3] -= (10.0, 5.0, 15.0)
    out = combine(clips)
    assert set(out) == {0, 1, 2}
    assert out[0] == (0.0, 30.0, -110.0)
    np.testing.assert_allclose(out[1], (-40.5, -8.3, -70.2), atol=0.06)
    np.testing.assert_allclose(out[2], (40.5, -8.3, -70.2), atol=0.06)


def test_measured_points_agree_with_the_twelve_point_face():
    idx, pts = geo.face_mesh_model()
    assert len(idx) >= 200, "the refit needs the measured landmarks"
    table = dict(zip(idx.tolist(), pts))
    measured = json.loads(geo.FACE_MESH_POINTS_PATH.read_text())["points"]
    fidx, fpts = geo.face_model()
    for i, p in zip(fidx.tolist(), fpts):
        np.testing.assert_array_equal(table[i], p)  # the twelve keep their table's positions
        if str(i) in measured:  # ...which the measurement, made the same way, reproduces
            assert np.linalg.norm(np.asarray(measured[str(i)]) - p) < 4.0, i
    # Every point lies on the front of the head, inside its sphere.
    assert (np.linalg.norm(pts, axis=1) < geo.HEAD_RADIUS_MM).all() and (pts[:, 2] < 0).all()


def test_batched_refit_recovers_each_frame_at_its_distance():
    idx, pts = geo.face_mesh_model()
    k = camera_matrix(512, 512, 700.0)
    truth = [(-20.0, 35.0, 4.0), (10.0, -25.0, -6.0), (0.0, 5.0, 0.0)]
    centres = np.array([[60.0, -300.0, 3000.0], [-40.0, 100.0, 1500.0], [0.0, 0.0, 800.0]])
    img = np.stack([(pts @ rotation_from_angles(*a).T + c) for a, c in zip(truth, centres)])
    img = img[..., :2] / img[..., 2:] * 700.0 + k[:2, 2]
    img[1, :50] = np.nan  # missing landmarks are left out
    # Started where a free fit on a small face ends: half the pitch, the head 20% too far.
    start = np.stack([rotation_from_angles(a[0], a[1] / 2, a[2]) for a in truth])
    rot, t = refit_at_depth_batch(img, pts, k, start, centres * 1.2, centres[:, 2])
    for r, a in zip(rot, truth):
        np.testing.assert_allclose(angles_from_rotation(r), a, atol=0.05)
    np.testing.assert_allclose(t, centres, atol=0.5)
