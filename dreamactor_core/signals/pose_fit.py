"""Rigid poses of a known 3D point set fitted to its 2D projections, for many frames at once.

Each frame's pose (rotation head -> camera, translation) is refined by Levenberg-Marquardt on the pinhole
reprojection error, every frame in one numpy batch: per step the ``[N, 2M, P]`` Jacobians, their ``P x P``
normal equations and the solves are single array operations, where one OpenCV refinement per frame spent most
of its time in the Python around the call. The rotation is updated by a small rotation applied on the left
(``R <- exp([w]x) R``), which has no singularity; the translation by adding to it, with its depth either free
(:func:`fit_poses`, the free fit) or held (``hold_depth``, :mod:`head_depth`'s refit at the steady distance).

A local refinement needs a start near the right minimum: :func:`fit_poses` takes OpenCV's SQPnP per frame,
which finds the global minimum of its own (object-space) error and costs a small part of the refinement.
"""
from __future__ import annotations

import cv2
import numpy as np

# Steps at most (a start 20 degrees off converges in ~10; most frames stop well before).
ITERATIONS = 30
# A frame stops once a step gains less than this share of its cost (converged to float precision).
_TOLERANCE = 1e-10
# Point-frames per chunk of the batch: ~90 kB per [chunk, M] array, so a step's few dozen of them stay in a
# core's L2 cache (measured on the long input's 375 x 343-point refit: 0.45 ms/frame whole, 0.28 in chunks of 32).
CHUNK_POINTS = 11000
# Fewer points than this leave a 6-parameter pose (2 equations per point) without redundancy.
MIN_POINTS = 5


def rotations(w: np.ndarray) -> np.ndarray:
    """``[N, 3, 3]`` rotations of axis-angle vectors ``[N, 3]`` (Rodrigues' formula)."""
    angle = np.linalg.norm(w, axis=1)
    axis = w / np.where(angle > 1e-12, angle, 1.0)[:, None]
    x, y, z = axis.T
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], 1).reshape(-1, 3, 3)
    return np.eye(3) + np.sin(angle)[:, None, None] * k + (1.0 - np.cos(angle))[:, None, None] * (k @ k)


def _residuals(img, obj, ok, k, rot, t):
    """Pixel residuals ``[N, 2, M]`` (u row, v row; 0 where a point is missing: ``ok`` ``[N, M]`` is 1 or 0),
    rotated model points and their camera points ``[N, 3, M]``, from ``img`` ``[N, 2, M]`` and ``obj`` ``[3, M]``
    or ``[N, 3, M]``. Coordinates run along the last axis: every operation below reads contiguous rows."""
    q = rot @ obj
    cam = q + t[:, :, None]
    inv_z = 1.0 / cam[:, 2]
    res = np.empty(img.shape)
    res[:, 0] = (k[0, 0] * cam[:, 0] * inv_z + k[0, 2] - img[:, 0]) * ok
    res[:, 1] = (k[1, 1] * cam[:, 1] * inv_z + k[1, 2] - img[:, 1]) * ok
    return res, q, cam


def _jacobian_t(q, cam, ok, k, hold_depth: bool):
    """``[N, P, 2M]``: the transposed d(pixels)/d(small rotation on the left, x, y[, z]) of every point (u rows,
    then v rows), 0 where missing.

    Written entry by entry into one array: every entry of a point's u (v) row carries k_u / z (k_v / z), so
    the missing points' rows are zeroed through that factor alone."""
    n, m = ok.shape
    inv_z = 1.0 / cam[:, 2]
    a, b = cam[:, 0] * inv_z, cam[:, 1] * inv_z  # normalised image coordinates
    fu, fv = k[0, 0] * inv_z * ok, k[1, 1] * inv_z * ok
    qx, qy, qz = q[:, 0], q[:, 1], q[:, 2]
    jac = np.zeros((n, 5 if hold_depth else 6, 2, m))
    u, v = jac[:, :, 0], jac[:, :, 1]
    u[:, 0], u[:, 1], u[:, 2], u[:, 3] = -fu * a * qy, fu * (qz + a * qx), -fu * qy, fu
    v[:, 0], v[:, 1], v[:, 2], v[:, 4] = -fv * (qz + b * qy), fv * b * qx, fv * qx, fv
    if not hold_depth:
        u[:, 5], v[:, 5] = -fu * a, -fv * b
    return jac.reshape(n, jac.shape[1], 2 * m)


