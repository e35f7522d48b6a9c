"""Aspect handling shared by every node that resizes: letterbox, crop or stretch.

One function, :func:`fit_transform`, decides how a ``src_w x src_h`` picture is
placed into a ``dst_w x dst_h`` frame. Everything that resizes (reference
images, driving frames, guidance renders, motion coordinates) goes through it,
so a guidance frame lines up pixel for pixel with how the reference is framed.

Pixel convention: the centre of the top-left pixel is (0, 0), as in OpenCV and
``Motion``. A transform maps a source point ``(x, y)`` to
``(x * scale_x + offset_x, y * scale_y + offset_y)``.

The resized picture always covers a whole number of target pixels, so the
scales are ``content_size / source_size`` with an integer content size and the
padding (letterbox) or cut (crop) is a whole number of pixels. That makes
:func:`resize_frames` (``cv2.resize`` plus pad or cut) agree exactly with
:class:`Transform` instead of being off by a rounding-dependent fraction.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import cv2
import numpy as np

from ..utils import DreamActorError
from .motion import Motion

ASPECT_MODES = ("letterbox", "crop", "stretch")

# Point fields of Motion whose first two columns are pixel x, y (third, when
# present, is a relative depth in pixel units of the image width).
_POINT_FIELDS = ("body_px", "hands_px", "face_px")


class Transform(NamedTuple):
    """Axis-aligned map from source pixels to target pixels (pixel-centre convention).

    A named tuple, so ``sx, sy, ox, oy = fit_transform(...)`` works too.
    """

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float

    def apply(self, xy: np.ndarray) -> np.ndarray:
        """Map points ``[..., 2+]`` (x, y first); extra columns are returned unchanged."""
        pts = np.array(xy, dtype=np.float64, copy=True)
        pts[..., 0] = pts[..., 0] * self.scale_x + self.offset_x
        pts[..., 1] = pts[..., 1] * self.scale_y + self.offset_y
        return pts

    def inverse(self) -> "Transform":
        """The transform from target pixels back to source pixels."""
        return Transform(1.0 / self.scale_x, 1.0 / self.scale_y,
                         -self.offset_x / self.scale_x, -self.offset_y / self.scale_y)

    def matrix(self) -> np.ndarray:
        """The 2x3 affine matrix (what ``cv2.warpAffine`` takes)."""
        return np.array([[self.scale_x, 0.0, self.offset_x], [0.0, self.scale_y, self.offset_y]])

    def to_dict(self) -> dict[str, float]:
        return {"scale_x": self.scale_x, "scale_y": self.scale_y,
                "offset_x": self.offset_x, "offset_y": self.offset_y}


def check_mode(mode: Any) -> str:
    """Return ``mode`` if it is one of :data:`ASPECT_MODES`, else raise naming the input."""
    if mode not in ASPECT_MODES:
        raise DreamActorError(f"aspect: got {mode!r}; choose one of {', '.join(ASPECT_MODES)}")
    return mode


def _check_size(name: str, w: Any, h: Any) -> tuple[int, int]:
    try:
        wi, hi = int(w), int(h)
    except (TypeError, ValueError):
        raise DreamActorError(f"{name}: width and height must be integers, got {w!r} x {h!r}") from None
    if wi < 1 or hi < 1 or wi != w or hi != h:
        raise DreamActorError(f"{name}: width and height must be positive integers, got {w!r} x {h!r}")
    return wi, hi


def _layout(src_w: int, src_h: int, dst_w: int, dst_h: int, mode: str) -> tuple[int, int, int, int]:
    """Content size (cw, ch) of the resized source and its integer top-left (px, py) in the target."""
    if mode == "stretch":
        return dst_w, dst_h, 0, 0
    pick = min if mode == "letterbox" else max
    s = pick(dst_w / src_w, dst_h / src_h)
    # The axis that decides the scale fits exactly; the other is rounded to whole pixels.
    cw = dst_w if s == dst_w / src_w else max(1, int(round(src_w * s)))
    ch = dst_h if s == dst_h / src_h else max(1, int(round(src_h * s)))
    # Centre it; negative offsets in crop mode mean the cut.
    return cw, ch, (dst_w - cw) // 2, (dst_h - ch) // 2


def fit_transform(src_w: int, src_h: int, dst_w: int, dst_h: int, mode: str = "letterbox") -> Transform:
    """How a ``src_w x src_h`` picture lands in a ``dst_w x dst_h`` frame.

    ``letterbox`` keeps the aspect and pads (the whole picture is visible),
    ``crop`` keeps the aspect and cuts the overflow evenly on both sides (the
    frame is filled), ``stretch`` scales each axis to fit (aspect changes).
    Returns a :class:`Transform` from source pixel coordinates to target pixel
    coordinates, both with the centre of the top-left pixel at (0, 0).
    """
    src_w, src_h = _check_size("source size", src_w, src_h)
    dst_w, dst_h = _check_size("target size", dst_w, dst_h)
    mode = check_mode(mode)
    cw, ch, px, py = _layout(src_w, src_h, dst_w, dst_h, mode)
    sx, sy = cw / src_w, ch / src_h
    # Pixel edges map to pixel edges: source edge -0.5 goes to target edge px - 0.5.
    return Transform(sx, sy, px + 0.5 * sx - 0.5, py + 0.5 * sy - 0.5)


def _to_numpy_frames(frames: Any) -> tuple[np.ndarray, Any]:
    """Frames as numpy ``[T,H,W,C]`` plus a function that restores the caller's type."""
    try:  # torch is optional here; the core runs without it for pure-numpy callers.
        import torch
    except ImportError:  # pragma: no cover - torch is always present in the pack
        torch = None
    if torch is not None and isinstance(frames, torch.Tensor):
        dev, dt = frames.device, frames.dtype
        arr = frames.detach().to("cpu").numpy()
        return arr, lambda out: torch.from_numpy(out).to(device=dev, dtype=dt)
    arr = np.asarray(frames)
    return arr, lambda out: out


