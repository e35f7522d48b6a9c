"""Which body landmarks were actually seen: inside the picture and rated visible.

MediaPipe Pose always returns all 33 landmarks. For a portrait it invents legs
below the frame, and for an upper-body shot it guesses the knees and feet. Those
guesses are plausible but unobserved, so nothing that places or sizes the body
(root placement, alignment onto a reference, the up direction) may follow them.
A landmark counts as *reliable* when MediaPipe rates it visible and it lies inside
the image (a small margin outside is allowed: a wrist at the edge is still seen).
"""
from __future__ import annotations

import numpy as np

from .motion import Motion

MIN_VISIBILITY = 0.5
EDGE_MARGIN = 0.02  # share of the image size a landmark may sit outside the picture and still count


def reliable_landmarks(motion: Motion, min_visibility: float = MIN_VISIBILITY) -> np.ndarray:
    """``[T, 33]`` bool: the landmark is inside the image (with margin) and rated visible."""
    px = np.asarray(motion.body_px[..., :2], dtype=np.float64)
    conf = np.nan_to_num(np.asarray(motion.body_conf, dtype=np.float64), nan=0.0)
    mx, my = EDGE_MARGIN * motion.width, EDGE_MARGIN * motion.height
    with np.errstate(invalid="ignore"):
        inside = ((px[..., 0] >= -mx) & (px[..., 0] <= motion.width - 1 + mx)
                  & (px[..., 1] >= -my) & (px[..., 1] <= motion.height - 1 + my))
    return inside & np.isfinite(px).all(-1) & (conf >= min_visibility)


def all_reliable(mask: np.ndarray, landmarks) -> np.ndarray:
    """``[T]`` bool: every landmark of ``landmarks`` is reliable in that frame."""
    return np.asarray(mask)[:, list(landmarks)].all(-1)
