"""Hand landmarks (MediaPipe Hands, 21 points) on crops around the body's wrists.

In a full-body 512 px frame a hand is 20-40 px wide: Hands' palm detector does not
find it on the whole frame. The body landmarks already say where each hand is
(wrist, pinky, index and thumb knuckles), so :class:`HandTracker` cuts a square
around each visible hand, resamples it to ``crop_px`` pixels, runs one tracking
(video-mode) Hands graph per side there and maps the landmarks back. A hand whose
wrist the body model cannot see is skipped: that saves the model call where it
would find nothing (or the other hand).
"""
from __future__ import annotations

import cv2
import numpy as np

from .face_landmarks import crop_square
from . import mp_call
from .mp_landmarks import landmarks_from_bytes

NUM_HAND_LANDMARKS = 21
# MediaPipe Pose indices per side (0 = subject's left): wrist, pinky, index, thumb, elbow.
_HAND_POSE_POINTS = ((15, 17, 19, 21, 13), (16, 18, 20, 22, 14))


def hand_square(body_px: np.ndarray, side: int, scale: float = 2.4) -> tuple[float, float, float] | None:
    """Centre (cx, cy) and side of a square around one hand from Pose landmarks ``[33, 2+]``.

    The hand's length is estimated from the wrist-to-knuckle distance (about 0.45 of
    the hand) and the forearm (a hand is about 0.75 forearm long; the larger of the
    two guards against foreshortening). Returns None when the points are missing.
    """
    # One gather of the five points (wrist, pinky, index, thumb, elbow): this runs per hand per frame.
    pts = np.asarray(body_px)[list(_HAND_POSE_POINTS[side]), :2].astype(np.float64)
    if not np.isfinite(pts[:4]).all():
        return None
    wrist, elbow = pts[0], pts[4]
    knuckle_mid = pts[1:3].mean(axis=0)  # between the pinky and index knuckles
    reach = float(np.linalg.norm(knuckle_mid - wrist))
    forearm = float(np.linalg.norm(wrist - elbow)) if np.isfinite(elbow).all() else 0.0
    length = max(reach / 0.45, 0.75 * forearm, 8.0)
    # The palm centre lies between the wrist and the knuckles.
    cx, cy = 0.5 * (wrist + knuckle_mid)
    return float(cx), float(cy), length * scale


class HandTracker:
    """Two tracking MediaPipe Hands graphs (one per side) fed with crops around the body's hands.

    ``process(frame, body_px, body_vis)`` returns ``(left, right)``, each ``[21, 3]``
    float32 in frame pixels (z: MediaPipe's relative depth times the crop width in
    frame pixels) or None. ``model_complexity`` 1 is the full landmark model, 0 the lite one.
    """

    def __init__(self, *, crop_px: int = 224, min_visibility: float = 0.5, model_complexity: int = 1):
        self.crop_px = int(crop_px)
        self.min_visibility = float(min_visibility)
        self.model_complexity = int(model_complexity)
        self._graphs: list = [None, None]

    def _graph(self, side: int):
        if self._graphs[side] is None:
            import mediapipe as mp

            self._graphs[side] = mp.solutions.hands.Hands(
                static_image_mode=False, max_num_hands=1, model_complexity=self.model_complexity)
        return self._graphs[side]

    def process_side(self, frame: np.ndarray, body_px: np.ndarray, body_vis: np.ndarray, side: int) -> np.ndarray | None:
        """Landmarks ``[21, 3]`` of one hand (0 = subject's left) or None."""
        wrist_j = _HAND_POSE_POINTS[side][0]
        h, w = frame.shape[:2]
        wrist = body_px[wrist_j, :2]
        if not (body_vis[wrist_j] >= self.min_visibility and -0.1 * w < wrist[0] < 1.1 * w and -0.1 * h < wrist[1] < 1.1 * h):
            return None
        square = hand_square(body_px, side)
        if square is None:
            return None
        cx, cy, size = square
        crop, x0, y0, scale = crop_square(frame, cx, cy, size, self.crop_px, border=cv2.BORDER_CONSTANT)
        hands = mp_call.run(self._graph(side), crop, ("multi_hand_landmarks",))["multi_hand_landmarks"]
        if not hands:
            return None
        norm = landmarks_from_bytes(hands[0])
        out = np.empty_like(norm)
        out[:, :2] = norm[:, :2] * (self.crop_px / scale) + (x0, y0)
        out[:, 2] = norm[:, 2] * (self.crop_px / scale)
        # The crop can hold both hands (hands together): keep it only when its wrist is this wrist.
        if np.linalg.norm(out[0, :2] - wrist) > 0.25 * size:
            return None
        return out

    def process(self, frame: np.ndarray, body_px: np.ndarray, body_vis: np.ndarray) -> tuple:
        """``(left, right)`` hand landmarks of one RGB uint8 frame, each ``[21, 3]`` or None."""
        return tuple(self.process_side(frame, body_px, body_vis, side) for side in (0, 1))

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        for g in self._graphs:
            if g is not None:
                g.close()
        self._graphs = [None, None]
