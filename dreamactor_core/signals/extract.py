"""Driving video -> :class:`Motion` with MediaPipe's bundled models.

MediaPipe graphs, one set per video:
- ``Pose`` in video (tracking) mode (model_complexity=1; only complexity 1 is bundled with
  mediapipe 0.10.21) on the whole frame, or on a crop around the chosen person when there are several;
  a static ``Pose`` counts the people now and then (:class:`tracking.PersonFollower`), where
  MediaPipe's pose detector alone (:mod:`people_detector`) sees anyone to count;
- ``FaceMesh`` with iris, tracking, on a crop around the head (:class:`face_landmarks.FaceFollower`):
  the head box comes from the body (or last frame's face), so small faces in full-body shots are found;
- the hand landmark model alone on the square around each hand whose wrist the body model sees
  (:class:`hand_landmarks.HandTracker`; no palm detection, no state between frames).
The face and hand work of frame t depends only on frame t's body, so it runs in two worker
threads while the main thread runs Pose on frame t+1: MediaPipe releases the GIL while its
graphs run, so both CPU cores work.

MediaPipe Pose filters its landmarks itself (``smooth_landmarks``: a One Euro filter whose
cutoff falls to 0.1 Hz on still points, so it lags). Smoothing 0 is raw MediaPipe, its
defaults and so its filter included. Whether that filter also runs under ours is one setting,
:data:`POSE_FILTER` (its ROI tracking uses its own, always-on filter either way).

Then: short gaps are interpolated (:func:`tracking.fill_gaps`), landmarks are
smoothed (:func:`smoothing.smooth_motion`), the head sphere is estimated from the
face (:func:`head_pose.estimate_head`), and the body's proportions and height go into
``meta["body_size"]`` (:func:`body_size.body_size`).
"""
from __future__ import annotations

import math
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Iterator

import numpy as np

from ..utils import CancelFn, DreamActorError, ProgressFn, check_cancel, report
from .body_size import body_size
from .detail_stage import DetailStage
from .motion import Motion
from . import mp_call
from .mp_landmarks import landmarks_from_bytes
from .smoothing import kernel_radius, smooth_motion
from .tracking import PersonFollower, detect_people, fill_gaps, landmarks_box
from .video_io import as_rgb_uint8

MIN_SIDE = 16  # smaller than this cannot hold a recognisable person
WORK_SIDE = 256  # frames (or crops) smaller than this are upscaled for the detectors
FACE_POINTS = slice(0, 11)  # pose landmarks of the face: their visibility rates the face
MAX_IN_FLIGHT = 4  # frames whose face/hand work may be pending: bounds the memory held
# Whether Pose's own landmark filter runs, keyed by whether our smoothing runs. Raw MediaPipe
# (smoothing 0) keeps it, as MediaPipe ships. Under ours it stays on for now: switched off, the best
# smoothing we measured on its unfiltered landmarks beat raw on average (PCK@0.02 +0.02, a third less
# jitter) but not on every clip: a still body's joints, which Pose's filter holds over about 2 s
# (shared head-turn clip, mean px 3.81 for 3.78), and a hip read swinging with a waving arm.
POSE_FILTER = {"ours": True, "none": True}
# Version of what MediaPipe's part of extract_motion (everything before the head and body-size steps,
# see finish_motion) returns for given frames: saved raw extractions (raw_cache) are keyed by it, with
# the video's hash and MediaPipe's version. Bump it with any change that moves that output.
EXTRACTION_VERSION = 2  # 2: the hands' second look only for a hand seen on the very last frame


