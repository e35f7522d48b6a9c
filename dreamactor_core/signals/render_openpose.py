"""Wan2.2-Animate style guidance: the OpenPose-like skeleton its pose branch was trained on.

Body: the 18 OpenPose points (nose, neck, shoulders, elbows, wrists, hips,
knees, ankles, eyes, ears) plus one toe per foot, limbs as ellipses in the
classic 17-hue OpenPose palette at 60% brightness and joints as full-colour
dots; hands: 21 points per side with rainbow bones and blue joints; the face is
only nose, eyes and ears. Everything on black, thickness scaled with the frame.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..utils import CancelFn, ProgressFn
from . import draw
from .framing import transform_motion
from .motion import Motion

# OpenPose-18 (+ left toe, right toe) -> MediaPipe Pose index; -1 = neck (shoulder midpoint).
MP33_FOR_OPENPOSE = np.array([0, -1, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7, 31, 32])
OPENPOSE_NAMES = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                  "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
                  "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
                  "left_toe", "right_toe")

# Limbs in OpenPose order (neck-centred), then the two feet (ankle -> toe).
LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
         (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (13, 18), (10, 19))

# The 18 OpenPose hues (limb i and joint i share colour i), then two olive tones for the feet.
BODY_COLORS = np.array(
    [[255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0],
     [0, 255, 0], [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255],
     [0, 0, 255], [85, 0, 255], [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85],
     [200, 200, 0], [100, 100, 0]], dtype=np.float64)
# Limb i takes hue i (the 17 OpenPose limbs), the feet the olive tones; limbs are drawn
# darker than joints, as in OpenPose renders.
LIMB_COLORS = BODY_COLORS[list(range(17)) + [18, 19]] * 0.6

# MediaPipe's 21 hand points use OpenPose's hand topology: wrist, then 4 per finger.
HAND_BONES = tuple((0 if k % 4 == 0 else k, k + 1) for k in range(20))
HAND_COLORS = draw.rainbow(len(HAND_BONES))
HAND_JOINT_COLOR = (0, 0, 255)


def openpose_points(motion: Motion, conf_threshold: float = 0.3) -> np.ndarray:
    """Body points in OpenPose-18 + toes order, ``[T, 20, 2]``, NaN where missing or unsure.

    A joint is dropped when its coordinates are NaN or its confidence is below
    ``conf_threshold``; the neck needs both shoulders.
    """
    px = motion.body_px[..., :2].astype(np.float64).copy()
    conf = motion.body_conf
    px[np.isfinite(conf) & (conf < conf_threshold)] = np.nan
    out = px[:, np.maximum(MP33_FOR_OPENPOSE, 0)]
    out[:, 1] = (px[:, 11] + px[:, 12]) / 2  # NaN if either shoulder is missing
    return out


def default_stick(width: int, height: int) -> int:
    """OpenPose-style stick half-width: 1 px per 200 px of the short side (at least 1)."""
    return max(min(width, height) // 200, 1)


def draw_openpose_frame(canvas: np.ndarray, body: np.ndarray, hands: np.ndarray | None,
                        stick: float, hand_width: float) -> np.ndarray:
    """Draw one frame's skeleton onto ``canvas`` (uint8 RGB) in place and return it.

    ``body`` ``[20, 2]`` from :func:`openpose_points`, ``hands`` ``[2, 21, 2]``
    (NaN rows skipped), ``stick`` the limb half-width, ``hand_width`` the hand
    line width.
    """
    _Strokes(body[None], None if hands is None else hands[None], stick, hand_width).paint(canvas, 0)
    return canvas


class _Strokes:
    """Every frame's limbs, joints and hand bones as arrays ``[T, ...]``, worked out at once in numpy
    (the same numbers the per-shape ``draw`` helpers compute); a frame's Python work is then the
    OpenCV calls. Per-limb and per-joint Python held the GIL for most of the render before."""

    def __init__(self, body: np.ndarray, hands: np.ndarray | None, stick: float, hand_width: float):
        self.polys, self.limb_ok = draw.ellipse_polys(body[:, [a for a, _ in LIMBS]], body[:, [b for _, b in LIMBS]],
                                                      stick)
        self.joints, self.joint_ok = draw.fixed_array(body)
        self.body_r = draw.dot_radius(stick)
        self.hands = hands is not None
        if self.hands:
            self.hand_pts, self.hand_ok = draw.fixed_array(hands)
            self.hand_r = draw.dot_radius(hand_width)
            self.hand_w = max(1, int(round(hand_width)))

    def paint(self, canvas: np.ndarray, i: int) -> None:
        """Frame ``i``: limbs, then joints, then each hand's bones and joints (each skipped where unusable)."""
        for k in np.flatnonzero(self.limb_ok[i]).tolist():
            cv2.fillConvexPoly(canvas, self.polys[i, k], _LIMB_INTS[k], cv2.LINE_8, draw.SHIFT)
        joints = self.joints[i].tolist()
        for j in np.flatnonzero(self.joint_ok[i]).tolist():
            cv2.circle(canvas, joints[j], self.body_r, _BODY_INTS[j], -1, cv2.LINE_AA, draw.SHIFT)
        if not self.hands:
            return
        for pts, ok in zip(self.hand_pts[i].tolist(), self.hand_ok[i].tolist()):
            for k, (a, b) in enumerate(HAND_BONES):
                if ok[a] and ok[b]:
                    cv2.line(canvas, pts[a], pts[b], _HAND_INTS[k], self.hand_w, cv2.LINE_AA, draw.SHIFT)
            for j in range(len(pts)):
                if ok[j]:
                    cv2.circle(canvas, pts[j], self.hand_r, HAND_JOINT_COLOR, -1, cv2.LINE_AA, draw.SHIFT)


# The palette as the ints OpenCV draws (draw.as_color's rounding), made once.
_LIMB_INTS = [draw.as_color(c) for c in LIMB_COLORS]
_BODY_INTS = [draw.as_color(c) for c in BODY_COLORS]
_HAND_INTS = [draw.as_color(c) for c in HAND_COLORS]
BATCH = 8  # frames a render thread paints per task


def render_openpose(motion: Motion, width: int, height: int, *, aspect: str = "letterbox",
                    line_width: float | None = None, conf_threshold: float = 0.3,
                    progress: ProgressFn = None, cancel: CancelFn = None) -> np.ndarray:
    """Render ``motion`` as Wan2.2-Animate pose frames, uint8 ``[T, height, width, 3]`` RGB.

    The motion is framed into ``width x height`` with ``aspect`` (see
    :mod:`.framing`). ``line_width`` is the body limb thickness in pixels
    (default: 2 px per 200 px of the short side); hands are drawn at about half
    of it. Missing joints are skipped; interpolated frames draw like any other.
    """
    width, height = draw.check_canvas_size(width, height)
    framed = transform_motion(motion, width, height, aspect)
    stick = default_stick(width, height) if line_width is None else max(float(line_width) / 2, 0.5)
    hand_width = max(1.0, round(stick * 2 / 3))
    body = openpose_points(framed, conf_threshold)
    hands = framed.hands_px[..., :2].astype(np.float64).copy()
    hconf = framed.hands_conf
    hands[np.isfinite(hconf) & (hconf < conf_threshold)] = np.nan
    t = framed.num_frames
    out = draw.frame_batch(t, height, width)
    strokes = _Strokes(body, hands, stick, hand_width)

    def paint_frames(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            strokes.paint(draw.blank(out[i]), i)

    draw.paint_batches(t, paint_frames, BATCH, progress, cancel)
    return out
