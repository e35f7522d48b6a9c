"""Driving video -> :class:`Motion` with MediaPipe's bundled models.

One MediaPipe graph per video, in tracking (video) mode:
- ``Holistic`` (model_complexity=1, refine_face_landmarks=True) when hands or face
  are wanted. It derives the hand and face regions from the pose inside the graph,
  so small faces in full-body shots (which FaceMesh on the whole frame misses) are
  found, in one call per frame instead of three.
- ``Pose`` (model_complexity=1) for body only, which is about twice as fast.
Only complexity 1 is bundled with mediapipe 0.10.21; 0 and 2 would download.

Then: short gaps are interpolated (:func:`tracking.fill_gaps`), landmarks are
smoothed (:func:`smoothing.smooth_motion`) and the head sphere is estimated from the
face (``head_pose.estimate_head``, when that module is present).
"""
from __future__ import annotations

import math
from typing import Iterable, Iterator

import numpy as np

from ..utils import CancelFn, DreamActorError, ProgressFn, check_cancel, report
from .motion import Motion
from .smoothing import smooth_motion
from .tracking import PersonFollower, detect_people, fill_gaps, landmarks_box
from .video_io import as_rgb_uint8

MIN_SIDE = 16  # smaller than this cannot hold a recognisable person
WORK_SIDE = 256  # frames (or crops) smaller than this are upscaled for the detectors
FACE_POINTS = slice(0, 11)  # pose landmarks of the face: their visibility rates the face


class Landmarker:
    """A MediaPipe graph in video mode returning plain arrays in normalised image coordinates."""

    def __init__(self, hands: bool = True, face: bool = True, static: bool = False):
        import mediapipe as mp

        self.holistic = bool(hands or face)
        self.hands, self.face = hands, face
        if self.holistic:
            self.graph = mp.solutions.holistic.Holistic(
                static_image_mode=static, model_complexity=1, refine_face_landmarks=True
            )
        else:
            self.graph = mp.solutions.pose.Pose(static_image_mode=static, model_complexity=1)

    def process(self, image: np.ndarray) -> dict | None:
        """Landmarks of the person in ``image`` (uint8 RGB), or None when nobody is found."""
        res = self.graph.process(image)
        if res.pose_landmarks is None:
            return None
        lm = res.pose_landmarks.landmark
        out = {
            "pose": np.array([(p.x, p.y, p.z) for p in lm], dtype=np.float32),
            "vis": np.array([p.visibility for p in lm], dtype=np.float32),
            "world": _xyz(res.pose_world_landmarks),
        }
        if self.holistic:
            out["left"] = _xyz(res.left_hand_landmarks) if self.hands else None
            out["right"] = _xyz(res.right_hand_landmarks) if self.hands else None
            out["face"] = _xyz(res.face_landmarks) if self.face else None
        return out

    def close(self) -> None:
        self.graph.close()


def _xyz(landmarks) -> np.ndarray | None:
    if landmarks is None:
        return None
    return np.array([(p.x, p.y, p.z) for p in landmarks.landmark], dtype=np.float32)


def _frame_source(frames, name: str) -> tuple[Iterator, int | None]:
    """Iterate over single frames of an array/tensor batch, a list, or a generator."""
    if hasattr(frames, "shape"):
        shape = tuple(frames.shape)
        if len(shape) == 0 or 0 in shape:
            raise DreamActorError(f"{name}: empty batch (shape {shape}); pass at least one frame")
        if len(shape) == 2 or (len(shape) == 3 and shape[-1] in (1, 3, 4) and shape[0] > 4):
            frames = frames[None]  # one image [H, W] or [H, W, C]
        elif len(shape) == 3:
            frames = frames[..., None]  # grayscale batch [T, H, W]
        return (frames[i] for i in range(frames.shape[0])), int(frames.shape[0])
    if isinstance(frames, (list, tuple)):
        if not frames:
            raise DreamActorError(f"{name}: empty batch; pass at least one frame")
        return iter(frames), len(frames)
    if isinstance(frames, Iterable):
        return iter(frames), None
    raise DreamActorError(f"{name}: expected images [T, H, W, C] or an iterable of frames, got {type(frames).__name__}")


