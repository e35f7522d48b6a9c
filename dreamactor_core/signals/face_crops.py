"""Per-frame face crops, stabilised over time (the face input of Wan2.2-Animate's face encoder).

Each frame gets a square box around the face: the box of the FaceMesh landmarks when
the face was found, else one derived from the head sphere (``head_center_px`` /
``head_radius_px``), else from the body's head points. Boxes are scaled by ``margin``,
gaps are bridged by interpolation, and centre and size are low-passed with a
zero-phase (forward-backward) exponential filter, so the crop neither jitters nor lags
behind the head.
"""
from __future__ import annotations

import numpy as np

from ..utils import CancelFn, DreamActorError, ProgressFn, check_cancel, report
from .face_landmarks import crop_square, face_box_from_landmarks, head_box_from_body
from .motion import Motion

# A face-landmark box (forehead to chin) is about 1.3 head-sphere radii on a side; the
# body-derived head box covers the whole head (about 2 radii), i.e. ~1.5x a face box.
_FACE_SIDE_PER_HEAD_RADIUS = 1.3
_FACE_SIDE_PER_BODY_HEAD_BOX = 1.0 / 1.5


def _raw_boxes(motion: Motion) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (cx, cy, side) of the unscaled face box, NaN where unknown, and the source code
    per frame (0 none, 1 face mesh, 2 head sphere, 3 body)."""
    n = motion.num_frames
    out = np.full((n, 3), np.nan)
    src = np.zeros(n, dtype=np.int8)
    for i in range(n):
        box = face_box_from_landmarks(motion.face_px[i])
        if box is not None:
            # Only the face oval counts; FaceMesh's box is a little taller than wide.
            out[i] = (0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3]), max(box[2] - box[0], box[3] - box[1]))
            src[i] = 1
            continue
        c, r = motion.head_center_px[i], float(motion.head_radius_px[i])
        if np.isfinite(c).all() and np.isfinite(r) and r > 0:
            out[i] = (c[0], c[1], _FACE_SIDE_PER_HEAD_RADIUS * r)
            src[i] = 2
            continue
        box = head_box_from_body(motion.body_px[i])
        if box is not None:
            out[i] = (0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3]), _FACE_SIDE_PER_BODY_HEAD_BOX * (box[2] - box[0]))
            src[i] = 3
    return out, src


def _fill_gaps(values: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN rows; the ends hold the nearest known value."""
    out = values.copy()
    t = np.arange(len(values))
    known = np.isfinite(values).all(axis=1)
    for c in range(values.shape[1]):
        out[:, c] = np.interp(t, t[known], values[known, c])
    return out


def _zero_phase_ema(values: np.ndarray, smooth: float) -> np.ndarray:
    """Forward then backward exponential smoothing (no lag); ``smooth`` 0 leaves values as they are."""
    if smooth <= 0 or len(values) < 2:
        return values.copy()
    a = 1.0 - smooth
    fwd = values.copy()
    for i in range(1, len(values)):
        fwd[i] = fwd[i - 1] + a * (values[i] - fwd[i - 1])
    out = fwd.copy()
    for i in range(len(values) - 2, -1, -1):
        out[i] = out[i + 1] + a * (fwd[i] - out[i + 1])
    return out


def face_crop_boxes(motion: Motion, *, margin: float = 1.4, smooth: float = 0.8) -> np.ndarray:
    """Square face boxes ``[T, 4]`` (x0, y0, x1, y1 pixels of the motion's video).

    ``margin`` scales the face box (1.0 = tight around the landmarks); ``smooth`` in [0, 1)
    is the strength of the temporal low-pass on centre and size (0 = raw per-frame
    boxes). Frames without a face fall back to the head sphere or the body's head points;
    frames with nothing are bridged from their neighbours. Raises ``DreamActorError`` if
    no frame shows a face or head.
    """
    if not isinstance(motion, Motion):
        raise DreamActorError(f"face_crop_boxes: expected a Motion, got {type(motion).__name__}")
    if not margin > 0:
        raise DreamActorError(f"face_crop_boxes: margin must be positive, got {margin}")
    if not 0.0 <= smooth < 1.0:
        raise DreamActorError(f"face_crop_boxes: smooth must be in [0, 1), got {smooth}")
    raw, _ = _raw_boxes(motion)
    if not np.isfinite(raw).all(axis=1).any():
        raise DreamActorError("face crops: no face or head was found in any frame of the motion; "
                              "check that the driving video shows a person's face")
    filled = _fill_gaps(raw)
    # Smooth the size in log space so that growth and shrinkage are treated alike.
    filled[:, 2] = np.log(np.maximum(filled[:, 2], 1.0))
    smoothed = _zero_phase_ema(filled, float(smooth))
    cx, cy = smoothed[:, 0], smoothed[:, 1]
    half = 0.5 * np.exp(smoothed[:, 2]) * float(margin)
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1).astype(np.float32)


def _as_uint8_frames(frames) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise DreamActorError(f"face crops: frames must be an RGB batch [T, H, W, 3], got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        from .video_io import float_to_uint8

        return float_to_uint8(arr, "face crops: frames")
    raise DreamActorError(f"face crops: frames must be uint8 or float in [0, 1], got {arr.dtype}")


def crop_faces(frames, motion: Motion, *, size: int = 512, margin: float = 1.4, smooth: float = 0.8,
               pad: str = "black", progress: ProgressFn = None, cancel: CancelFn = None) -> np.ndarray:
    """Face crops ``uint8 [T, size, size, 3]`` of ``frames`` (uint8 ``[T, H, W, 3]``) following ``motion``.

    ``size`` 512 is what Wan2.2-Animate's face encoder takes (224 for other encoders).
    Where a box leaves the frame the crop is padded with black (``pad="black"``) or
    the repeated border pixels (``pad="edge"``).
    """
    import cv2

    arr = _as_uint8_frames(frames)
    t, h, w = arr.shape[:3]
    if t == 0:
        raise DreamActorError("face crops: the image batch is empty")
    if (w, h) != (motion.width, motion.height):
        raise DreamActorError(
            f"face crops: frames are {w}x{h} but the motion was extracted from {motion.width}x{motion.height} "
            "video; pass the same frames (before any resize) that the motion came from")
    if t != motion.num_frames:
        raise DreamActorError(f"face crops: {t} frames but the motion has {motion.num_frames}; they must match")
    if not 16 <= int(size) <= 4096:
        raise DreamActorError(f"face crops: size must be between 16 and 4096 pixels, got {size}")
    borders = {"black": cv2.BORDER_CONSTANT, "edge": cv2.BORDER_REPLICATE}
    if pad not in borders:
        raise DreamActorError(f"face crops: pad must be one of {sorted(borders)}, got {pad!r}")
    boxes = face_crop_boxes(motion, margin=margin, smooth=smooth)
    out = np.empty((t, int(size), int(size), 3), dtype=np.uint8)
    for i in range(t):
        check_cancel(cancel)
        x0, y0, x1, y1 = (float(v) for v in boxes[i])
        out[i] = crop_square(arr[i], 0.5 * (x0 + x1), 0.5 * (y0 + y1), max(x1 - x0, 2.0), int(size),
                             border=borders[pad])[0]
        report(progress, i + 1, t)
    return out
