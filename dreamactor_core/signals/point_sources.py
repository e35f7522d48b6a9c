"""How each keypoint source draws a head's points, as data: one record per ``Motion.meta["source"]``.

Where no face is read, the head stage fits the head on the body keypoints' nose, eyes, ears and mouth corners
against the textbook head (:func:`face_geometry.pose_head_model`), and where no frame measured the face against
those points it sizes the sphere from them. How far that is right depends on who drew the points, not on the
motion: MediaPipe Pose draws a head's eyes and ears narrower than they are, and a turned head's far eye and ear
toward the middle of the face; OpenPose- and DWPose-style keypoints (a ``POSE_KEYPOINT`` import) sit on the real
eyes and ears, where the textbook head has them. :func:`point_source` looks the record up once, where the head
stage starts, and the stages below read its fields.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..utils import DreamActorError
from .face_geometry import pose_head_turned_model


@dataclass(frozen=True)
class PointSource:
    """One keypoint source's head points."""

    name: str
    # The face fit's sphere over the head-point fit's, taken where no frame of the clip measured it.
    face_over_points: float
    # A face fit reading the head under this many times the head-point fit's size has collapsed
    # (head_depth.collapsed_faces): FaceMesh's landmarks crowd toward the middle of the face.
    collapsed_face_ratio: float
    # Past ~60 degrees of turn the points stop following the head (the far eye and ear are drawn, not seen): the
    # fusion counts their yaw past head_fusion.POINT_YAW_CAP_DEG as that.
    yaw_saturates: bool
    # Where the source draws the head points on a head turned ``yaw_deg`` (``[N, 3]`` mm, in
    # :func:`face_geometry.pose_head_model`'s order), to read the head-point fit's yaw on; None where it draws them
    # where the textbook head has them at any turn.
    turned_model: Callable[[float], np.ndarray] | None


POINT_SOURCES: dict[str, PointSource] = {
    # The head-point fit reads the head smaller than the face fit: 1.17-1.46x (per-clip median) on the hard-case set
    # and its held-out variants, 1.30 typical, and no healthy frame under 1.05. A collapsed mesh's landmarks crowd
    # to 0.5-0.8 of the face, for a few frames (read 0.45-1.04) or a whole clip (0.78-1.04): under 1.10 it has
    # collapsed. Both numbers follow the head-point model's scale: re-measure them if it changes. Its turned
    # model: face_geometry._POSE_TURNED_MM.
    "mediapipe": PointSource("mediapipe", face_over_points=1.30, collapsed_face_ratio=1.10, yaw_saturates=True,
                             turned_model=pose_head_turned_model),
    # Keypoints on the real eyes and ears read the head at its size, turned or not (the textbook points match the
    # synthetic sets' COCO keypoints), and follow it past 60 degrees (a detector that does not see the far eye or
    # ear leaves it out). A face is collapsed at the same share of that scale as MediaPipe's (1.10 of 1.30); under
    # 1.10 a face read at the head's size would be flagged on every frame.
    "pose_keypoint": PointSource("pose_keypoint", face_over_points=1.0, collapsed_face_ratio=0.85, yaw_saturates=False,
                                 turned_model=None),
}
# The pack's own extraction (extract_motion); the default of the stages that are handed fits, not a motion.
MEDIAPIPE = POINT_SOURCES["mediapipe"]


def point_source(meta: dict[str, Any], stage: str) -> PointSource:
    """The record of ``meta["source"]``; a clear error naming it and the known sources where it is not one."""
    name = meta.get("source")
    if not isinstance(name, str) or name not in POINT_SOURCES:
        said = "no 'source'" if name is None else f"source {name!r}"
        raise DreamActorError(
            f"{stage}: the motion has {said}, so where its head points sit on the head is unknown; set "
            f"meta['source'] to the detector that drew its keypoints, one of {', '.join(sorted(POINT_SOURCES))}"
        )
    return POINT_SOURCES[name]
