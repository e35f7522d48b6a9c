"""The head fit redone at the clip's steady head distance, for all frames at once.

On a small or distant face the free fit (:func:`head_pose.fit_head`) can trade pitch for
distance: a face tipped up or down is shorter in the picture, and a rotation slightly too small
plus a head slightly too far explains the landmarks almost as well (a head tipped back 44
degrees read as 25, and 20% too far away). A head does not change size, so with the distance
held at the clip's steady one (:func:`steady_depth`) the shortening can only be explained by the
rotation (:func:`refit_at_depth_batch`).

The same distance tells when FaceMesh's mesh has collapsed (:func:`collapsed_faces`): its landmarks
crowd toward the middle of the face, and the face fit then reads the head smaller (further away)
than the Pose head points do. That per-frame flag is set once here and read by the refit (a
collapsed face is kept only where its pitch agrees with the head points'), the sphere's size (a
collapsed face does not size it) and, through ``Motion.meta["head_face_health"]``, the height.
"""
from __future__ import annotations

import numpy as np

from .point_sources import MEDIAPIPE

# Seconds over which the head's distance is taken as steady (a running median of the face fits').
DEPTH_WINDOW_S = 2.0
_ITERATIONS = 30  # Levenberg-Marquardt steps (a start 20 degrees off converges in ~10)
SIZE_WINDOW_S = 0.6  # ...judged per frame and over this many seconds (a lone frame amid collapsed ones is too)


