"""What the tracked pose adds to a character mask: a thin body prior and limbs found by colour.

Both work in the mask's frame size; the motion's pixels are scaled to it.
"""
from __future__ import annotations

import cv2
import numpy as np

from .motion import Motion

# MediaPipe Pose 33-point limbs drawn as capsules (index pairs), and the torso quad.
ARM_LIMBS = ((11, 13), (13, 15), (12, 14), (14, 16), (15, 19), (16, 20), (15, 17), (16, 18))
LEG_LIMBS = ((23, 25), (25, 27), (24, 26), (26, 28), (27, 29), (29, 31), (27, 31), (28, 30), (30, 32), (28, 32))
TORSO = (11, 12, 24, 23)
MIN_VISIBILITY = 0.3  # landmarks MediaPipe rates lower are usually guessed behind the body


def frame_points(motion: Motion, t: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Frame ``t``'s body points scaled to ``width`` x ``height``, which of them are usable, and the
    torso length there; None when the body is lost."""
    scale = body_scale(motion, t)
    if not np.isfinite(scale):
        return None
    sx, sy = width / motion.width, height / motion.height
    pts = motion.body_px[t, :, :2] * (sx, sy)
    ok = np.isfinite(pts).all(1) & (np.nan_to_num(motion.body_conf[t]) >= MIN_VISIBILITY)
    return pts, ok, scale * sx


def attached(candidates: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The pixels of ``candidates`` (bool/uint8 ``[H, W]``) 8-connected to any ``seed`` pixel."""
    n, labels = cv2.connectedComponents(candidates.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[seed])] = True
    keep[0] = False
    return keep[labels]


def body_scale(motion: Motion, t: int) -> float:
    """Torso length in pixels (shoulder centre to hip centre), or a third of the person box."""
    p = motion.body_px[t, :, :2]
    torso = np.linalg.norm((p[11] + p[12]) / 2 - (p[23] + p[24]) / 2)
    if np.isfinite(torso) and torso > 1.0:
        return float(torso)
    box = motion.person_box[t]
    return float((box[3] - box[1]) / 3) if np.all(np.isfinite(box)) else float("nan")


def pose_prior(motion: Motion, t: int, height: int, width: int) -> np.ndarray:
    """Thin body drawn from frame ``t``'s landmarks (uint8 0/1 ``[H, W]``), all zero when the body is lost."""
    out = np.zeros((height, width), np.uint8)
    frame = frame_points(motion, t, height, width)
    if frame is None:
        return out
    pts, ok, scale = frame

    def capsule(limbs, radius: float) -> None:
        for a, b in limbs:
            if ok[a] and ok[b]:
                cv2.line(out, _pt(pts[a]), _pt(pts[b]), 1, max(1, int(round(2 * radius))), cv2.LINE_8)

    # Radii are well inside real limbs so the prior adds coverage without spilling into background.
    capsule(ARM_LIMBS, 0.03 * scale)
    capsule(LEG_LIMBS, 0.04 * scale)
    quad = [i for i in TORSO if ok[i]]
    if len(quad) >= 3:
        corners = np.array([pts[i] for i in quad])
        # Shoulder and hip landmarks sit at the joints, near the outline: shrink toward the centre.
        corners = corners.mean(0) + 0.7 * (corners - corners.mean(0))
        cv2.fillConvexPoly(out, np.round(corners).astype(np.int32), 1)
    _hands_and_head(out, motion, t, 0.6)
    return out