def resize_frames(frames: Any, dst_w: int, dst_h: int, mode: str = "letterbox",
                  pad_value: float = 0) -> Any:
    """Resize frames ``[T,H,W,C]`` (uint8 or float, numpy or torch) into ``dst_w x dst_h``.

    Uses exactly the placement of :func:`fit_transform`, so a point at ``(x, y)``
    in a source frame appears at ``fit_transform(...).apply((x, y))`` in the
    result. Area averaging when shrinking (no aliasing), bilinear when growing.
    Padding (letterbox) is filled with ``pad_value``. Returns the input's type
    and dtype.
    """
    arr, restore = _to_numpy_frames(frames)
    if arr.ndim == 3:
        arr = arr[None]
        squeeze = True
    else:
        squeeze = False
    if arr.ndim != 4 or arr.shape[0] == 0 or arr.shape[-1] < 1:
        raise DreamActorError(f"frames: expected a batch [T,H,W,C] with T >= 1, got shape {tuple(arr.shape)}")
    t, src_h, src_w, c = arr.shape
    dst_w, dst_h = _check_size("target size", dst_w, dst_h)
    mode = check_mode(mode)
    cw, ch, px, py = _layout(src_w, src_h, dst_w, dst_h, mode)
    work = arr.astype(np.float32) if arr.dtype not in (np.uint8, np.float32) else arr
    interp = cv2.INTER_AREA if cw * ch < src_w * src_h else cv2.INTER_LINEAR
    out = np.full((t, dst_h, dst_w, c), pad_value, dtype=work.dtype)
    # The visible window of the resized content inside the target (crop cuts, letterbox pads).
    x0, y0 = max(px, 0), max(py, 0)
    x1, y1 = min(px + cw, dst_w), min(py + ch, dst_h)
    for i in range(t):
        if (cw, ch) == (src_w, src_h):
            resized = work[i]
        else:
            resized = cv2.resize(work[i], (cw, ch), interpolation=interp)
        if resized.ndim == 2:  # cv2 drops a single channel axis
            resized = resized[..., None]
        out[i, y0:y1, x0:x1] = resized[y0 - py:y1 - py, x0 - px:x1 - px]
    if out.dtype != arr.dtype:
        out = out.astype(arr.dtype)
    if squeeze:
        out = out[0]
    return restore(out)


def map_motion(motion: Motion, transform: Transform, dst_w: int, dst_h: int) -> Motion:
    """A new motion with every pixel field mapped by ``transform`` into a ``dst_w x dst_h`` image.

    Depth columns (in pixel units of the image width) scale with ``scale_x``;
    the head radius with the geometric mean of the two scales; metric fields
    (``body_world``, ``body_cam``), angles and confidences are unchanged.
    """
    dst_w, dst_h = _check_size("target size", dst_w, dst_h)
    out = motion.copy()
    for name in _POINT_FIELDS:
        pts = transform.apply(getattr(motion, name))
        pts[..., 2] *= transform.scale_x
        setattr(out, name, pts.astype(np.float32))
    out.head_center_px = transform.apply(motion.head_center_px).astype(np.float32)
    out.head_radius_px = (motion.head_radius_px *
                          np.sqrt(abs(transform.scale_x * transform.scale_y))).astype(np.float32)
    box = motion.person_box.reshape(-1, 2, 2)
    out.person_box = transform.apply(box).reshape(motion.person_box.shape).astype(np.float32)
    out.width, out.height = dst_w, dst_h
    out.meta.setdefault("framing", []).append(
        {"from": [motion.width, motion.height], "to": [dst_w, dst_h], **transform.to_dict()})
    out.validate()
    return out


def transform_motion(motion: Motion, dst_w: int, dst_h: int, mode: str = "letterbox") -> Motion:
    """``motion`` as it appears when its video is framed into ``dst_w x dst_h`` with ``mode``.

    Uses :func:`fit_transform`, so the result lines up with
    :func:`resize_frames` applied to the same video. Returns a new Motion.
    """
    mode = check_mode(mode)
    dst_w, dst_h = _check_size("target size", dst_w, dst_h)
    if (dst_w, dst_h) == (motion.width, motion.height):
        return motion.copy()
    transform = fit_transform(motion.width, motion.height, dst_w, dst_h, mode)
    return map_motion(motion, transform, dst_w, dst_h)
