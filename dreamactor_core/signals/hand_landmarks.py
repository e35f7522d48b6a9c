"""Hand landmarks (MediaPipe's hand landmark model, 21 points) where the body says the hands are.

In a full-body 512 px frame a hand is 20-40 px wide: Hands' palm detector does not
find it on the whole frame. The body landmarks already say where each hand is
(wrist, pinky, index and thumb knuckles), so :class:`HandTracker` gives MediaPipe's
landmark model (:class:`.hand_region.HandRegionGraph`) the rotated square around
each visible hand that MediaPipe's own tracking would have cut there, and nothing
else runs: no palm detection, no tracking between frames, no handedness. A hand
whose wrist the body model cannot see is skipped: that saves the model call where
it would find nothing (or the other hand).

The lite landmark model costs about half the full one (8 vs 15 ms of CPU per hand
on pub01) and lands as close to the true wrists and knuckles; when it sees no hand
in a square that lies in the frame just after the hand was seen, the full model looks
once more (it finds some of those, mostly hands half hidden behind the body).
"""
from __future__ import annotations

import numpy as np

NUM_HAND_LANDMARKS = 21
# MediaPipe Pose indices per side (0 = subject's left): wrist, pinky, index, thumb, elbow.
_HAND_POSE_POINTS = ((15, 17, 19, 21, 13), (16, 18, 20, 22, 14))


def region_rotation(wrist: np.ndarray, knuckles: np.ndarray) -> float:
    """MediaPipe's rotation (radians) of a hand region whose fingers point from ``wrist`` to ``knuckles``.

    The landmark model was trained on crops turned so the fingers point up; this is the
    angle MediaPipe's own hand graphs compute from their wrist and knuckle points.
    """
    angle = 0.5 * np.pi - np.arctan2(-(knuckles[1] - wrist[1]), knuckles[0] - wrist[0])
    return float((angle + np.pi) % (2.0 * np.pi) - np.pi)


# MediaPipe's tracking graph cuts the next frame's square from the last landmarks: its side
# is 2x the palm's extent (square, long side), its centre shifted towards the fingers. Measured
# against the body landmarks (pub01-05 and the hard-case set, 1145 hands of the full model),
# that square's side is 1.27x the hand length below and its centre lies 0.98 of the way from
# the wrist to the knuckles: the same crop, taken from the body instead. The side is 10% larger
# than that: the body's points are coarser than the hand's own, and a wrist near the square's
# edge is read badly (lite model, same hands: true-wrist error 0.21 palm lengths at 1.25x, 0.17
# at 1.4x; hands found 1108 and 1101, where MediaPipe's own tracking found 1145, more of them wrong).
# For the same reason the centre sits a little nearer the wrist (0.95) than measured (0.98): the wrist
# is the point the square's margin keeps least clear of its edge.
REGION_SIDE, REGION_ALONG = 1.4, 0.95
# The landmark model's choices (see :data:`.hand_region.MODEL_COMPLEXITIES`): 0 = lite, 1 = full.
_COMPLEXITIES = (0, 1)
# A square can hold both hands (hands together): its hand is this one only when the found wrist lies
# within this many hand lengths of the body's wrist (the stock tracker's 0.25 of its 2.4-hand crop).
SAME_WRIST_HANDS = 0.6


def hand_region(body_px: np.ndarray, side: int) -> tuple[float, float, float, float, float] | None:
    """The rotated square ``(cx, cy, side, rotation)`` MediaPipe's landmark model expects around one
    hand (0 = subject's left), and the hand's length, from Pose landmarks ``[33, 2+]``; None when the
    points are missing.

    The hand's length is estimated from the wrist-to-knuckle distance (about 0.45 of
    the hand) and the forearm (a hand is about 0.75 forearm long; the larger of the
    two guards against foreshortening).
    """
    # One gather of the five points (wrist, pinky, index, thumb, elbow): this runs per hand per frame.
    pts = np.asarray(body_px)[list(_HAND_POSE_POINTS[side]), :2].astype(np.float64)
    if not np.isfinite(pts[:4]).all():
        return None
    wrist, elbow = pts[0], pts[4]
    knuckles = pts[1:3].mean(axis=0)  # between the pinky and index knuckles
    reach = float(np.linalg.norm(knuckles - wrist))
    forearm = float(np.linalg.norm(wrist - elbow)) if np.isfinite(elbow).all() else 0.0
    length = max(reach / 0.45, 0.75 * forearm, 8.0)
    cx, cy = wrist + REGION_ALONG * (knuckles - wrist)
    return float(cx), float(cy), REGION_SIDE * length, region_rotation(wrist, knuckles), length