class PoseLandmarker:
    """MediaPipe Pose in video mode returning plain arrays in normalised image coordinates."""

    def __init__(self, static: bool = False, smooth: bool = True):
        import mediapipe as mp

        self.graph = mp.solutions.pose.Pose(static_image_mode=static, model_complexity=1, smooth_landmarks=smooth)

    def process(self, image: np.ndarray) -> dict | None:
        """``{"pose", "vis", "world"}`` of the person in ``image`` (uint8 RGB), or None when nobody is found."""
        res = mp_call.run(self.graph, image, ("pose_landmarks", "pose_world_landmarks"))
        if res["pose_landmarks"] is None:
            return None
        lm = landmarks_from_bytes(res["pose_landmarks"], ("x", "y", "z", "visibility"))
        world = res["pose_world_landmarks"]
        return {"pose": lm[:, :3], "vis": lm[:, 3], "world": None if world is None else landmarks_from_bytes(world)}

    def close(self) -> None:
        self.graph.close()


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
    pose_filter: bool | None = None,
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
    smoothing: strength in [0, 1] of the zero-lag local quadratic smoothing (0 = off; :mod:`smoothing`).
    pose_filter: MediaPipe Pose's own landmark filter; None follows :data:`POSE_FILTER` (on only
        when ``smoothing`` is 0). Set it to measure one filter against the other.
    max_gap: longest run of lost frames that is interpolated (default: 0.3 s of video).
    hands, face: run the hand and face models on crops around them (both off: body only).
    head: fill the head-sphere fields from the face (body fallback).
    name: how the input is named in error messages.
    """
    if not (isinstance(fps, (int, float)) and fps > 0 and math.isfinite(fps)):
        raise DreamActorError(f"fps: must be a positive number, got {fps!r}")
    kernel_radius(smoothing, fps)  # a bad strength is refused before any frame is read
    source, total = _frame_source(frames, name)
    if pose_filter is None:
        pose_filter = POSE_FILTER["ours" if smoothing > 0 else "none"]
    if max_gap is None:
        max_gap = max(1, int(round(0.3 * fps)))

    import mediapipe as mp

    body = _BodyStage(person, recount_every=max(1, int(round(0.5 * fps))), smooth=pose_filter)
    details = DetailStage(hands=hands, face=face)
    rows: list = []
    pending: deque = deque()
    size = None

    def drain(keep: int) -> None:
        # Collect finished frames in order; block on the oldest while too many are pending.
        while pending and (len(pending) > keep or _done(pending[0][1])):
            t, futures = pending.popleft()
            rows[t] = details.collect(rows[t], futures)
            report(progress, t + 1, total or t + 1)

    closing = None
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
                body.factor = _factor_for(min(size))
            elif img.shape[:2] != size:
                raise DreamActorError(f"{name}[{t}]: size {img.shape[1]}x{img.shape[0]} differs from frame 0 "
                                      f"({size[1]}x{size[0]})")
            # People are counted in a worker of their own, not queued behind a hand or a face.
            row = body.process(img, t, details.pool("count"))
            rows.append(row)
            pending.append((t, details.submit(img, row) if row is not None else ()))
            drain(MAX_IN_FLIGHT)
        drain(0)
        # Closing a graph waits for MediaPipe's threads to wind down (20-40 ms for a clip's five
        # graphs): after a clean run that happens beside the post-processing below.
        closer = threading.Thread(target=_close_stages, args=(details, body), name="dreamactor-close")
        closer.start()
        closing = closer
    finally:
        if closing is None:
            _close_stages(details, body)

    # The graphs finish closing before the caller gets control back, whether the post-processing
    # returns or raises (a failing run must not leave MediaPipe threads behind it).
    try:
        if not rows:
            raise DreamActorError(f"{name}: empty batch; pass at least one frame")
        motion = _assemble(rows, fps, size, name)
        motion.meta["person"] = body.follower.meta
        motion.meta["extractor"] = {
            "engine": "mediapipe-" + "+".join(["pose"] + ["facemesh"] * bool(face) + ["hands"] * bool(hands)),
            "mediapipe": mp.__version__,
            "model_complexity": 1,
            "pose_filter": bool(pose_filter),
            "upscale": body.factor,
        }
        motion = fill_gaps(motion, max_gap)
        motion = smooth_motion(motion, smoothing)
        if head and face:
            motion = finish_motion(motion)
    finally:
        closing.join()
    return motion


def _done(futures) -> bool:
    return all(f.done() for f in futures)


def _close_stages(details: "DetailStage", body: "_BodyStage") -> None:
    details.close()
    body.close()


class _BodyStage:
    """Pose on each frame, for the person :class:`PersonFollower` chose (main thread)."""

    def __init__(self, person, recount_every: int = 12, smooth: bool = True):
        from .people_detector import PeopleDetector

        self.smooth = smooth  # Pose's own landmark filter (the static counter never filters)
        # Made here, before the first frame: MediaPipe opens a graph's models in its own threads once
        # it is made (~250 ms of CPU for Pose, ~150 for the detector), so they open side by side.
        self.pose = PoseLandmarker(smooth=smooth)
        self.people = PeopleDetector()
        self.static_pose: PoseLandmarker | None = None  # made only where the detector sees someone to count
        self.factor = 1
        self.follower = PersonFollower(person, self._detect, recount_every=recount_every)

    def _static_pose(self):
        if self.static_pose is None:
            self.static_pose = PoseLandmarker(static=True)
        return self.static_pose.graph

    def _detect(self, img: np.ndarray, first: np.ndarray | None = None) -> list[np.ndarray]:
        boxes = detect_people(_upscaled(img, self.factor), self._static_pose, first=first,
                              anyone=self.people.sees_anyone)
        return [b / self.factor for b in boxes]

    def process(self, img: np.ndarray, t: int, pool: ThreadPoolExecutor) -> tuple | None:
        """Body landmarks of the followed person in one frame, in source pixels (None when not found)."""
        h, w = img.shape[:2]
        res, read = None, False  # read: Pose has had this frame, whole (``res`` may be None: nobody found)
        if not self.follower.started:
            # Pose looks at the whole frame first. Its detector is the static Pose's: where it finds
            # nobody, so would the count; the person it finds is the count's first (the same
            # landmarks, checked bit for bit), so the count goes on from them, blanked out.
            res, read = self.pose.process(_upscaled(img, self.factor)), True
            if res is None or not self.follower.start(img, t, first=res["pose"]):
                return None
            if self.follower.window is not None:
                # Several people: Pose's tracking state may be on someone else; start afresh on the crop.
                self.pose.close()
                self.pose = PoseLandmarker(smooth=self.smooth)
                res, read = None, False
        elif self.follower.count_due(t):
            # The same for a count again: Pose, on the critical path, does not wait for the detector;
            # nobody new (the usual answer) keeps its result.
            counting = pool.submit(self.follower.recount, img, t)
            res, read = self.pose.process(_upscaled(img, self.factor)), True
            if counting.result():  # someone came in: follow ours in a crop from now on
                self.pose.close()
                self.pose = PoseLandmarker(smooth=self.smooth)
                res, read = None, False
        if self.follower.window is None:
            if not read:
                res = self.pose.process(_upscaled(img, self.factor))
            x0 = y0 = 0.0
            sw, sh = float(w), float(h)
        else:
            crop, x0, y0, side = self.follower.window.crop(img)
            res = self.pose.process(_upscaled(crop, _factor_for(side)))
            sw = sh = side
        if res is None:
            self.follower.lost(img)
            return None
        px = _to_px(res["pose"], x0, y0, sw, sh)
        box = landmarks_box(px, w, h)
        self.follower.found(box)
        return px, res["vis"], res["world"], box

    def close(self) -> None:
        self.pose.close()
        self.people.close()
        if self.static_pose is not None:
            self.static_pose.close()


def _to_px(norm: np.ndarray, x0: float, y0: float, sw: float, sh: float) -> np.ndarray:
    px = np.empty_like(norm)
    px[:, 0] = x0 + norm[:, 0] * sw
    px[:, 1] = y0 + norm[:, 1] * sh
    px[:, 2] = norm[:, 2] * sw  # MediaPipe's z is in units of the image width
    return px


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
        where = ("in the image; use an image" if len(rows) == 1
                 else f"in any of the {len(rows)} frames; use a video")
        raise DreamActorError(f"{name}: no person found {where} where a person is visible "
                              "(ideally the whole body, facing the camera)")
    motion.meta["frames_with_person"] = found
    return motion


def finish_motion(motion: Motion) -> Motion:
    """extract_motion's steps after MediaPipe (``head=True``): the head sphere, then the clip's body size.

    Run by extract_motion itself, and on a saved ``head=False`` extraction (:mod:`raw_cache`) to make
    the same motion with the head and body-size code in hand.
    """
    motion = _estimate_head(motion)
    # Proportions over the clip and the height in metres (from the head-to-body ratio).
    motion.meta["body_size"] = body_size(motion)
    return motion


def _estimate_head(motion: Motion) -> Motion:
    """Head sphere from the face landmarks via the head stage, when it is installed."""
    try:
        from .head_pose import estimate_head
    except ImportError:
        motion.meta["head"] = "not estimated (head_pose module missing)"
        return motion
    return estimate_head(motion)