def steady_depth(depths: np.ndarray, fps: float, window_s: float = DEPTH_WINDOW_S) -> np.ndarray:
    """``[T]`` running median (log scale, over ``window_s`` seconds) of per-frame distances, NaN where
    none was fitted nearby; frames without a distance take their neighbours'."""
    from scipy.ndimage import median_filter

    depths = np.asarray(depths, np.float64)
    have = np.isfinite(depths) & (depths > 0)
    out = np.full(len(depths), np.nan)
    if not have.any():
        return out
    idx = np.flatnonzero(have)
    size = max(1, int(round(window_s * fps)) | 1)
    steady = median_filter(np.log(depths[idx]), size=min(size, len(idx) // 2 * 2 + 1), mode="nearest")
    return np.exp(np.interp(np.arange(len(depths)), idx, steady))


def collapsed_faces(face_radius_px: np.ndarray, point_radius_px: np.ndarray, fps: float,
                    ratio: float = MEDIAPIPE.collapsed_face_ratio) -> np.ndarray:
    """``[T]`` True where the face fit reads the head under ``ratio`` of the head-point fit's size (the head
    points' source's ``collapsed_face_ratio``, :mod:`point_sources`), on the frame itself or as the median over
    ``SIZE_WINDOW_S`` around it (frames where either fit is missing are never flagged). Both radii are the free
    fits' (pixels)."""
    from scipy.ndimage import median_filter

    with np.errstate(invalid="ignore", divide="ignore"):
        log_q = np.log(np.asarray(face_radius_px, np.float64) / np.asarray(point_radius_px, np.float64))
    both = np.isfinite(log_q)
    out = np.zeros(len(log_q), bool)
    if both.any():
        size = max(1, int(round(SIZE_WINDOW_S * fps)) | 1)
        windowed = median_filter(log_q[both], size=min(size, both.sum() // 2 * 2 + 1), mode="nearest")
        out[both] = np.minimum(log_q[both], windowed) < np.log(ratio)
    return out


def _rotate(w: np.ndarray) -> np.ndarray:
    """``[N, 3, 3]`` rotations of axis-angle vectors ``[N, 3]`` (Rodrigues)."""
    angle = np.linalg.norm(w, axis=1)
    axis = w / np.where(angle > 1e-12, angle, 1.0)[:, None]
    x, y, z = axis.T
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], 1).reshape(-1, 3, 3)
    return np.eye(3) + np.sin(angle)[:, None, None] * k + (1.0 - np.cos(angle))[:, None, None] * (k @ k)


def _residuals(img, obj, ok, k, rot, t):
    """Pixel residuals ``[N, M, 2]`` (0 where a point is missing), rotated model points ``[N, M, 3]``
    and their camera points."""
    q = obj @ rot.transpose(0, 2, 1)
    cam = q + t[:, None]
    uv = np.stack([k[0, 0] * cam[..., 0] / cam[..., 2] + k[0, 2], k[1, 1] * cam[..., 1] / cam[..., 2] + k[1, 2]], -1)
    return np.where(ok[..., None], uv - img, 0.0), q, cam


def _jacobian(q, cam, ok, k):
    """``[N, 2M, 5]`` d(pixels)/d(small rotation on the left, x, y) of every point, 0 where missing."""
    x, y, z = cam[..., 0], cam[..., 1], cam[..., 2]
    qx, qy, qz = q[..., 0], q[..., 1], q[..., 2]
    fu, fv = k[0, 0] / z, k[1, 1] / z
    zero = np.zeros_like(z)
    du = np.stack([-fu * x * qy / z, fu * (qz + x * qx / z), -fu * qy, fu, zero], -1)
    dv = np.stack([-fv * (qz + y * qy / z), fv * y * qx / z, fv * qx, zero, fv], -1)
    jac = np.where(ok[..., None, None], np.stack([du, dv], 2), 0.0)
    return jac.reshape(len(z), -1, 5)


def refit_at_depth_batch(image_pts: np.ndarray, model_pts: np.ndarray, k: np.ndarray, rotations: np.ndarray,
                         translations: np.ndarray, depths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotations ``[N, 3, 3]`` and translations ``[N, 3]`` fitted with each head's distance held.

    ``image_pts`` ``[N, M, 2]`` pixels (NaN rows are left out), ``model_pts`` ``[M, 3]`` head-frame mm,
    ``k`` the intrinsics; ``rotations``/``translations`` the free fits to start from, ``depths``
    ``[N]`` the distances (mm) to hold. Levenberg-Marquardt on (rotation, x, y), all frames at once.
    """
    img = np.asarray(image_pts, np.float64)
    ok = np.isfinite(img).all(-1)
    img = np.where(ok[..., None], img, 0.0)
    obj = np.asarray(model_pts, np.float64)
    depths = np.asarray(depths, np.float64)
    rot = np.asarray(rotations, np.float64).copy()
    t0 = np.asarray(translations, np.float64)
    # Keep each head on the same line of sight, at the new distance.
    t = np.concatenate([t0[:, :2] * (depths / t0[:, 2])[:, None], depths[:, None]], 1)
    res, q, cam = _residuals(img, obj, ok, k, rot, t)
    cost = (res ** 2).sum((1, 2))
    damp = np.full(len(img), 1e-3)
    active = np.ones(len(img), bool)
    for _ in range(_ITERATIONS):
        # Only the frames still improving are computed: the others keep their fit (most settle in
        # ~10 of the 30 steps), and each frame's numbers are the same computed alone or in a batch.
        a = np.flatnonzero(active)
        jac = _jacobian(q[a], cam[a], ok[a], k)
        jtj = jac.transpose(0, 2, 1) @ jac
        jtr = (jac.transpose(0, 2, 1) @ res[a].reshape(len(a), -1, 1))[..., 0]
        # Marquardt's damping: scaled by the diagonal, since rotation (rad) and x, y (mm) differ in unit.
        diag = np.diagonal(jtj, 0, 1, 2)[:, :, None] * np.eye(5) + 1e-9 * np.eye(5)
        step = -np.linalg.solve(jtj + damp[a, None, None] * diag, jtr[..., None])[..., 0]
        new_rot = _rotate(step[:, :3]) @ rot[a]
        new_t = t[a] + np.concatenate([step[:, 3:], np.zeros((len(a), 1))], 1)
        new_res, new_q, new_cam = _residuals(img[a], obj, ok[a], k, new_rot, new_t)
        new_cost = (new_res ** 2).sum((1, 2))
        better = new_cost < cost[a]
        # Done where a step no longer gains anything measurable.
        active[a] = ~(better & (cost[a] - new_cost < 1e-10 * cost[a])) & (damp[a] < 1e8)
        took = a[better]
        rot[took], t[took], res[took] = new_rot[better], new_t[better], new_res[better]
        q[took], cam[took], cost[took] = new_q[better], new_cam[better], new_cost[better]
        damp[a] = np.where(better, damp[a] * 0.3, damp[a] * 10.0)
        if not active.any():
            break
    return rot, t


def refit_at_depth(image_pts: np.ndarray, model_pts: np.ndarray, k: np.ndarray, rotation: np.ndarray,
                   translation: np.ndarray, depth: float) -> tuple[np.ndarray, np.ndarray]:
    """One frame of :func:`refit_at_depth_batch`: ``image_pts`` ``[M, 2]``; returns (rotation, translation)."""
    rot, t = refit_at_depth_batch(np.asarray(image_pts)[None, :, :2], model_pts, k, np.asarray(rotation)[None],
                                  np.asarray(translation, np.float64)[None], np.array([depth], np.float64))
    return rot[0], t[0]