class HandTracker:
    """MediaPipe's hand landmark model on the square around each hand the body landmarks give.

    ``process(frame, body_px, body_vis)`` returns ``(left, right)``, each ``[21, 3]``
    float32 in frame pixels (z: MediaPipe's relative depth in frame pixels) or None.
    ``model_complexity`` 0 is the lite landmark model, 1 the full one; ``fallback_complexity``
    (None: no second look) is the model that looks again where the first saw no hand.
    """

    def __init__(self, *, min_visibility: float = 0.5, model_complexity: int = 0,
                 fallback_complexity: int | None = 1):
        # Checked here, before any frame is read, each naming its argument.
        if model_complexity not in _COMPLEXITIES:
            raise ValueError(f"HandTracker model_complexity must be 0 (lite) or 1 (full), got {model_complexity!r}")
        if fallback_complexity is not None and fallback_complexity not in _COMPLEXITIES:
            raise ValueError("HandTracker fallback_complexity must be 0 (lite), 1 (full) or None (no second look), "
                             f"got {fallback_complexity!r}")
        self.min_visibility = float(min_visibility)
        self.complexities = (int(model_complexity),) + (() if fallback_complexity is None else (int(fallback_complexity),))
        self._graphs: dict = {}
        self._seen = [False, False]  # per side: a hand was found on the last frame looked at

    def _graph(self, complexity: int):
        if complexity not in self._graphs:
            from .hand_region import HandRegionGraph

            self._graphs[complexity] = HandRegionGraph(complexity)
        return self._graphs[complexity]

    def open(self) -> None:
        """Make the first look's graph now: MediaPipe opens it (~40 ms of CPU for the lite model) in its
        own threads from then on, beside other work, instead of at the first hand."""
        self._graph(self.complexities[0])

    def process_side(self, frame: np.ndarray, body_px: np.ndarray, body_vis: np.ndarray, side: int) -> np.ndarray | None:
        """Landmarks ``[21, 3]`` of one hand (0 = subject's left) or None."""
        wrist_j = _HAND_POSE_POINTS[side][0]
        h, w = frame.shape[:2]
        wrist = body_px[wrist_j, :2]
        region = None
        if body_vis[wrist_j] >= self.min_visibility and -0.1 * w < wrist[0] < 1.1 * w and -0.1 * h < wrist[1] < 1.1 * h:
            region = hand_region(body_px, side)
        if region is None:
            self._seen[side] = False  # the second look is for a hand seen on the very last frame
            return None
        cx, cy, size, rotation, length = region
        # Only the pixels the rotated square can reach go to MediaPipe (it copies the image it is given):
        # the square's half diagonal plus a pixel for the bilinear taps.
        reach = 0.71 * size + 2.0
        x0, y0 = max(int(cx - reach), 0), max(int(cy - reach), 0)
        x1, y1 = min(int(cx + reach) + 1, w), min(int(cy + reach) + 1, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            self._seen[side] = False
            return None
        window = np.ascontiguousarray(frame[y0:y1, x0:x1])
        # A second look only for a hand just seen (a hand half hidden for a moment) whose knuckles are in
        # the frame: a hand gone for good (behind the back, out of the frame) costs one model call a frame.
        second = self._seen[side] and 0 <= cx < w and 0 <= cy < h
        out = None
        for complexity in self.complexities[:1 + second]:
            out = self._graph(complexity).landmarks(window, cx - x0, cy - y0, size, rotation)
            if out is not None:
                break
        if out is not None:
            out[:, 0] += x0
            out[:, 1] += y0
            if np.linalg.norm(out[0, :2] - wrist) > SAME_WRIST_HANDS * length:
                out = None
        self._seen[side] = out is not None
        return out

    def process(self, frame: np.ndarray, body_px: np.ndarray, body_vis: np.ndarray) -> tuple:
        """``(left, right)`` hand landmarks of one RGB uint8 frame, each ``[21, 3]`` or None."""
        return tuple(self.process_side(frame, body_px, body_vis, side) for side in (0, 1))

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        for g in self._graphs.values():
            g.close()
        self._graphs = {}