def refine_poses(image_pts: np.ndarray, model_pts: np.ndarray, k: np.ndarray, rotations_start: np.ndarray,
                 translations_start: np.ndarray, *, hold_depth: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotations ``[N, 3, 3]``, translations ``[N, 3]`` refined from the given starts, and their RMS
    reprojection errors ``[N]`` (pixels, over the points seen).

    ``image_pts`` ``[N, M, 2]`` pixels (rows with a NaN are left out), ``model_pts`` ``[M, 3]`` or, one point
    set per frame, ``[N, M, 3]`` (mm); ``k`` the intrinsics. ``hold_depth`` keeps each translation's z.
    Frames go through in chunks of ``CHUNK_POINTS`` points (each frame's numbers do not depend on the chunk).
    """
    img, obj = np.asarray(image_pts, np.float64), np.asarray(model_pts, np.float64)
    rotations_start, translations_start = np.asarray(rotations_start), np.asarray(translations_start)
    size = max(1, CHUNK_POINTS // max(img.shape[1], 1))
    parts = [_refine_chunk(img[s:s + size], obj[s:s + size] if obj.ndim == 3 else obj, k,
                           rotations_start[s:s + size], translations_start[s:s + size], hold_depth)
             for s in range(0, len(img), size)]
    if not parts:
        return np.zeros((0, 3, 3)), np.zeros((0, 3)), np.zeros(0)
    return tuple(np.concatenate(x) for x in zip(*parts))


def _refine_chunk(image_pts, model_pts, k, rotations_start, translations_start, hold_depth):
    """:func:`refine_poses` on one chunk of frames."""
    img = np.asarray(image_pts, np.float64)[..., :2]
    seen = np.isfinite(img).all(-1)
    img = np.where(seen[..., None], img, 0.0).transpose(0, 2, 1).copy()
    ok = seen.astype(np.float64)
    obj = np.asarray(model_pts, np.float64)
    obj = np.ascontiguousarray(np.swapaxes(obj, -1, -2))
    per_frame = obj.ndim == 3
    rot = np.array(rotations_start, np.float64)
    t = np.array(translations_start, np.float64)
    n_free = 2 if hold_depth else 3
    res, q, cam = _residuals(img, obj, ok, k, rot, t)
    cost = (res ** 2).sum((1, 2))
    damp = np.full(len(img), 1e-3)
    active = np.ones(len(img), bool)
    eye = np.eye(3 + n_free)
    for _ in range(ITERATIONS):
        # Only the frames still improving are computed: the others keep their fit, and each frame's
        # numbers are the same computed alone or in a batch.
        a = np.flatnonzero(active)
        # (while every frame is active, plain views: no copies of the [N, 3, M] arrays)
        sel = slice(None) if len(a) == len(img) else a
        obj_a = obj[sel] if per_frame else obj
        jac_t = _jacobian_t(q[sel], cam[sel], ok[sel], k, hold_depth)
        jtj = jac_t @ jac_t.transpose(0, 2, 1)
        jtr = (jac_t @ res[sel].reshape(len(a), -1, 1))[..., 0]
        # Marquardt's damping: scaled by the diagonal, since rotation (rad) and translation (mm) differ in unit.
        diag = np.diagonal(jtj, 0, 1, 2)[:, :, None] * eye + 1e-9 * eye
        step = -np.linalg.solve(jtj + damp[a, None, None] * diag, jtr[..., None])[..., 0]
        new_rot = rotations(step[:, :3]) @ rot[a]
        new_t = t[a] + np.concatenate([step[:, 3:], np.zeros((len(a), 3 - n_free))], 1)
        new_res, new_q, new_cam = _residuals(img[sel], obj_a, ok[sel], k, new_rot, new_t)
        new_cost = (new_res ** 2).sum((1, 2))
        better = new_cost < cost[a]
        # Done where a step no longer gains anything measurable.
        active[a] = ~(better & (cost[a] - new_cost < _TOLERANCE * cost[a])) & (damp[a] < 1e8)
        took = a[better]
        rot[took], t[took], res[took] = new_rot[better], new_t[better], new_res[better]
        q[took], cam[took], cost[took] = new_q[better], new_cam[better], new_cost[better]
        damp[a] = np.where(better, damp[a] * 0.3, damp[a] * 10.0)
        if not active.any():
            break
    return rot, t, np.sqrt(cost / np.maximum(ok.sum(1), 1.0))


def fit_poses(image_pts: np.ndarray, model_pts: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Free pose fits: rotations ``[N, 3, 3]``, translations ``[N, 3]`` (mm) and RMS reprojection errors ``[N]``
    (pixels), all NaN where a frame has fewer than ``MIN_POINTS`` finite points, SQPnP fails, or the fit is not
    finite or puts the points behind the camera.

    ``image_pts`` ``[N, M, 2]`` pixels (rows with a NaN are left out), ``model_pts`` ``[M, 3]`` (mm).
    """
    img = np.ascontiguousarray(np.asarray(image_pts, np.float64)[..., :2])
    obj = np.ascontiguousarray(model_pts, np.float64)
    n = len(img)
    rot, t = np.full((n, 3, 3), np.nan), np.full((n, 3), np.nan)
    ok = np.isfinite(img).all(-1)
    whole = ok.all(1)
    started = []
    for i in np.flatnonzero(ok.sum(1) >= MIN_POINTS):
        # (every point seen, the common case: no copies)
        obj_i, img_i = (obj, img[i]) if whole[i] else (obj[ok[i]], img[i, ok[i]])
        try:
            found, rvec, tvec = cv2.solvePnP(obj_i, img_i, k, None, flags=cv2.SOLVEPNP_SQPNP)
        except cv2.error:
            continue
        if found and np.isfinite(rvec).all() and np.isfinite(tvec).all():
            rot[i], t[i] = cv2.Rodrigues(rvec)[0], tvec.reshape(3)
            started.append(i)
    rms = np.full(n, np.nan)
    if not started:
        return rot, t, rms
    rot[started], t[started], rms[started] = refine_poses(img[started], obj, k, rot[started], t[started])
    bad = ~(np.isfinite(rot).all((1, 2)) & np.isfinite(t).all(1) & (t[:, 2] > 0) & np.isfinite(rms))
    rot[bad], t[bad], rms[bad] = np.nan, np.nan, np.nan
    return rot, t, rms
