"""The head sphere's centre and steady size, from the per-frame face and head-point fits.

:mod:`head_fusion` decides how much each fit counts on each frame; this module turns those weights into
one sphere: the size is a weighted mean in log scale, held steady with a running median, with the head
points put on the face fit's scale (MediaPipe's read heads smaller; where no frame measured by how much, their
source's typical scale, :mod:`point_sources`) and a collapsed face mesh
(:func:`head_depth.collapsed_faces`) left out of it. Frames without any fit (back views) take the size
from their neighbours in time and place the centre at the ears, at the nearest fitted frame's offset.

Whether the sphere's size was measured on the clip (the face-to-head-point scale measured where both held) or is
the typical scale is decided here, once; the head stage records it (``meta["head_scale"]``) and the height reads it.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from .point_sources import MEDIAPIPE, PointSource

SIZE_WINDOW_S = 0.6  # running median of the radius (log scale)
# ...and a clip measures its own on at least this many frames where the face held: one or two frames at the edge
# of a collapse are partly collapsed themselves (the 360 turns and a child of the held-out variants, 1-2 such
# frames at 1.11-1.13x, gave spheres of 0.78-0.89 of the head). A shorter clip (a reference photo is one frame)
# needs every frame: it has no collapse to be at the edge of.
MIN_SCALE_FRAMES = 3
_EARS = (7, 8)  # MediaPipe Pose ear landmarks


def hold_nearest(values: np.ndarray, have: np.ndarray) -> np.ndarray:
    """``values`` with rows where ``have`` is False copied from the nearest row in time that has one."""
    idx = np.flatnonzero(have)
    if len(idx) == 0:
        return values
    pos = np.arange(len(values))
    right = np.clip(np.searchsorted(idx, pos), 0, len(idx) - 1)
    left = np.clip(right - 1, 0, len(idx) - 1)
    pick = np.where(np.abs(idx[left] - pos) <= np.abs(idx[right] - pos), idx[left], idx[right])
    return values[pick]


def sphere_track(face_fit: dict, point_fit: dict, w_face: np.ndarray, w_point: np.ndarray, body_px: np.ndarray,
                 fps: float, collapsed: np.ndarray,
                 points: PointSource = MEDIAPIPE) -> tuple[np.ndarray, np.ndarray, str]:
    """Sphere centre ``[T, 2]``, a steady radius ``[T]`` and where its size comes from, from the fits
    (``{"center_px", "radius_px"}``, NaN where a fit failed) and their blend weights (``w_face`` ``[T]``,
    ``w_point`` ``[T, 3]``), carried through frames without one; ``collapsed`` ``[T]`` the frames whose face
    does not size it; ``points`` the record of the keypoint source that drew the head points. The scale is
    ``"measured"`` (the face sized the head on this clip), ``"typical"`` (not measured here: the head points sized
    it, on their source's ``face_over_points``) or ``"none"`` (no fit on any frame)."""
    n = len(w_face)
    wf = np.where(np.isfinite(face_fit["radius_px"]), w_face, 0.0)
    wp = np.where(np.isfinite(point_fit["radius_px"]), w_point[:, 0], 0.0)
    # The head-point fit reads the head smaller than the face fit does (turned, more so): put it
    # on the face fit's scale, measured where both held.
    log_f = np.log(np.nan_to_num(face_fit["radius_px"], nan=1.0))
    log_p = np.log(np.nan_to_num(point_fit["radius_px"], nan=1.0))
    # A real head keeps its size against its own ears and eyes. FaceMesh's can shrink (its landmarks
    # crowd toward the middle of the face) while Pose, which reads the head from the whole body, keeps
    # it: where the face collapsed, the head points size the sphere (the face's centre is kept).
    both = (wf > 0) & (wp > 0) & ~collapsed
    if both.sum() >= min(MIN_SCALE_FRAMES, n):
        log_p = log_p + np.median(log_f[both] - log_p[both])
        scale = "measured"
    elif (collapsed & (wf > 0)).any() or both.any():
        # Too few frames measured the two scales: the typical one, and the head points size every frame
        # (a lone face's size against theirs would make the sphere jump).
        log_p = log_p + np.log(points.face_over_points)
        collapsed = np.ones(n, bool)
        scale = "typical"
    elif (wp > 0).any():
        # No face on any frame: the points' source says how they sit on the head (labelled typical, so no height
        # is built on it). MediaPipe Pose draws a head's eyes and ears narrower than they are; a POSE_KEYPOINT
        # import's sit on the real ones (rescaling those read an imported head 1.3x too large).
        log_p = log_p + np.log(points.face_over_points)
        scale = "typical"
    else:
        scale = "measured" if (wf > 0).any() else "none"
    wf_size = np.where(collapsed, 0.0, wf)
    # A collapsed face's frame is sized by its head points, at the face's weight; one whose head points
    # did not fit has nothing to size it and takes the steady size of the frames around (its face still
    # places it).
    wp_size = np.where(collapsed, np.where(np.isfinite(point_fit["radius_px"]), np.maximum(wp, wf), 0.0), wp)
    if not (wf_size + wp_size > 0).any():
        wf_size = wf  # only collapsed faces and no head points anywhere: their own size is all there is
    total = wf + wp
    have = total > 0
    sized = wf_size + wp_size > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        log_r = (wf_size * log_f + wp_size * log_p) / (wf_size + wp_size)
        centre = (wf[:, None] * np.nan_to_num(face_fit["center_px"])
                  + wp[:, None] * np.nan_to_num(point_fit["center_px"])) / total[:, None]
    radius = np.full(n, np.nan)
    out_c = np.full((n, 2), np.nan)
    if not have.any():
        return out_c, radius, scale
    idx = np.flatnonzero(sized)
    size = max(1, int(round(SIZE_WINDOW_S * fps)) | 1)
    steady = median_filter(log_r[idx], size=min(size, len(idx) // 2 * 2 + 1), mode="nearest")
    radius = np.exp(np.interp(np.arange(n), idx, steady))
    # Where no fit held the centre follows the ears, at the offset (in radii) of the nearest fitted frame.
    ears = np.asarray(body_px, np.float64)[:, _EARS, :2].mean(1)
    offset = (centre - ears) / radius[:, None]
    ok = have & np.isfinite(offset).all(1)
    if ok.any():
        offset = hold_nearest(np.where(ok[:, None], offset, 0.0), ok)
    out_c = np.where(have[:, None], centre, ears + offset * radius[:, None])
    return out_c, radius, scale

