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
from .pose_fit import refine_poses

# Seconds over which the head's distance is taken as steady (a running median of the face fits').
DEPTH_WINDOW_S = 2.0
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


def refit_at_depth_batch(image_pts: np.ndarray, model_pts: np.ndarray, k: np.ndarray, rotations: np.ndarray,
                         translations: np.ndarray, depths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotations ``[N, 3, 3]`` and translations ``[N, 3]`` fitted with each head's distance held.

    ``image_pts`` ``[N, M, 2]`` pixels (NaN rows are left out), ``model_pts`` ``[M, 3]`` head-frame mm,
    ``k`` the intrinsics; ``rotations``/``translations`` the free fits to start from, ``depths``
    ``[N]`` the distances (mm) to hold. Levenberg-Marquardt on (rotation, x, y), all frames at once
    (:func:`pose_fit.refine_poses`).
    """
    depths = np.asarray(depths, np.float64)
    t0 = np.asarray(translations, np.float64).reshape(-1, 3)
    # Keep each head on the same line of sight, at the new distance.
    t = np.concatenate([t0[:, :2] * (depths / t0[:, 2])[:, None], depths[:, None]], 1)
    return refine_poses(image_pts, model_pts, k, rotations, t, hold_depth=True)[:2]


def refit_at_depth(image_pts: np.ndarray, model_pts: np.ndarray, k: np.ndarray, rotation: np.ndarray,
                   translation: np.ndarray, depth: float) -> tuple[np.ndarray, np.ndarray]:
    """One frame of :func:`refit_at_depth_batch`: ``image_pts`` ``[M, 2]``; returns (rotation, translation)."""
    rot, t = refit_at_depth_batch(np.asarray(image_pts)[None, :, :2], model_pts, k, np.asarray(rotation)[None],
                                  np.asarray(translation, np.float64)[None], np.array([depth], np.float64))
    return rot[0], t[0]
