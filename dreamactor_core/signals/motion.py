"""The per-frame motion record shared by every signal stage (``DREAMACTOR_MOTION``).

One :class:`Motion` holds everything extracted from a driving video: body, hands
and face landmarks with confidences, the head pose that drives the head sphere,
and flags that say which frames were interpolated. Missing values are NaN, so a
frame where the face was lost still has a row and every array has length T.

Coordinates:
- ``*_px`` arrays are image pixels of the source video (x right, y down, the
  centre of the top-left pixel is (0, 0)). Their third column is a relative
  depth in pixel units (MediaPipe's z times the image width); larger is farther.
- ``body_world`` is MediaPipe's metric world pose: metres, hip-centred, x to the
  image right, y down, z away from the camera.
- ``body_cam`` (optional) is the body in camera coordinates, metres, OpenCV axes,
  filled by camera estimation or retargeting.
- Head angles follow the synthetic data's convention: yaw > 0 turns to the
  subject's left, pitch > 0 looks up, roll > 0 tilts to the subject's left
  shoulder; ``head_rotation`` has the head's (left, down, back) axes as columns
  in camera coordinates.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MOTION_FORMAT = "dreamactor-motion"
MOTION_VERSION = 1

# Array fields: name -> shape after the leading frame axis (None: scalar per frame).
ARRAY_FIELDS: dict[str, tuple[int, ...]] = {
    "body_px": (33, 3),
    "body_conf": (33,),
    "body_world": (33, 3),
    "hands_px": (2, 21, 3),  # 0 = subject's left hand, 1 = right hand
    "hands_conf": (2,),
    "face_px": (478, 3),
    "face_conf": (),
    "head_angles": (3,),  # yaw, pitch, roll in degrees
    "head_rotation": (3, 3),
    "head_center_px": (2,),
    "head_radius_px": (),
    "gaze": (2,),  # eye yaw, pitch in degrees relative to the head
    "person_box": (4,),  # x0, y0, x1, y1 pixels
    "interpolated": (),  # 1.0 where the frame was filled in from neighbours
    "body_cam": (33, 3),
}
OPTIONAL_FIELDS = ("body_cam",)


@dataclass
class Motion:
    """Motion of one tracked person over T frames of a video of ``width`` x ``height``."""

    fps: float
    width: int
    height: int
    body_px: np.ndarray
    body_conf: np.ndarray
    body_world: np.ndarray
    hands_px: np.ndarray
    hands_conf: np.ndarray
    face_px: np.ndarray
    face_conf: np.ndarray
    head_angles: np.ndarray
    head_rotation: np.ndarray
    head_center_px: np.ndarray
    head_radius_px: np.ndarray
    gaze: np.ndarray
    person_box: np.ndarray
    interpolated: np.ndarray
    body_cam: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def num_frames(self) -> int:
        return int(self.body_px.shape[0])

    def __len__(self) -> int:
        return self.num_frames

    @classmethod
    def empty(cls, num_frames: int, fps: float, width: int, height: int, **meta: Any) -> "Motion":
        """A motion of ``num_frames`` frames with every value missing (NaN, flags 0)."""
        arrays = {}
        for name, shape in ARRAY_FIELDS.items():
            if name in OPTIONAL_FIELDS:
                continue
            fill = 0.0 if name == "interpolated" else np.nan
            arrays[name] = np.full((num_frames, *shape), fill, dtype=np.float32)
        return cls(fps=float(fps), width=int(width), height=int(height), meta=dict(meta), **arrays)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field whose shape does not fit."""
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"Motion: image size must be positive, got {self.width}x{self.height}")
        if not self.fps > 0:
            raise ValueError(f"Motion: fps must be positive, got {self.fps}")
        t = self.body_px.shape[0]
        for name, shape in ARRAY_FIELDS.items():
            value = getattr(self, name)
            if value is None and name in OPTIONAL_FIELDS:
                continue
            if not isinstance(value, np.ndarray) or value.shape != (t, *shape):
                got = getattr(value, "shape", type(value).__name__)
                raise ValueError(f"Motion.{name}: expected shape {(t, *shape)}, got {got}")

    def copy(self) -> "Motion":
        kwargs = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in ARRAY_FIELDS:
            if kwargs.get(name) is not None:
                kwargs[name] = kwargs[name].copy()
        kwargs["meta"] = json.loads(json.dumps(self.meta))
        return Motion(**kwargs)

    def slice(self, start: int, stop: int) -> "Motion":
        """Frames ``start:stop`` as a new motion (arrays are copied)."""
        out = self.copy()
        for name in ARRAY_FIELDS:
            value = getattr(out, name)
            if value is not None:
                setattr(out, name, value[start:stop].copy())
        return out

    # --- serialization -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; NaN becomes ``null``."""
        arrays = {}
        for name in ARRAY_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            arrays[name] = _nan_to_none(np.round(value.astype(np.float64), 5).tolist())
        return {
            "format": MOTION_FORMAT,
            "version": MOTION_VERSION,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "num_frames": self.num_frames,
            "meta": self.meta,
            "arrays": arrays,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Motion":
        if not isinstance(data, dict) or data.get("format") != MOTION_FORMAT:
            raise ValueError("motion file: not a DreamActor motion (missing 'format': 'dreamactor-motion')")
        if int(data.get("version", 0)) > MOTION_VERSION:
            raise ValueError(
                f"motion file: version {data['version']} is newer than this pack understands "
                f"({MOTION_VERSION}); update ComfyUI-DreamActor"
            )
        t = int(data["num_frames"])
        arrays = {}
        for name, shape in ARRAY_FIELDS.items():
            raw = data["arrays"].get(name)
            if raw is None:
                if name in OPTIONAL_FIELDS:
                    continue
                raise ValueError(f"motion file: array '{name}' is missing")
            arr = np.array(_none_to_nan(raw), dtype=np.float32).reshape((t, *shape))
            arrays[name] = arr
        return cls(
            fps=float(data["fps"]), width=int(data["width"]), height=int(data["height"]),
            meta=dict(data.get("meta", {})), **arrays,
        )

    @classmethod
    def from_json(cls, text: str) -> "Motion":
        return cls.from_dict(json.loads(text))


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return None if isinstance(value, float) and value != value else value


def _none_to_nan(value: Any) -> Any:
    if isinstance(value, list):
        return [_none_to_nan(v) for v in value]
    return np.nan if value is None else value
