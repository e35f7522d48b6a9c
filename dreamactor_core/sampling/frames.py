"""Frames going into the pipeline: checked, sized to the model's grid, framed, and rendered as guidance.

Everything that turns what a user hands over (a reference image, guidance or driving frames in any
dtype and size) into uint8 RGB at a size the VAE and DiT accept lives here, so the nodes, the CLI and
the pipeline share one set of rules and one set of messages; ``extract_guidance`` makes the lazily
rendered guidance and face-crop frames of a driving video.
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import torch

from ..utils import DreamActorError, ProgressFn

log = logging.getLogger("dreamactor.sampling")
ASPECTS = ("letterbox", "crop", "stretch")
# below this many pixels on its shorter side a reference has no face worth copying (a face crop is
# 512 px; MediaPipe's face model starts at 192): it runs, but the user should hear why it looks bad
MIN_REFERENCE_SIDE = 128


def snap_size(width: int, height: int, mode: str = "crop") -> tuple[int, int, str | None]:
    """Round a size to multiples of 16 (the VAE's 8x times the DiT's 2x patch) and say what was done."""
    if width < 16 or height < 16:
        raise DreamActorError(f"size: {width}x{height} is too small; width and height must be at least 16")
    if mode not in ("crop", "pad"):
        raise DreamActorError(f"size_fix: '{mode}' must be 'crop' or 'pad'")
    if width % 16 == 0 and height % 16 == 0:
        return width, height, None
    f = (lambda v: v // 16 * 16) if mode == "crop" else (lambda v: -(-v // 16) * 16)
    w, h = f(width), f(height)
    verb = "cropping" if mode == "crop" else "padding"
    # no advice on the other mode here: not every caller offers the choice (the Sampler node does not)
    note = f"size {width}x{height} is not a multiple of 16: {verb} to {w}x{h}"
    log.warning(note)
    return w, h, note


def default_size(ref_w: int, ref_h: int, max_area: int) -> tuple[int, int]:
    """The reference's aspect at about ``max_area`` pixels, in multiples of 16."""
    scale = min(1.0, (max_area / float(ref_w * ref_h)) ** 0.5)
    return max(16, int(ref_w * scale) // 16 * 16), max(16, int(ref_h * scale) // 16 * 16)


def fit_frames(frames: np.ndarray, width: int, height: int, mode: str) -> np.ndarray:
    """Resize uint8 frames [T,H,W,3] to ``width`` x ``height`` with the shared framing rule."""
    frames = np.asarray(frames)
    if frames.shape[1:3] == (height, width):
        return frames
    from ..signals.framing import resize_frames
    return np.asarray(resize_frames(frames, width, height, mode))


def check_frames(frames, name: str) -> np.ndarray:
    """uint8 RGB [T,H,W,3] (float [0,1] accepted); clear errors for empty or odd inputs."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise DreamActorError(f"{name}: it has zero frames (shape {frames.shape}); give at least one RGB frame")
    if frames.shape[-1] == 4:
        frames = frames[..., :3]
    if frames.shape[-1] != 3:
        raise DreamActorError(f"{name}: expected RGB frames [T,H,W,3], got shape {frames.shape}")
    if frames.dtype != np.uint8:
        from ..signals.video_io import float_to_uint8

        frames = float_to_uint8(frames, name)
    return frames


def small_reference_note(reference: np.ndarray) -> str | None:
    """A warning (logged at once, returned for the notes) for a reference too small to show a face."""
    h, w = reference.shape[:2]
    if min(h, w) >= MIN_REFERENCE_SIDE:
        return None
    text = (f"reference: only {w}x{h} pixels; below {MIN_REFERENCE_SIDE} on its shorter side the face and "
            "clothing cannot come through, give a larger image (at least the output size)")
    log.warning(text)
    return text


def check_aspect(ref_wh: tuple[int, int], guide_wh: tuple[int, int], aspect: str | None) -> None:
    """Refuse a reference whose aspect differs from the guidance's unless a framing was chosen."""
    ra, ga = ref_wh[0] / ref_wh[1], guide_wh[0] / guide_wh[1]
    if aspect is None and abs(ra / ga - 1.0) > 0.02:
        raise DreamActorError(
            f"reference: its aspect {ref_wh[0]}x{ref_wh[1]} ({ra:.3f}) differs from the guidance's "
            f"{guide_wh[0]}x{guide_wh[1]} ({ga:.3f}), so the pose would not line up with the person; render the "
            f"guidance with the reference's framing, or choose aspect='letterbox', 'crop' or 'stretch'")


def fix_size(frames: np.ndarray, w: int, h: int, mode: str) -> np.ndarray:
    """Centre-crop or edge-pad frames to ``w`` x ``h``."""
    fh, fw = frames.shape[1:3]
    if (fh, fw) == (h, w):
        return frames
    if mode == "crop":
        y, x = (fh - h) // 2, (fw - w) // 2
        return frames[:, y:y + h, x:x + w]
    py, px = h - fh, w - fw
    return np.pad(frames, ((0, 0), (py // 2, py - py // 2), (px // 2, px - px // 2), (0, 0)), mode="edge")


def unfix_size(frames: np.ndarray, w: int, h: int, mode: str) -> np.ndarray:
    """Undo padding (crop back to the requested size); cropped output stays at its smaller size."""
    if mode != "pad" or frames.shape[1:3] == (h, w):
        return frames
    fh, fw = frames.shape[1:3]
    y, x = (fh - h) // 2, (fw - w) // 2
    return frames[:, y:y + h, x:x + w]


class LazyFrames:
    """A frame sequence whose slices are made on demand (``fn(start, stop) -> uint8 [n,H,W,3]``)."""

    def __init__(self, length: int, fn: Callable[[int, int], np.ndarray]):
        self.length, self.fn = int(length), fn
        self.motion = None  # the motion the frames are rendered from, where there is one

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: slice) -> np.ndarray:
        start, stop, _ = index.indices(self.length)
        return np.asarray(self.fn(start, stop))


def extract_guidance(reference: np.ndarray, driving: np.ndarray, fps: float, width: int, height: int, *,
                     style: str = "dreamactor", aspect: str = "letterbox", bone_scales=None, face_size: int = 512,
                     align: bool = True, progress: ProgressFn = None, person: str | int = "largest",
                     reference_person: str | int = "largest"):
    """Motion of the driving video retargeted to the reference, plus lazy guidance and face-crop sequences.

    Returns ``(driving_motion, reference_motion, guidance, faces)``; guidance frames are
    rendered at ``width`` x ``height`` with the reference's framing, face crops come from
    the driving frames. Rendering happens per window, so memory stays flat.
    ``align`` False keeps the driver's placement and scale (replacement mode: the new person
    stands where the driver stood, with the reference's proportions); the guidance's
    ``motion`` attribute is the retargeted motion it renders. ``progress`` follows the driving
    video's extraction. ``person`` / ``reference_person`` choose whom to follow when a picture holds
    several people (see :func:`..signals.tracking.parse_person`).
    """
    from ..signals.extract import extract_motion
    from ..signals.face_crops import crop_faces
    from ..signals.render_dreamactor import render_guidance
    from ..signals.retarget import retarget_motion

    drive = extract_motion(driving, fps, progress=progress, person=person, name="driving video")
    ref = extract_motion(reference[None], fps, name="reference", person=reference_person)
    from .alignment import align_to_reference

    target = retarget_motion(drive, ref, bone_scales=bone_scales)
    if align:
        target = align_to_reference(target, ref)
    n = drive.num_frames
    guidance = LazyFrames(n, lambda a, b: render_guidance(target.slice(a, b), width, height, style=style,
                                                          aspect=aspect))
    guidance.motion = target
    faces = LazyFrames(n, lambda a, b: crop_faces(driving[a:b], drive.slice(a, b), size=face_size))
    return drive, ref, guidance, faces
