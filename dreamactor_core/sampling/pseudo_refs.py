"""Pseudo-references: the paper's complementary appearance guidance.

A single photo shows one side of a person. DreamActor-M1 first animates the
reference through a short turn-around made from the reference's own pose (its
skeleton and head sphere swept in yaw), then picks frames at chosen yaw angles
and uses them as extra reference images, so unseen sides (profile, back) are
settled once instead of being re-invented in every window.

The sweep turns the whole body about the vertical axis through the hip centre,
yaw(t) = max_yaw * sin(2 pi t / (T - 1)) (0 -> +max -> 0 -> -max -> 0), with
the convention of :mod:`dreamactor_core.signals.motion` (yaw > 0 turns the
subject to their left, the nose moving to image right for a frontal subject).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from ..signals.motion import Motion
from ..utils import DreamActorError

HIPS = (23, 24)
EARS = (7, 8)


def yaw_matrix(deg: float) -> np.ndarray:
    """Camera-frame rotation (x right, y down, z forward) that turns a subject by yaw ``deg``."""
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    # Ry(-yaw): x' = c x - s z, z' = s x + c z
    return np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]], dtype=np.float64)


def _rotate_points(points: np.ndarray, rot: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    out = (points.astype(np.float64) - pivot) @ rot.T + pivot
    return out.astype(np.float32)


def repeat_motion(motion: Motion, frames: int) -> Motion:
    """A ``frames``-long motion that holds frame 0 of ``motion``."""
    out = motion.slice(0, 1)
    for name in ("body_px", "body_conf", "body_world", "hands_px", "hands_conf", "face_px", "face_conf",
                 "head_angles", "head_rotation", "head_center_px", "head_radius_px", "gaze", "person_box",
                 "interpolated", "body_cam"):
        value = getattr(out, name)
        if value is not None:
            setattr(out, name, np.repeat(value, frames, axis=0))
    out.validate()
    return out


def sweep_yaws(frames: int, max_yaw: float) -> np.ndarray:
    """Yaw offsets of the turn-around, degrees, one per frame."""
    t = np.arange(frames, dtype=np.float64)
    return max_yaw * np.sin(2.0 * np.pi * t / max(frames - 1, 1))


def turnaround_motion(reference: Motion, yaws: Sequence[float]) -> Motion:
    """The reference's frame 0 turned by each yaw in ``yaws`` (one output frame per yaw)."""
    if reference.num_frames < 1:
        raise DreamActorError("reference motion: it has no frames; extract it from the reference image first")
    body = reference.body_px[0]
    if not np.isfinite(body[list(HIPS)]).all():
        raise DreamActorError("reference motion: the hips were not found, so the body cannot be turned; "
                              "use a reference that shows the body, or give your own extra reference images")
    out = repeat_motion(reference, len(yaws))
    pivot_px = body[list(HIPS)].mean(0).astype(np.float64)
    head_depth = np.nanmean(body[list(EARS), 2]) if np.isfinite(body[list(EARS), 2]).any() else body[0, 2]
    for k, yaw in enumerate(yaws):
        rot = yaw_matrix(float(yaw))
        out.body_px[k] = _rotate_points(out.body_px[k], rot, pivot_px)
        out.hands_px[k] = _rotate_points(out.hands_px[k].reshape(-1, 3), rot, pivot_px).reshape(2, 21, 3)
        out.face_px[k] = _rotate_points(out.face_px[k], rot, pivot_px)
        out.body_world[k] = _rotate_points(out.body_world[k], rot, np.zeros(3))
        if out.body_cam is not None:
            cam_pivot = out.body_cam[k][list(HIPS)].mean(0).astype(np.float64)
            out.body_cam[k] = _rotate_points(out.body_cam[k], rot, cam_pivot)
        centre = np.array([*out.head_center_px[k], head_depth], dtype=np.float64)
        out.head_center_px[k] = _rotate_points(centre[None], rot, pivot_px)[0, :2]
        r_head = rot @ out.head_rotation[k].astype(np.float64)
        if np.isfinite(r_head).all():
            out.head_rotation[k] = r_head.astype(np.float32)
            f = -r_head[:, 2]
            out.head_angles[k, 0] = math.degrees(math.atan2(f[0], -f[2]))
            out.head_angles[k, 1] = math.degrees(math.atan2(-f[1], math.hypot(f[0], f[2])))
        else:
            out.head_angles[k, 0] = out.head_angles[k, 0] + yaw
        pts = out.body_px[k][np.isfinite(out.body_px[k]).all(1), :2]
        if len(pts):
            lo, hi = pts.min(0), pts.max(0)
            pad = 0.1 * (hi - lo)
            out.person_box[k] = np.concatenate([lo - pad, hi + pad])
    out.meta = dict(out.meta, turnaround_yaws=[float(y) for y in yaws])
    return out


def pick_frames(yaws: Sequence[float], angles: Sequence[float]) -> list[int]:
    """Index of the sweep frame closest to each requested angle."""
    yaws = np.asarray(yaws, dtype=np.float64)
    return [int(np.argmin(np.abs(yaws - a))) for a in angles]


AnimateClip = Callable[[np.ndarray, np.ndarray], np.ndarray]


def make_pseudo_references(reference_image: np.ndarray, reference_motion: Motion, animate_clip: AnimateClip,
                           width: int, height: int, *, angles: Sequence[float] = (-45.0, 45.0),
                           frames: int = 17, style: str = "dreamactor", aspect: str = "letterbox",
                           render=None, crop=None) -> list[tuple[float, np.ndarray]]:
    """Animate the reference through a yaw sweep and return ``(angle, image uint8 [H,W,3])`` pairs.

    ``reference_motion`` is the motion extracted from the reference image, in
    its pixel coordinates. ``animate_clip(guidance [T,H,W,3], faces [T,S,S,3])``
    runs the model for one window and returns uint8 frames. ``render`` and
    ``crop`` default to the signals' ``render_guidance`` and ``crop_faces``.
    """
    if not angles:
        return []
    if frames < 5 or (frames - 1) % 4:
        raise DreamActorError(f"pseudo-reference frames: {frames} must be 4n+1 and at least 5 (e.g. 17)")
    max_yaw = max(abs(float(a)) for a in angles)
    if max_yaw > 180:
        raise DreamActorError(f"pseudo-reference angles: {list(angles)} must lie within [-180, 180] degrees")
    if render is None:
        from ..signals.render_dreamactor import render_guidance as render
    if crop is None:
        from ..signals.face_crops import crop_faces as crop
    yaws = sweep_yaws(frames, max_yaw)
    turn = turnaround_motion(reference_motion, yaws)
    guidance = render(turn, width, height, style=style, aspect=aspect)
    still = np.repeat(np.asarray(reference_image)[None], frames, axis=0)
    faces = crop(still, repeat_motion(reference_motion, frames))
    video = animate_clip(np.asarray(guidance), np.asarray(faces))
    return [(float(a), np.asarray(video[i]).copy()) for a, i in zip(angles, pick_frames(yaws, angles))]