def _upscaled(image: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return image
    import cv2

    h, w = image.shape[:2]
    return cv2.resize(image, (w * factor, h * factor), interpolation=cv2.INTER_LINEAR)


def _factor_for(side: float) -> int:
    return max(1, int(math.ceil(WORK_SIDE / max(side, 1.0)))) if side < WORK_SIDE else 1


def extract_motion(
    frames,
    fps: float,
    *,
    person="largest",
    smoothing: float = 0.5,
    max_gap: int | None = None,
    hands: bool = True,
    face: bool = True,
    head: bool = True,
    progress: ProgressFn = None,
    cancel: CancelFn = None,
    name: str = "frames",
) -> Motion:
    """Extract the motion of one person from video frames.

    frames: uint8 or float [0, 1] images ``[T, H, W, C]`` (C = 1, 3 or 4; numpy or torch),
        one image ``[H, W, C]``, or an iterable of frames (e.g. :func:`video_io.iter_video`).
    person: ``"largest"`` or an index counted left to right (0 = leftmost) among the
        people found where the first person appears; the choice is in ``meta["person"]``.
    smoothing: One Euro strength in [0, 1] (0 = off).
    max_gap: longest run of lost frames that is interpolated (default: 0.3 s of video).
    hands, face: run the hand and face models (Holistic); both off runs Pose only.
    head: fill the head-sphere fields from the face (needs ``head_pose``).
    name: how the input is named in error messages.
    """
    if not (isinstance(fps, (int, float)) and fps > 0 and math.isfinite(fps)):
        raise DreamActorError(f"fps: must be a positive number, got {fps!r}")
    source, total = _frame_source(frames, name)
    if max_gap is None:
        max_gap = max(1, int(round(0.3 * fps)))

    import mediapipe as mp

    landmarker = Landmarker(hands=hands, face=face)
    static_pose = None
    rows: list[tuple] = []
    size = None
    factor = 1

    def detect(img: np.ndarray) -> list[np.ndarray]:
        nonlocal static_pose
        if static_pose is None:
            static_pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)
        return [b / factor for b in detect_people(_upscaled(img, factor), static_pose)]

    follower = PersonFollower(person, detect)
    try:
        for t, raw in enumerate(source):
            check_cancel(cancel)
            img = as_rgb_uint8(raw, name=f"{name}[{t}]")
            if size is None:
                size = img.shape[:2]
                if min(size) < MIN_SIDE:
                    raise DreamActorError(
                        f"{name}: images of {size[1]}x{size[0]} px are too small to find a person; "
                        f"use at least {MIN_SIDE} px per side (256 or more works best)"
                    )
                factor = _factor_for(min(size))
            elif img.shape[:2] != size:
                raise DreamActorError(f"{name}[{t}]: size {img.shape[1]}x{img.shape[0]} differs from frame 0 ({size[1]}x{size[0]})")
            rows.append(_process_frame(img, t, follower, landmarker, factor))
            report(progress, t + 1, total or t + 1)
    finally:
        landmarker.close()
        if static_pose is not None:
            static_pose.close()

    if not rows:
        raise DreamActorError(f"{name}: empty batch; pass at least one frame")
    motion = _assemble(rows, fps, size, name)
    motion.meta["person"] = follower.meta
    motion.meta["extractor"] = {
        "engine": "mediapipe-holistic" if landmarker.holistic else "mediapipe-pose",
        "mediapipe": getattr(mp, "__version__", "?"),
        "model_complexity": 1,
        "upscale": factor,
    }
    motion = fill_gaps(motion, max_gap)
    motion = smooth_motion(motion, smoothing)
    if head and face:
        motion = _estimate_head(motion)
    return motion


def _process_frame(img, t, follower: PersonFollower, landmarker: Landmarker, factor: int) -> tuple | None:
    """Landmarks of the followed person in one frame, in source pixels (None when not found)."""
    h, w = img.shape[:2]
    if not follower.started and not follower.start(img, t):
        return None
    if follower.window is None:
        res = landmarker.process(_upscaled(img, factor))
        x0 = y0 = 0.0
        sw, sh = float(w), float(h)
    else:
        crop, x0, y0, side = follower.window.crop(img)
        res = landmarker.process(_upscaled(crop, _factor_for(side)))
        sw = sh = side
    if res is None:
        follower.lost(img)
        return None

    def to_px(norm):
        if norm is None:
            return None
        px = np.empty_like(norm)
        px[:, 0] = x0 + norm[:, 0] * sw
        px[:, 1] = y0 + norm[:, 1] * sh
        px[:, 2] = norm[:, 2] * sw  # MediaPipe's z is in units of the image width
        return px

    body = to_px(res["pose"])
    box = landmarks_box(body, w, h)
    follower.found(box)
    return body, res["vis"], res["world"], to_px(res.get("left")), to_px(res.get("right")), to_px(res.get("face")), box


def _assemble(rows: list, fps: float, size: tuple[int, int], name: str) -> Motion:
    h, w = size
    motion = Motion.empty(len(rows), fps=fps, width=w, height=h, source="mediapipe")
    found = 0
    for t, row in enumerate(rows):
        if row is None:
            continue
        found += 1
        body, vis, world, left, right, face, box = row
        motion.body_px[t] = body
        motion.body_conf[t] = vis
        if world is not None:
            motion.body_world[t] = world
        for side, (hand, wrist) in enumerate(((left, 15), (right, 16))):
            if hand is not None:
                motion.hands_px[t, side] = hand
                motion.hands_conf[t, side] = vis[wrist]
        if face is not None and face.shape[0] == 478:
            motion.face_px[t] = face
            motion.face_conf[t] = float(vis[FACE_POINTS].mean())
        motion.person_box[t] = box
    if found == 0:
        raise DreamActorError(
            f"{name}: no person found in any of the {len(rows)} frame(s); "
            "use a video where a person is visible (ideally the whole body, facing the camera)"
        )
    motion.meta["frames_with_person"] = found
    return motion


def _estimate_head(motion: Motion) -> Motion:
    """Head sphere from the face landmarks via the head stage, when it is installed."""
    try:
        from .head_pose import estimate_head
    except ImportError:
        motion.meta["head"] = "not estimated (head_pose module missing)"
        return motion
    return estimate_head(motion)
