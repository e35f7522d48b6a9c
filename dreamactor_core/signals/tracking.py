"""Which person to follow, where to look for them, and what to do when they are lost.

MediaPipe Pose/Holistic see one person per image. To handle several people we
count them with a static pose pass that blanks out each person it finds and looks
again (:func:`detect_people`; MediaPipe's pose detector alone says first whether there
is anyone to look at), pick one (:func:`choose_person`), and then feed the
landmark model a crop around that person only (:class:`CropWindow`). The crop moves
with hysteresis so that MediaPipe's own frame-to-frame tracking sees a steady image.

After extraction, :func:`fill_gaps` interpolates short gaps and flags them.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..utils import DreamActorError
from .motion import Motion
from . import mp_call
from .mp_landmarks import landmarks_from_bytes
from .scene_change import SceneView

MAX_PEOPLE = 4


# --- boxes --------------------------------------------------------------------
def landmarks_box(points_px: np.ndarray, width: int, height: int, margin: float = 0.08) -> np.ndarray:
    """Box ``[x0, y0, x1, y1]`` around landmark pixels, grown by ``margin`` of its size, clipped to the image."""
    pts = points_px[:, :2]
    if not np.isfinite(pts).all():  # per-row filtering only where something is missing: this runs per frame
        pts = pts[np.isfinite(pts).all(axis=1)]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    # Landmarks are joint centres; the head top and the body outline lie beyond them.
    gx, gy = (x1 - x0) * margin, (y1 - y0) * margin
    top_extra = (y1 - y0) * 0.04
    box = np.array([x0 - gx, y0 - gy - top_extra, x1 + gx, y1 + gy], dtype=np.float32)
    box[[0, 2]] = np.clip(box[[0, 2]], 0, width - 1)
    box[[1, 3]] = np.clip(box[[1, 3]], 0, height - 1)
    return box


def box_area(box: Sequence[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def box_center(box: Sequence[float]) -> np.ndarray:
    return np.array([(box[0] + box[2]) * 0.5, (box[1] + box[3]) * 0.5])


def box_diag(box: Sequence[float]) -> float:
    return float(np.hypot(box[2] - box[0], box[3] - box[1]))


# --- people ---------------------------------------------------------------------
def detect_people(frame: np.ndarray, pose_static, max_people: int = MAX_PEOPLE, *, first: np.ndarray | None = None,
                  anyone=None) -> list[np.ndarray]:
    """Boxes of the people in one RGB frame, sorted left to right.

    ``pose_static()`` gives a ``mp.solutions.pose.Pose(static_image_mode=True)`` (made when
    first asked for). Each found person's box is filled with the frame's median colour
    before looking again, so the detector moves on to the next person.
    first: normalised landmarks ``[33, 2+]`` of one person already found in ``frame`` by a Pose
        that looked at it whole (its detector's best person: the static Pose's first find).
    anyone(image) -> bool: whether the static Pose's detector finds anyone in ``image``
        (:meth:`.people_detector.PeopleDetector.sees_anyone`); where it says no, the static Pose
        would find nobody, and is not run.
    """
    h, w = frame.shape[:2]
    work = frame
    boxes: list[np.ndarray] = []
    fill = None
    for look in range(max_people):
        if look == 0 and first is not None:
            found = first
        elif anyone is not None and not anyone(work):
            break
        else:
            found = mp_call.run(pose_static(), work, ("pose_landmarks",))["pose_landmarks"]
            if found is None:
                break
            found = landmarks_from_bytes(found, ("x", "y"))
        pts = (np.asarray(found)[:, :2] * np.array([w, h], np.float64)).astype(np.float32)
        box = landmarks_box(pts, w, h, margin=0.12)
        if box_area(box) < 4.0 or any(_iou(box, b) > 0.5 for b in boxes):
            break  # degenerate or the same person again: stop looking
        boxes.append(box)
        if work is frame:
            work = frame.copy()
            fill = median_colour(frame)
        blank_box(work, box, fill)
    boxes.sort(key=lambda b: float(b[0] + b[2]))
    return boxes


def blank_box(frame: np.ndarray, box: np.ndarray, fill: np.ndarray, grow: float = 0.0) -> np.ndarray:
    """Fill ``box`` (grown by ``grow`` of its size on each side) of ``frame`` in place with ``fill``."""
    gx, gy = (box[2] - box[0]) * grow, (box[3] - box[1]) * grow
    h, w = frame.shape[:2]
    x0, y0 = max(0, int(box[0] - gx)), max(0, int(box[1] - gy))
    x1, y1 = min(w - 1, int(box[2] + gx)), min(h - 1, int(box[3] + gy))
    if x1 < x0 or y1 < y0:
        return frame
    if frame.flags.c_contiguous and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3:
        # OpenCV fills the same inclusive rectangle several times faster than numpy's broadcast.
        cv2.rectangle(frame, (x0, y0), (x1, y1), tuple(int(v) for v in fill), -1)
    else:
        frame[y0:y1 + 1, x0:x1 + 1] = fill
    return frame


def median_colour(frame: np.ndarray) -> np.ndarray:
    """Per-channel median of an RGB uint8 frame as uint8, exactly ``np.median(...).astype(uint8)``
    (the mean of the two middle values, truncated), read off 256-bin histograms: a full sort of
    every pixel took ~10 ms a call."""
    n = frame.shape[0] * frame.shape[1]
    out = np.empty(3, np.uint8)
    for c in range(3):
        cum = np.cumsum(cv2.calcHist([np.ascontiguousarray(frame)], [c], None, [256], [0, 256]).ravel())
        lo, hi = np.searchsorted(cum, [(n - 1) // 2, n // 2], side="right")
        out[c] = (int(lo) + int(hi)) // 2
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def parse_person(person) -> tuple[str, int]:
    """``"largest"`` -> ("largest", 0); ``"leftmost"`` or an index (int or digit string, left to right)
    -> ("index", i)."""
    if isinstance(person, str):
        text = person.strip().lower()
        if text == "largest":
            return "largest", 0
        if text == "leftmost":
            return "index", 0
        if text.lstrip("-").isdigit():
            person = int(text)
        else:
            raise DreamActorError(f"person: expected 'largest', 'leftmost' or an index (0 = leftmost), got '{person}'")
    if isinstance(person, (int, np.integer)) and not isinstance(person, bool):
        if person < 0:
            raise DreamActorError(f"person: index must be >= 0 (0 = leftmost), got {person}")
        return "index", int(person)
    raise DreamActorError(f"person: expected 'largest' or an index (0 = leftmost), got {person!r}")


def choose_person(boxes: list[np.ndarray], person) -> int:
    """Index into ``boxes`` (sorted left to right) of the person to follow."""
    mode, index = parse_person(person)
    if mode == "largest":
        return int(np.argmax([box_area(b) for b in boxes]))
    if index >= len(boxes):
        raise DreamActorError(
            f"person: index {index} asked for, but only {len(boxes)} people were found "
            f"(0 = leftmost); use an index below {len(boxes)} or 'largest'"
        )
    return index


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def person_note(meta: dict, what: str) -> str | None:
    """Who was followed, out of how many, when there was a choice (``meta`` is ``Motion.meta["person"]``)."""
    count = int(meta.get("count", 1))
    if count < 2 or "chosen" not in meta:
        return None
    chosen = int(meta["chosen"])
    rule = "the largest" if meta.get("mode") == "largest" else f"person {chosen} (0 = leftmost)"
    return (f"{what}: {count} people found; following {rule}, the {_ordinal(chosen + 1)} from the left. "
            "Choose another with the person setting: largest, leftmost or an index from the left")


def nearest_box(boxes: list[np.ndarray], last_box: np.ndarray, reach: float = 0.5) -> int | None:
    """The box closest to where the person was last seen, if one is plausibly them: its centre
    within ``reach`` of the last box's diagonal (someone standing beside them is further)."""
    if not boxes:
        return None
    c = box_center(last_box)
    dists = [np.linalg.norm(box_center(b) - c) for b in boxes]
    best = int(np.argmin(dists))
    return best if dists[best] < reach * box_diag(last_box) else None