def limb_fill(image: np.ndarray, motion: Motion, t: int, mask: np.ndarray) -> np.ndarray:
    """Limb pixels the segmentation dropped, found by colour along each visible limb (bool ``[H, W]``).

    The selfie model often misses a bare arm raised against a background of similar hue.
    Along each limb, a pixel joins the person when its colour is nearer the limb's core
    (the landmarks' line) than the background ring beyond the limb's plausible width,
    and it is connected to that core.
    """
    h, w = mask.shape
    out = np.zeros((h, w), bool)
    frame = frame_points(motion, t, h, w)
    if frame is None:
        return out
    pts, ok, scale = frame
    limbs = [(limb, 0.13) for limb in ARM_LIMBS[:4]] + [(limb, 0.16) for limb in LEG_LIMBS[:4]]
    for (a, b), width in limbs:
        if not (ok[a] and ok[b]):
            continue
        # Work in the limb's own box (ring included): whole-frame canvases per limb cost 10x more.
        reach = int(np.ceil(2 * width * scale)) + 2
        x0 = max(int(min(pts[a, 0], pts[b, 0])) - reach, 0)
        y0 = max(int(min(pts[a, 1], pts[b, 1])) - reach, 0)
        x1 = min(int(max(pts[a, 0], pts[b, 0])) + reach + 1, w)
        y1 = min(int(max(pts[a, 1], pts[b, 1])) + reach + 1, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        pa, pb = _pt(pts[a] - (x0, y0)), _pt(pts[b] - (x0, y0))
        core, zone, ring = (np.zeros((y1 - y0, x1 - x0), np.uint8) for _ in range(3))
        for canvas, radius in ((core, 0.02), (zone, width), (ring, 2 * width)):
            cv2.line(canvas, pa, pb, 1, max(1, int(round(2 * radius * scale))), cv2.LINE_8)
        img = image[y0:y1, x0:x1].astype(np.float32)
        back = (ring > 0) & (zone == 0) & ~mask[y0:y1, x0:x1]
        core_px = core > 0
        if back.sum() < 8 or core_px.sum() < 4:
            continue
        fg, bg = np.median(img[core_px], 0), np.median(img[back], 0)
        if np.linalg.norm(fg - bg) < 20:  # limb and background alike: colour cannot tell them apart
            continue
        near = ((img - fg) ** 2).sum(-1) < ((img - bg) ** 2).sum(-1)
        cand = ((near & (zone > 0)) | core_px).astype(np.uint8)
        out[y0:y1, x0:x1] |= attached(cand, core_px)
    return out


def _hands_and_head(out: np.ndarray, motion: Motion, t: int, head_scale: float) -> None:
    """Fill the hands' landmark hulls and the head sphere (its radius times ``head_scale``) into ``out``."""
    sx, sy = out.shape[1] / motion.width, out.shape[0] / motion.height
    for hand in range(2):
        hp = motion.hands_px[t, hand, :, :2] * (sx, sy)
        hp = hp[np.isfinite(hp).all(1)]
        if len(hp) >= 3:
            cv2.fillConvexPoly(out, cv2.convexHull(np.round(hp).astype(np.int32)), 1)
    centre, radius = motion.head_center_px[t] * (sx, sy), float(motion.head_radius_px[t]) * sx
    if np.isfinite(centre).all() and np.isfinite(radius) and radius > 0:
        cv2.circle(out, _pt(centre), max(1, int(round(head_scale * radius))), 1, -1)


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))



def body_cover(motion: Motion, t: int, height: int, width: int) -> np.ndarray:
    """Generous cover of the body a motion describes in frame ``t`` (bool ``[H, W]``).

    Used in replacement mode for the *new* body (the retargeted motion): it has no
    pixels to segment yet, so its limbs are drawn as wide as real limbs get (arms 0.16,
    legs 0.2 of the torso length on each side), the torso as its full quad grown by the
    same margin, and the head sphere a fifth larger (hair).
    """
    out = np.zeros((height, width), np.uint8)
    frame = frame_points(motion, t, height, width)
    if frame is None:
        return out.astype(bool)
    pts, ok, scale = frame
    for limbs, radius in ((ARM_LIMBS, 0.16), (LEG_LIMBS, 0.2)):
        for a, b in limbs:
            if ok[a] and ok[b]:
                cv2.line(out, _pt(pts[a]), _pt(pts[b]), 1, max(1, int(round(2 * radius * scale))), cv2.LINE_8)
    quad = [i for i in TORSO if ok[i]]
    if len(quad) >= 3:
        corners = np.round(np.array([pts[i] for i in quad])).astype(np.int32)
        cv2.fillConvexPoly(out, corners, 1)
        cv2.polylines(out, [corners], True, 1, max(1, int(round(0.3 * scale))))
    _hands_and_head(out, motion, t, 1.2)
    return out.astype(bool)
