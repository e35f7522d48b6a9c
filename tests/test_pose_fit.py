"""The batched pose fit against exact projections of known poses, and against OpenCV's own refinement."""
from __future__ import annotations

import cv2
import numpy as np

from dreamactor_core.signals import face_geometry as geo
from dreamactor_core.signals.head_pose import camera_matrix, default_focal_px, rotation_from_angles
from dreamactor_core.signals.pose_fit import fit_poses, refine_poses


def _project(k, pts):
    uvw = pts @ k.T
    return uvw[..., :2] / uvw[..., 2:3]


def _poses(n, seed=0):
    rng = np.random.default_rng(seed)
    angles = np.stack([rng.uniform(-70, 70, n), rng.uniform(-35, 35, n), rng.uniform(-25, 25, n)], 1)
    rot = rotation_from_angles(*angles.T)
    t = np.stack([rng.uniform(-200, 200, n), rng.uniform(-200, 200, n), rng.uniform(700, 3000, n)], 1)
    return rot, t


def test_exact_projections_recover_every_frames_pose_to_1e_6():
    k = camera_matrix(512, 384, default_focal_px(512, 384))
    _, pts = geo.face_model()
    rot, t = _poses(40)
    img = _project(k, pts @ rot.transpose(0, 2, 1) + t[:, None])
    # Points lost at random (at least 7 of 12 left) and one frame with too few: no fit there, only there.
    rng = np.random.default_rng(1)
    for i in range(0, 40, 3):
        img[i, rng.choice(12, size=rng.integers(1, 6), replace=False)] = np.nan
    img[5, :8] = np.nan
    r_fit, t_fit, rms = fit_poses(img, pts, k)
    fitted = np.arange(40) != 5
    assert np.isnan(rms[5]) and np.isnan(r_fit[5]).all() and np.isnan(t_fit[5]).all()
    np.testing.assert_allclose(r_fit[fitted], rot[fitted], atol=1e-6)
    np.testing.assert_allclose(t_fit[fitted], t[fitted], rtol=1e-6)
    assert rms[fitted].max() < 1e-6


def test_refinement_from_a_rough_start_matches_opencv_on_noisy_points():
    # Noisy points have no exact pose: the batch must land on the minimum OpenCV's Levenberg-Marquardt finds.
    k = camera_matrix(512, 512, default_focal_px(512, 512))
    _, pts = geo.face_model()
    rot, t = _poses(25, seed=2)
    img = _project(k, pts @ rot.transpose(0, 2, 1) + t[:, None])
    img += np.random.default_rng(3).normal(0.0, 1.5, img.shape)
    start_r = rotation_from_angles(8.0, -6.0, 4.0) @ rot
    start_t = t * 1.1
    r_fit, t_fit, rms = refine_poses(img, pts, k, start_r, start_t)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 100, 1e-12)
    for i in range(25):
        rvec, tvec = cv2.solvePnPRefineLM(pts, img[i], k, None, cv2.Rodrigues(start_r[i])[0], start_t[i].reshape(3, 1),
                                          criteria=crit)
        np.testing.assert_allclose(r_fit[i], cv2.Rodrigues(rvec)[0], atol=1e-6)
        # (mm, at 0.7-3 m: OpenCV stops on its own step tolerance)
        np.testing.assert_allclose(t_fit[i], tvec.ravel(), atol=1e-4)
        err = _project(k, pts @ r_fit[i].T + t_fit[i]) - img[i]
        assert abs(rms[i] - np.sqrt((err ** 2).sum(1).mean())) < 1e-9


def test_held_depth_and_per_frame_point_sets():
    # hold_depth keeps z exactly and still recovers the rest; per-frame point sets fit each frame its own points.
    k = camera_matrix(512, 512, default_focal_px(512, 512))
    _, pts = geo.face_model()
    rot, t = _poses(10, seed=4)
    models = pts[None] * np.linspace(0.8, 1.2, 10)[:, None, None]
    img = _project(k, models @ rot.transpose(0, 2, 1) + t[:, None])
    start_r = rotation_from_angles(5.0, 5.0, -3.0) @ rot
    start_t = t + [15.0, -10.0, 0.0]
    r_fit, t_fit, _ = refine_poses(img, models, k, start_r, start_t, hold_depth=True)
    assert (t_fit[:, 2] == t[:, 2]).all()
    np.testing.assert_allclose(r_fit, rot, atol=1e-6)
    np.testing.assert_allclose(t_fit, t, rtol=1e-6)