# --- crop window ------------------------------------------------------------------
class CropWindow:
    """A square region around the followed person, moved only when the person leaves it."""

    def __init__(self, box: np.ndarray, grow: float = 1.6):
        self.grow = grow
        self.box = self._window_for(box)

    def _window_for(self, box: np.ndarray) -> np.ndarray:
        c = box_center(box)
        side = max(box[2] - box[0], box[3] - box[1]) * self.grow
        side = max(side, 32.0)
        return np.array([c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2])

    def update(self, box: np.ndarray) -> bool:
        """Follow ``box``; returns True when the window moved."""
        w = self.box
        side = w[2] - w[0]
        inset = side * 0.06
        inside = box[0] >= w[0] + inset and box[1] >= w[1] + inset and box[2] <= w[2] - inset and box[3] <= w[3] - inset
        size = max(box[2] - box[0], box[3] - box[1]) / side
        if inside and 0.4 <= size <= 0.8:
            return False
        self.box = self._window_for(box)
        return True

    def crop(self, frame: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """``(crop, x0, y0, side)``: the window's pixels (zero outside the frame)."""
        h, w = frame.shape[:2]
        x0, y0 = int(round(self.box[0])), int(round(self.box[1]))
        side = int(round(self.box[2] - self.box[0]))
        out = np.zeros((side, side, 3), dtype=np.uint8)
        sx0, sy0 = max(x0, 0), max(y0, 0)
        sx1, sy1 = min(x0 + side, w), min(y0 + side, h)
        if sx1 > sx0 and sy1 > sy0:
            out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frame[sy0:sy1, sx0:sx1]
        return out, float(x0), float(y0), float(side)


# --- gaps -----------------------------------------------------------------------
def _missing_runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """Runs ``[start, stop)`` of False in ``valid`` that have valid frames on both sides."""
    runs = []
    t, n = 0, len(valid)
    while t < n:
        if valid[t]:
            t += 1
            continue
        start = t
        while t < n and not valid[t]:
            t += 1
        if start > 0 and t < n:
            runs.append((start, t))
    return runs


def _interpolate(arrays: list[np.ndarray], valid: np.ndarray, max_gap: int, flags: np.ndarray) -> int:
    """Linearly fill runs of at most ``max_gap`` missing frames in place; returns frames filled."""
    filled = 0
    for start, stop in _missing_runs(valid):
        if stop - start > max_gap:
            continue
        a, b = start - 1, stop
        w = ((np.arange(start, stop) - a) / (b - a)).astype(np.float32)
        for arr in arrays:
            shape = (-1,) + (1,) * (arr.ndim - 1)
            arr[start:stop] = (1 - w).reshape(shape) * arr[a] + w.reshape(shape) * arr[b]
        flags[start:stop] = 1.0
        filled += stop - start
    return filled


def fill_gaps(motion: Motion, max_gap: int) -> Motion:
    """A new motion where gaps of at most ``max_gap`` frames are interpolated and flagged.

    Body, each hand and the face are handled separately (a hand can vanish while the
    body stays). ``interpolated`` is 1 on frames where anything was filled in. Longer
    gaps, and gaps at the start or end, stay NaN. Counts go to ``meta["gaps"]``.
    """
    if max_gap < 0:
        raise DreamActorError(f"max_gap must be >= 0 frames, got {max_gap}")
    out = motion.copy()
    flags = out.interpolated
    body_valid = np.isfinite(out.body_px[:, :, :2]).all(axis=(1, 2))
    stats = {"max_gap": int(max_gap), "body_missing": int((~body_valid).sum())}
    stats["body_filled"] = _interpolate(
        [out.body_px, out.body_conf, out.body_world, out.person_box], body_valid, max_gap, flags
    )
    hands_filled = 0
    for side in range(2):
        valid = np.isfinite(out.hands_px[:, side, :, :2]).all(axis=(1, 2))
        # Views into the arrays, so the fill lands in ``out``.
        hands_filled += _interpolate([out.hands_px[:, side], out.hands_conf[:, side]], valid, max_gap, flags)
    stats["hands_filled"] = hands_filled
    face_valid = np.isfinite(out.face_px[:, :, :2]).all(axis=(1, 2))
    stats["face_filled"] = _interpolate([out.face_px, out.face_conf], face_valid, max_gap, flags)
    out.meta["gaps"] = stats
    return out


# --- following one person over time ---------------------------------------------------
class PersonFollower:
    """Decides which person to follow and which region of each frame to show MediaPipe.

    ``detect(frame[, first]) -> boxes`` finds people (see :func:`detect_people`). With one
    person the whole frame is used (MediaPipe tracks them itself); with several, a
    :class:`CropWindow` around the chosen one, re-found by position when lost.
    While only one person has been seen, people are counted again every
    ``recount_every`` frames: MediaPipe on the whole frame keeps to whoever it
    tracks, but after losing them for a moment it takes whoever is there, so a
    person who walked in later gets the followed one a crop window of their own.
    A count is skipped when nothing changed outside the followed person since the
    last one (:mod:`.scene_change`): it would only find nobody again.
    """

    def __init__(self, person, detect, redetect_every: int = 3, recount_every: int = 12):
        self.mode, self.index = parse_person(person)
        self.detect = detect
        self.redetect_every = max(1, int(redetect_every))
        self.recount_every = max(1, int(recount_every))
        self.started = False
        self.window: CropWindow | None = None
        self.last_box: np.ndarray | None = None
        self.lost_frames = 0
        self._counted_view: SceneView | None = None  # the frame of the last count, while alone
        self._checked_at: int | None = None
        self.meta: dict = {"mode": self.mode}
        if self.mode == "index":
            self.meta["index"] = self.index

    def start(self, frame: np.ndarray, t: int, first: np.ndarray | None = None) -> bool:
        """Look for people in ``frame``; True once someone is chosen. ``first``: the normalised
        landmarks of a person already found there (see :func:`detect_people`)."""
        boxes = self.detect(frame) if first is None else self.detect(frame, first)
        if not boxes:
            return False
        chosen = choose_person(boxes, self.mode if self.mode == "largest" else self.index)
        self.started = True
        self.last_box = boxes[chosen]
        if len(boxes) > 1:
            self.window = CropWindow(boxes[chosen])
        else:
            self._counted_view = SceneView(frame, boxes[chosen])
        self._checked_at = int(t)
        self.meta.update({
            "count": len(boxes),
            "chosen": chosen,
            "first_frame": int(t),
            "boxes": [[round(float(v), 1) for v in b] for b in boxes],
            "redetections": 0,
        })
        return True

    def count_due(self, t: int) -> bool:
        """Whether :meth:`recount` would look at frame ``t`` (alone, followed, and half a second on)."""
        due = (t if self._checked_at is None else self._checked_at) + self.recount_every
        return self.window is None and self.last_box is not None and not self.lost_frames and t >= due

    def recount(self, frame: np.ndarray, t: int) -> bool:
        """Count the people again when it is due; True when someone new came in and the
        followed person now has a crop window (MediaPipe must then start afresh on it)."""
        if not self.count_due(t):
            return False
        self._checked_at = int(t)
        view = SceneView(frame, self.last_box)
        if self._counted_view is not None and not view.changed_since(self._counted_view):
            return False  # nobody came in: the picture around the followed person is as at the last count
        self._counted_view = view
        self.meta["counted_at"] = int(t)
        # hide the followed person first, so that being alone costs one detector pass
        fill = median_colour(frame)
        others = self.detect(blank_box(frame.copy(), self.last_box, fill, grow=0.1))
        if not others:
            return False
        self.window = CropWindow(self.last_box)
        self.meta.update({"count": max(self.meta["count"], 1 + len(others)), "joined_at": int(t)})
        return True

    def found(self, box: np.ndarray) -> None:
        self.last_box = box
        self.lost_frames = 0
        if self.window is not None:
            self.window.update(box)

    def lost(self, frame: np.ndarray) -> None:
        """The followed person was not found in the current region: look for them again now and then."""
        self.lost_frames += 1
        if self.window is None or self.lost_frames % self.redetect_every:
            return
        boxes = self.detect(frame)
        best = nearest_box(boxes, self.last_box)
        if best is not None:
            self.window = CropWindow(boxes[best])
            self.meta["redetections"] += 1
