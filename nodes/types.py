"""Custom socket types of the pack, and conversions between ComfyUI values and core values.

ComfyUI passes IMAGE as a float tensor ``[B, H, W, C]`` in [0, 1]; the core takes
uint8 frames ``[T, H, W, 3]``. Conversions live here so every node does them the
same way.
"""
from __future__ import annotations

import numpy as np
import torch
from comfy_api.latest import io

from dreamactor_core.utils import DreamActorError

# One tracked person's motion over a clip (dreamactor_core.signals.motion.Motion).
Motion = io.Custom("DREAMACTOR_MOTION")
# OpenPose JSON frames as emitted by comfyui_controlnet_aux's DWPose/OpenPose nodes.
PoseKeypoint = io.Custom("POSE_KEYPOINT")
# The animation DiT travels on ComfyUI's own MODEL socket (nodes/comfy_model.py); workflows saved
# with this former type are migrated by web/js on load and explained by the server (nodes/legacy.py).
REMOVED_MODEL_TYPE = "DREAMACTOR_MODEL"
# Face motion tokens [B, latent_frames, 5, D] from the face motion encoder.
FaceTokens = io.Custom("DREAMACTOR_FACE_TOKENS")
# Further conditioning entries for the Sampler: {registered entry name: whole-clip tensor, batch 1}. A signal
# node adds its entry to the dict it was given (nodes chain); a model variant whose contract consumes the
# entry reads it. The Sampler passes the dict through without knowing its members.
Signals = io.Custom("DREAMACTOR_SIGNALS")


def add_signal(signals: dict | None, name: str, value: torch.Tensor) -> dict:
    """A new signals dict: ``signals`` plus entry ``name`` (registered in dreamactor_core.model.entries)."""
    from dreamactor_core.model.entries import entry

    entry(name)
    if signals and name in signals:
        raise DreamActorError(f"signals: {name} is already set by an earlier signal node; connect it once")
    return {**(signals or {}), name: value}


def image_to_uint8(image: torch.Tensor, name: str) -> np.ndarray:
    """IMAGE ``[B, H, W, C]`` (C = 1, 3 or 4) -> uint8 RGB ``[B, H, W, 3]``; errors name ``name``."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        shape = tuple(getattr(image, "shape", ()))
        raise DreamActorError(f"{name}: expected an IMAGE batch [frames, height, width, channels], got shape {shape}")
    if image.shape[0] == 0:
        raise DreamActorError(f"{name}: the image batch is empty; connect at least one frame")
    channels = image.shape[-1]
    if channels == 1:
        image = image.expand(-1, -1, -1, 3)
    elif channels == 4:
        image = image[..., :3]  # alpha is dropped: the core works on RGB
    elif channels != 3:
        raise DreamActorError(f"{name}: expected 1, 3 or 4 channels, got {channels}")
    pixels = torch.nan_to_num(image.detach().float().cpu(), nan=0.0).clamp(0.0, 1.0)
    return (pixels * 255.0).round().to(torch.uint8).numpy()


def to_image(frames) -> torch.Tensor:
    """Core frames (uint8 numpy or float tensor, ``[T, H, W, 3]``) -> IMAGE float32 in [0, 1]."""
    if isinstance(frames, np.ndarray):
        if frames.dtype == np.uint8:
            return torch.from_numpy(np.ascontiguousarray(frames)).float().div_(255.0)
        return torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).clamp_(0.0, 1.0)
    return frames.detach().float().cpu().clamp(0.0, 1.0)


def image_to_video(image: torch.Tensor) -> torch.Tensor:
    """IMAGE ``[T, H, W, 3]`` in [0, 1] -> model video ``[1, 3, T, H, W]`` in [-1, 1]."""
    return image[..., :3].movedim(-1, 0).unsqueeze(0).mul(2.0).sub(1.0)


def video_to_image(video: torch.Tensor) -> torch.Tensor:
    """Model video ``[B, 3, T, H, W]`` in [-1, 1] -> IMAGE ``[B*T, H, W, 3]`` in [0, 1]."""
    frames = video.detach().float().cpu().add(1.0).mul(0.5).clamp(0.0, 1.0)
    return frames.permute(0, 2, 3, 4, 1).reshape(-1, *frames.shape[-2:], 3)


def motion_summary(motion) -> str:
    """One readable paragraph about a motion, shown under the node that made it."""
    t = motion.num_frames
    filled = int(np.nansum(motion.interpolated)) if t else 0
    face = int(np.sum(motion.face_conf > 0.0)) if t else 0
    lines = [
        f"{t} frames at {motion.fps:g} fps, {motion.width}x{motion.height} px",
        f"interpolated frames: {filled}",
        f"frames with a face: {face}",
    ]
    size = motion.meta.get("body_size")
    if isinstance(size, dict):
        if size.get("height_m"):
            lines.append(f"height: about {size['height_m']:.2f} m (body {size['head_ratio']:.1f} head radii)")
        else:
            lines.append(f"height: not estimated ({size.get('why') or 'no whole body'})")
    person = motion.meta.get("person")
    if isinstance(person, dict):
        lines.append(f"person: {person.get('mode', '?')} -> #{person.get('chosen', '?')} "
                     f"of {person.get('count', '?')} found (0 = leftmost)")
    elif person is not None:
        lines.append(f"person: {person}")
    return "\n".join(lines)
