"""Build ``Motion``s straight from the synthetic clips' ground truth (no MediaPipe).

Tests of stages that consume motion (framing, rendering, retargeting) use this
so they test their own logic against exact inputs.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from dreamactor_core.signals.motion import Motion

# vis flag (0 outside, 1 occluded, 2 visible) -> a MediaPipe-like confidence.
_VIS_CONF = np.array([0.05, 0.6, 0.98], dtype=np.float32)


@functools.lru_cache(maxsize=8)
def load_clip(path: str) -> dict:
    return json.loads(Path(path).read_text())


def synth_motion(synth_dir: Path, clip: str, frames=None) -> Motion:
    """A Motion of ``clip`` (e.g. ``"pub02_arm_wave"``) holding its ground truth for ``frames``.

    Body from ``mp33`` (uv, camera-frame xyz as ``body_cam``, hip-centred xyz as
    ``body_world``, depth in pixel units relative to the hips as the third column
    of ``body_px``); head from ``head``; hands and face mesh are missing (NaN).
    """
    gt = load_clip(str(Path(synth_dir) / f"{clip}.json"))
    idx = list(range(len(gt["frames"]))) if frames is None else list(frames)
    w, h = gt["video"]["width"], gt["video"]["height"]
    fx = gt["camera"]["fx"]
    m = Motion.empty(len(idx), fps=gt["video"]["fps"], width=w, height=h, source=f"synth:{clip}")
    cam = np.zeros((len(idx), 33, 3), np.float32)
    for k, i in enumerate(idx):
        f = gt["frames"][i]
        uv = np.array(f["mp33"]["uv"], np.float32)
        xyz = np.array(f["mp33"]["xyz_cam"], np.float32)
        hip = xyz[[23, 24]].mean(0)
        m.body_px[k, :, :2] = uv
        m.body_px[k, :, 2] = (xyz[:, 2] - hip[2]) * fx / hip[2]
        m.body_conf[k] = _VIS_CONF[np.array(f["mp33"]["vis"], int)]
        m.body_world[k] = xyz - hip
        cam[k] = xyz
        head = f["head"]
        m.head_angles[k] = [head["yaw_deg"], head["pitch_deg"], head["roll_deg"]]
        m.head_rotation[k] = np.array(head["R_head_to_cam"], np.float32)
        m.head_center_px[k] = head["center_uv"]
        m.head_radius_px[k] = head["radius_px"]
        m.gaze[k] = 0.0
        m.person_box[k] = f["person_bbox_xyxy"]
    m.body_cam = cam
    m.validate()
    return m
