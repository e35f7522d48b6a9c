"""MediaPipe landmark lists (protobuf messages) to numpy arrays, without a Python loop per point.

Reading ``p.x, p.y, p.z`` point by point costs about a millisecond for FaceMesh's
478 points, every frame. The message's wire format is regular instead: each
landmark is a length-delimited record (tag ``0x0a``) holding the same float
fields (x = 1, y = 2, z = 3, visibility = 4, presence = 5; each a one-byte tag and
four little-endian bytes). So the serialized list is one ``uint8`` matrix with a
row per landmark, and the floats are read straight out of its columns.
Any other layout (a field missing on some points, a long record) falls back to the
per-point loop, so the result is always the same as reading the fields one by one.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

FIELDS = ("x", "y", "z", "visibility", "presence")
_TAGS = {name: (number << 3) | 5 for number, name in enumerate(FIELDS, start=1)}  # wire type 5: 32-bit


def landmark_array(landmark_list, fields: tuple[str, ...] = ("x", "y", "z")) -> np.ndarray:
    """``[N, len(fields)]`` float32 of a ``(Normalized)LandmarkList``'s points (``fields`` from :data:`FIELDS`)."""
    return landmarks_from_bytes(landmark_list.SerializeToString(), fields)


def landmarks_from_bytes(buf: bytes, fields: tuple[str, ...] = ("x", "y", "z")) -> np.ndarray:
    """:func:`landmark_array` of a serialized ``(Normalized)LandmarkList`` (both have the same wire layout)."""
    if not buf:
        return np.zeros((0, len(fields)), np.float32)
    table = _columns(buf, fields)
    if table is None:
        from mediapipe.framework.formats import landmark_pb2

        points = landmark_pb2.NormalizedLandmarkList.FromString(buf).landmark
        return np.array([[getattr(p, f) for f in fields] for p in points], dtype=np.float32)
    return table


@lru_cache(maxsize=16)
def _layout(rec: int) -> tuple[np.ndarray, np.dtype]:
    """For records of ``rec`` bytes: the columns of each record's tag, length and field tags
    (0, 1, 2, 7, 12, ...), and a record dtype whose fields ``v0, v1, ...`` are the floats."""
    k = (rec - 2) // 5
    floats = np.dtype({"names": [f"v{j}" for j in range(k)], "formats": ["<f4"] * k,
                       "offsets": [3 + 5 * j for j in range(k)], "itemsize": rec})
    return np.r_[0, 1, 2:rec:5], floats


def _columns(buf: bytes, fields: tuple[str, ...]) -> np.ndarray | None:
    """The fields read from records that all have the first record's layout, or None when they do not."""
    body = buf[1] if len(buf) > 1 and buf[0] == 0x0A else 0
    rec = body + 2
    if body == 0 or body % 5 or body >= 128 or len(buf) % rec:  # one-byte length only
        return None
    head_cols, floats = _layout(rec)
    head = np.frombuffer(buf, np.uint8).reshape(-1, rec)[:, head_cols]
    if not (head == head[0]).all():
        return None
    where = {tag: j for j, tag in enumerate(buf[2:rec:5])}
    cols = [where.get(_TAGS[name]) for name in fields]
    if None in cols:
        return None  # not set: the per-point read gives the field's default
    records = np.frombuffer(buf, floats)
    out = np.empty((len(records), len(fields)), np.float32)
    for j, c in enumerate(cols):
        out[:, j] = records[f"v{c}"]
    return out
