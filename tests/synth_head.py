"""Test helper: decode a synthetic clip, run MediaPipe Pose + our face tracking on a subsample.

Results are cached per (clip, step, box mode) so the head-pose, face-landmark and face-crop
tests share one extraction per session.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from dreamactor_core.signals.face_landmarks import track_faces
from dreamactor_core.signals.motion import Motion


@functools.lru_cache(maxsize=None)
def load_clip(synth_dir: str, clip: str, step: int) -> tuple[dict, np.ndarray, list[int]]:
    """(ground-truth JSON, frames [T', H, W, 3] uint8 of every ``step``-th frame, their indices)."""
    import imageio.v2 as iio

    base = Path(synth_dir) / clip
    gt = json.loads(base.with_suffix(".json").read_text())
    reader = iio.get_reader(str(base.with_suffix(".mp4")))
    frames, idx = [], []
    for i, frame in enumerate(reader):
        if i % step == 0:
            frames.append(np.asarray(frame)[..., :3])
            idx.append(i)
    reader.close()
    return gt, np.stack(frames), idx


def pose_landmarks(frames: np.ndarray) -> np.ndarray:
    """MediaPipe Pose (video mode) body landmarks ``[T, 33, 3]`` in pixels, NaN where not found."""
    import mediapipe as mp

    t, h, w = frames.shape[:3]
    out = np.full((t, 33, 3), np.nan, dtype=np.float32)
    with mp.solutions.pose.Pose(model_complexity=1) as pose:
        for i, frame in enumerate(frames):
            res = pose.process(frame)
            if res.pose_landmarks:
                out[i] = [(p.x * w, p.y * h, p.z * w) for p in res.pose_landmarks.landmark]
    return out


@functools.lru_cache(maxsize=None)
def extract(synth_dir: str, clip: str, step: int, use_body: bool = True) -> Motion:
    """A Motion with body (MediaPipe Pose) and face (our tracker) landmarks of the subsampled clip.

    With ``use_body`` the face tracker gets its head boxes from the Pose landmarks (the
    crop path); without, it searches whole frames first.
    """
    gt, frames, idx = load_clip(synth_dir, clip, step)
    t, h, w = frames.shape[:3]
    m = Motion.empty(t, fps=gt["video"]["fps"] / step, width=w, height=h, source="mediapipe")
    body = pose_landmarks(frames)
    m.body_px[:] = body
    m.face_px[:], m.face_conf[:] = track_faces(frames, body if use_body else None)
    return m


def gt_heads(gt: dict, idx: list[int]) -> dict[str, np.ndarray]:
    """Ground-truth head arrays for the frames ``idx``."""
    heads = [gt["frames"][i]["head"] for i in idx]
    return {
        "angles": np.array([[hd["yaw_deg"], hd["pitch_deg"], hd["roll_deg"]] for hd in heads]),
        "center": np.array([hd["center_uv"] for hd in heads]),
        "radius": np.array([hd["radius_px"] for hd in heads]),
        "bbox": np.array([hd["bbox_xyxy"] for hd in heads]),
        "rotation": np.array([hd["R_head_to_cam"] for hd in heads]),
    }
