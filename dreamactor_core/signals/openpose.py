"""OpenPose-format ``POSE_KEYPOINT`` <-> :class:`Motion`.

``POSE_KEYPOINT`` is what the DWPose / OpenPose nodes of comfyui_controlnet_aux
emit: one dict per frame, ``{"people": [{"pose_keypoints_2d": [x, y, c, ...],
"face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d"}],
"canvas_width": W, "canvas_height": H}``. Versions differ in units: some write
pixels, some coordinates normalised to the canvas (which can exceed 1 a little for
points outside it), sometimes mixed between the body and the hands. So units are
decided per array: an array whose points all lie within +-2 is normalised.

The body is OpenPose's 18-point COCO layout (or BODY_25, which adds the mid-hip
and the feet). It maps onto MediaPipe's 33 points; the feet also come from a
``foot_keypoints_2d`` list (BODY_25's six foot points: big toe, small toe, heel, left
then right), which our export writes beside the 18 points so a round trip keeps them.
Points still missing (eye and mouth corners, fingers, feet) are estimated from their
neighbours (:mod:`pose_completion`, flagged in ``meta["estimated_points"]``), since
retargeting needs all 33. The 70-point face fills the FaceMesh landmarks it names; the
head sphere is fitted on them, or on the nose, eyes and ears without a face
(:func:`head_pose.estimate_head`), read as sitting on the real eyes and ears (``meta["source"]``
``"pose_keypoint"``: its record in :mod:`point_sources`), unless the frames were exported from a motion of
another known source, which they name (``KEYPOINT_SOURCE_KEY``). The source is 2D only: depth is flat (0, NaN where
the point is missing) and world coordinates are the pixels scaled to metres with a
typical torso length.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..utils import DreamActorError
from .head_pose import estimate_head
from .motion import Motion
from .point_sources import POINT_SOURCES
from .pose_completion import complete_body
from .tracking import landmarks_box

# OpenPose index -> MediaPipe Pose index.
_OP18_TO_MP = {0: 0, 2: 12, 3: 14, 4: 16, 5: 11, 6: 13, 7: 15, 8: 24, 9: 26, 10: 28,
               11: 23, 12: 25, 13: 27, 14: 5, 15: 2, 16: 8, 17: 7}
_BODY25_TO_MP = {0: 0, 2: 12, 3: 14, 4: 16, 5: 11, 6: 13, 7: 15, 9: 24, 10: 26, 11: 28,
                 12: 23, 13: 25, 14: 27, 15: 5, 16: 2, 17: 8, 18: 7,
                 19: 31, 21: 29, 22: 32, 24: 30}
# BODY_25's foot points (as ``foot_keypoints_2d``: left big toe, small toe, heel, right ...) -> MediaPipe
# foot index (the big toe) and heel; MediaPipe has no small toe.
_FOOT6_TO_MP = {0: 31, 2: 29, 3: 32, 5: 30}
# 68-point (iBUG) face -> MediaPipe eye corners and mouth corners (subject's left/right).
_FACE68_TO_MP = {42: 1, 45: 3, 39: 4, 36: 6, 54: 9, 48: 10}
# OpenPose's 70-point face (iBUG 68 + right and left pupil, subject's sides) <- FaceMesh indices:
# jaw from the subject's right ear to the left one, brows outside-in then inside-out, nose
# bridge and base, eyes from the outer (right) / inner (left) corner clockwise, outer and inner lips.
FACE70_FROM_MESH = (
    127, 234, 132, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 361, 454, 356,
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    168, 197, 5, 4, 98, 97, 2, 326, 327,
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,
    78, 81, 13, 311, 308, 402, 14, 178,
    468, 473,
)
# FaceMesh 1 (nose tip, used by the head fit) is not among the 70 points; FaceMesh 4 (iBUG 30), a few
# millimetres above it on the nose's ridge, stands in for it.
_NOSE_TIP_MESH, _NOSE_TIP_STAND_IN = 1, 4
# Hand keypoints (same 21-point layout in both) -> MediaPipe pinky / index / thumb points.
_HAND_TO_MP = {17: (17, 18), 5: (19, 20), 3: (21, 22)}  # hand index -> (left mp, right mp)

# Not OpenPose's: the frame key in which motion_to_pose_keypoint names the motion's keypoint source.
KEYPOINT_SOURCE_KEY = "dreamactor_keypoint_source"
TORSO_M = 0.52  # shoulder-centre to hip-centre of an average adult, metres
SHOULDER_M = 0.38
NORMALISED_LIMIT = 2.0


def _points(values, name: str) -> np.ndarray | None:
    """``[N, 3]`` (x, y, c) with c <= 0 -> NaN position; None when empty."""
    if not values:
        return None
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size % 3:
        raise DreamActorError(f"pose_keypoint: '{name}' must hold x, y, confidence triples; got {arr.size} numbers")
    pts = arr.reshape(-1, 3).copy()
    missing = ~(pts[:, 2] > 0)
    pts[missing, :2] = np.nan
    return pts


def _to_pixels(pts: np.ndarray | None, w: int, h: int) -> np.ndarray | None:
    if pts is None:
        return None
    xy = pts[:, :2]
    found = np.isfinite(xy).all(axis=1)
    if found.any() and np.abs(xy[found]).max() <= NORMALISED_LIMIT:
        pts = pts.copy()
        pts[:, 0] *= w
        pts[:, 1] *= h
    return pts


def _canvas(frame: dict, t: int) -> tuple[int, int]:
    w, h = frame.get("canvas_width"), frame.get("canvas_height")
    if not w or not h:
        raise DreamActorError(
            f"pose_keypoint[{t}]: 'canvas_width'/'canvas_height' missing; pass the POSE_KEYPOINT "
            "output of a DWPose/OpenPose node unchanged"
        )
    return int(w), int(h)


def motion_from_pose_keypoint(pose_keypoint: Any, fps: float, person_index: int = 0) -> Motion:
    """Convert an OpenPose-format keypoint list (one dict per frame) into a :class:`Motion`.

    ``person_index`` picks the person in each frame's ``people`` list (their order as
    the detector wrote it). Frames without that person stay NaN.
    """
    if isinstance(pose_keypoint, dict):
        pose_keypoint = [pose_keypoint]
    if not isinstance(pose_keypoint, (list, tuple)) or not pose_keypoint:
        raise DreamActorError("pose_keypoint: expected a non-empty list of frames (the POSE_KEYPOINT output)")
    if not fps > 0:
        raise DreamActorError(f"fps: must be positive, got {fps}")
    if person_index < 0:
        raise DreamActorError(f"person_index: must be >= 0, got {person_index}")
    w, h = _canvas(pose_keypoint[0], 0)
    motion = Motion.empty(len(pose_keypoint), fps=fps, width=w, height=h, source=_keypoint_source(pose_keypoint[0]))
    found = 0
    for t, frame in enumerate(pose_keypoint):
        if not isinstance(frame, dict):
            raise DreamActorError(f"pose_keypoint[{t}]: expected a dict with 'people', got {type(frame).__name__}")
        fw, fh = _canvas(frame, t)
        people = frame.get("people") or []
        if person_index >= len(people):
            continue
        person = people[person_index]
        body = _to_pixels(_points(person.get("pose_keypoints_2d"), "pose_keypoints_2d"), fw, fh)
        if body is None or not np.isfinite(body[:, 0]).any():
            continue
        found += 1
        sx, sy = w / fw, h / fh  # frames drawn on another canvas size are brought to frame 0's
        mapping = _BODY25_TO_MP if len(body) >= 25 else _OP18_TO_MP
        for src, dst in mapping.items():
            if src < len(body):
                motion.body_px[t, dst] = (body[src, 0] * sx, body[src, 1] * sy, body[src, 0] * 0.0)
                motion.body_conf[t, dst] = body[src, 2] if np.isfinite(body[src, 0]) else np.nan
        feet = _to_pixels(_points(person.get("foot_keypoints_2d"), "foot_keypoints_2d"), fw, fh)
        if feet is not None and len(feet) == 6:
            for src, dst in _FOOT6_TO_MP.items():
                motion.body_px[t, dst] = (feet[src, 0] * sx, feet[src, 1] * sy, feet[src, 0] * 0.0)
                motion.body_conf[t, dst] = feet[src, 2] if np.isfinite(feet[src, 0]) else np.nan
        face = _to_pixels(_points(person.get("face_keypoints_2d"), "face_keypoints_2d"), fw, fh)
        if face is not None and len(face) >= 68:
            for src, dst in _FACE68_TO_MP.items():
                motion.body_px[t, dst] = (face[src, 0] * sx, face[src, 1] * sy, face[src, 0] * 0.0)
                motion.body_conf[t, dst] = face[src, 2] if np.isfinite(face[src, 0]) else np.nan
            _face_to_mesh(motion, t, face, sx, sy)
        for side, key in enumerate(("hand_left_keypoints_2d", "hand_right_keypoints_2d")):
            hand = _to_pixels(_points(person.get(key), key), fw, fh)
            if hand is None or len(hand) != 21 or not np.isfinite(hand[:, 0]).any():
                continue
            motion.hands_px[t, side, :, 0] = hand[:, 0] * sx
            motion.hands_px[t, side, :, 1] = hand[:, 1] * sy
            motion.hands_px[t, side, :, 2] = np.where(np.isfinite(hand[:, 0]), 0.0, np.nan)
            motion.hands_conf[t, side] = float(np.mean(hand[:, 2]))
            for src, dsts in _HAND_TO_MP.items():
                motion.body_px[t, dsts[side]] = motion.hands_px[t, side, src]
                motion.body_conf[t, dsts[side]] = hand[src, 2] if np.isfinite(hand[src, 0]) else np.nan
        if np.isfinite(motion.body_px[t, :, 0]).sum() >= 2:
            motion.person_box[t] = landmarks_box(motion.body_px[t], w, h)
    if found == 0:
        raise DreamActorError(
            f"pose_keypoint: no person with index {person_index} in any of the {len(pose_keypoint)} frames; "
            "check that the pose node found someone, or use person_index 0"
        )
    # The head sphere is fitted on detected points only, before any point is estimated.
    motion = estimate_head(motion)
    motion.body_px, motion.body_conf, estimated = complete_body(motion.body_px, motion.body_conf)
    motion.body_world = _world_from_2d(motion.body_px)
    motion.meta["person"] = {"mode": "index", "index": int(person_index), "source": "pose_keypoint"}
    motion.meta["depth"] = "flat (2D source)"
    motion.meta["estimated_points"] = sorted(int(i) for i in np.flatnonzero(estimated.any(axis=0)))
    return motion


def _keypoint_source(frame: dict) -> str:
    """The keypoint source of the points: ``"pose_keypoint"`` (a detector's, on the real eyes and ears) unless the
    frame says it was written by :func:`motion_to_pose_keypoint` from a motion of another known source (our own
    MediaPipe extraction exported and read back keeps MediaPipe's head-point model)."""
    name = frame.get(KEYPOINT_SOURCE_KEY)
    return name if isinstance(name, str) and name in POINT_SOURCES else "pose_keypoint"


def _face_to_mesh(motion: Motion, t: int, face: np.ndarray, sx: float, sy: float) -> None:
    """Write the 70-point face (68 without pupils) into the FaceMesh landmarks it was read from."""
    mesh = np.asarray(FACE70_FROM_MESH[:len(face)])
    found = np.isfinite(face[:len(mesh), 0])
    motion.face_px[t, mesh[found], 0] = face[:len(mesh)][found, 0] * sx
    motion.face_px[t, mesh[found], 1] = face[:len(mesh)][found, 1] * sy
    motion.face_px[t, mesh[found], 2] = 0.0
    motion.face_px[t, _NOSE_TIP_MESH] = motion.face_px[t, _NOSE_TIP_STAND_IN]
    if found.any():
        motion.face_conf[t] = float(np.mean(face[:len(mesh)][found, 2]))


def _world_from_2d(body_px: np.ndarray) -> np.ndarray:
    """Hip-centred metric coordinates from pixels, scaled so the torso is ``TORSO_M`` long (z = 0)."""
    with warnings.catch_warnings():  # all-NaN frames give NaN, which is what we want
        warnings.simplefilter("ignore", RuntimeWarning)
        shoulders = np.nanmean(body_px[:, [11, 12], :2], axis=1)
        hips = np.nanmean(body_px[:, [23, 24], :2], axis=1)
        torso_px = np.nanmedian(np.linalg.norm(shoulders - hips, axis=1))
        width_px = np.nanmedian(np.linalg.norm(body_px[:, 11, :2] - body_px[:, 12, :2], axis=1))
    if np.isfinite(torso_px) and torso_px > 1:
        m_per_px, down = TORSO_M / torso_px, torso_px
    elif np.isfinite(width_px) and width_px > 1:
        m_per_px, down = SHOULDER_M / width_px, width_px * TORSO_M / SHOULDER_M
    else:
        return np.full_like(body_px, np.nan)
    # Without hips (e.g. a portrait) the root sits one torso length below the shoulders.
    root = np.where(np.isfinite(hips), hips, shoulders + np.array([0.0, down]))
    world = np.zeros_like(body_px)
    world[..., :2] = (body_px[..., :2] - root[:, None, :]) * m_per_px
    world[np.isnan(body_px[..., 0])] = np.nan
    return world.astype(np.float32)


def motion_to_pose_keypoint(motion: Motion, normalized: bool = False, min_conf: float = 0.0) -> list[dict]:
    """The motion as an OpenPose-format ``POSE_KEYPOINT`` list (18-point body, 70-point face,
    21-point hands).

    Coordinates are pixels of the motion's frame size, or in [0, 1] with
    ``normalized=True``. Missing points are written as ``0, 0, 0`` as OpenPose does.
    Each frame names the motion's keypoint source in ``KEYPOINT_SOURCE_KEY`` (other readers ignore it).
    The neck is the mid-point of the shoulders. The feet go to ``foot_keypoints_2d``
    (BODY_25's six foot points; the small toes, which MediaPipe lacks, as zeros), which
    :func:`motion_from_pose_keypoint` reads back. The face is read off the FaceMesh
    landmarks at :data:`FACE70_FROM_MESH` with the frame's face confidence; a frame
    without a face gets an empty face list, and the pupils are zeros without iris landmarks.
    """
    w, h = motion.width, motion.height
    sx, sy = (1.0 / w, 1.0 / h) if normalized else (1.0, 1.0)
    inverse = {dst: src for src, dst in _OP18_TO_MP.items()}
    # Where its head points sit is the source's (point_sources): said only for a source with a record.
    source = motion.meta.get("source")
    known = {KEYPOINT_SOURCE_KEY: source} if isinstance(source, str) and source in POINT_SOURCES else {}

    def triples(xy: np.ndarray, conf: np.ndarray) -> list[float]:
        out: list[float] = []
        for (x, y), c in zip(xy, conf):
            ok = np.isfinite(x) and np.isfinite(y) and np.isfinite(c) and c > min_conf
            out += [float(x) * sx, float(y) * sy, float(c)] if ok else [0.0, 0.0, 0.0]
        return out

    frames = []
    for t in range(motion.num_frames):
        body_xy = np.full((18, 2), np.nan)
        body_c = np.zeros(18)
        for dst, src in inverse.items():
            body_xy[src] = motion.body_px[t, dst, :2]
            body_c[src] = motion.body_conf[t, dst]
        body_xy[1] = motion.body_px[t, [11, 12], :2].mean(axis=0)
        body_c[1] = np.min(motion.body_conf[t, [11, 12]])
        face = motion.face_px[t, FACE70_FROM_MESH, :2]
        face_found = np.isfinite(face[:68]).all()
        foot_xy = np.full((6, 2), np.nan)
        foot_c = np.zeros(6)
        for src, dst in _FOOT6_TO_MP.items():
            foot_xy[src], foot_c[src] = motion.body_px[t, dst, :2], motion.body_conf[t, dst]
        person = {"pose_keypoints_2d": triples(body_xy, body_c),
                  "foot_keypoints_2d": triples(foot_xy, foot_c) if np.isfinite(foot_xy).any() else [],
                  "face_keypoints_2d": triples(face, np.full(70, motion.face_conf[t])) if face_found else []}
        for side, key in enumerate(("hand_left_keypoints_2d", "hand_right_keypoints_2d")):
            hand = motion.hands_px[t, side, :, :2]
            conf = np.full(21, motion.hands_conf[t, side])
            person[key] = triples(hand, conf) if np.isfinite(hand).all() else []
        people = [person] if np.isfinite(body_xy).any() or face_found else []
        frames.append({"people": people, "canvas_width": w, "canvas_height": h, **known})
    return frames
