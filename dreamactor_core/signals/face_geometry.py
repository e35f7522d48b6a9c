"""A small canonical 3D head for head-pose fitting (our own anthropometric estimates).

mediapipe 0.10.21's Python wheel ships neither ``canonical_face_model.obj`` nor the
face-geometry metadata (only the protobuf definitions), so the head pose is fitted
against this hand-made set of well-defined facial points instead. The numbers are
average adult anthropometry (millimetres), written down once from textbook facial
proportions: biocular width about 90 mm, intercanthal width about 32 mm, nasion to
nose tip about 45 mm down and 22 mm forward, nasion to stomion about 75 mm, mouth width
about 50 mm, nasion to menton about 118 mm, bizygomatic width about 136 mm. They were
not fitted to any test clip; only the model's pitch zero (``PITCH_ZERO_DEG``) was measured on
the public synthetic clips.

Head frame (the same as ``Motion.head_rotation``'s columns): x = the subject's LEFT,
y = DOWN, z = BACK (out of the back of the head). The origin is the centre of the
head sphere; a rotation of identity means the head is upright and looks along the
camera's -z axis, i.e. straight at the camera. "Frontal" is the Frankfurt-horizontal
head posture: the profile line nasion-chin is close to vertical in this frame.
"""
from __future__ import annotations

import numpy as np

# Head sphere: centre relative to the nasion (mid-point between the eyes at the bridge of
# the nose). Vertically the skull-plus-jaw box of an adult (vertex ~110 mm above the nasion,
# the underside of the jaw ~140 mm below it) is centred about 15 mm below the nasion; in depth
# the head is ~190 mm long from the glabella, plus ~20 mm of nose in front.
HEAD_CENTER_FROM_NASION_MM = np.array([0.0, 15.0, 80.0])
# Bounding-sphere radius of an average adult head (skull and jaw, without the neck).
HEAD_RADIUS_MM = 125.0
# Eyeball: distance from its centre of rotation to the centre of the iris (visible pupil).
EYE_ROTATION_RADIUS_MM = 11.0

# Face points in nasion-relative millimetres (x left, y down, z back), keyed by FaceMesh index.
# FaceMesh indices: 33/133 are the subject's RIGHT eye outer/inner corners, 263/362 the LEFT.
_FACE_FROM_NASION_MM: dict[int, tuple[float, float, float]] = {
    168: (0.0, 0.0, 0.0),  # nasion / bridge between the eyes
    1: (0.0, 45.0, -22.0),  # nose tip (pronasale)
    2: (0.0, 55.0, -5.0),  # subnasale
    0: (0.0, 67.0, -8.0),  # upper lip centre
    17: (0.0, 86.0, -4.0),  # lower lip bottom
    152: (0.0, 118.0, 4.0),  # chin (menton)
    33: (-45.0, 6.0, 28.0),  # right eye outer corner (exocanthion)
    133: (-16.0, 8.0, 10.0),  # right eye inner corner (endocanthion)
    263: (45.0, 6.0, 28.0),  # left eye outer corner
    362: (16.0, 8.0, 10.0),  # left eye inner corner
    61: (-25.0, 75.0, 12.0),  # right mouth corner (cheilion)
    291: (25.0, 75.0, 12.0),  # left mouth corner
}

# Resting pupil centres (looking straight ahead) in the same frame, keyed by iris-centre index.
# FaceMesh 468 is the centre of the subject's RIGHT iris, 473 of the LEFT.
_PUPIL_FROM_NASION_MM: dict[int, tuple[float, float, float]] = {
    468: (-31.0, 7.0, 16.0),
    473: (31.0, 7.0, 16.0),
}

# MediaPipe Pose head points for the fallback when the face mesh is lost.
# Pose indices: 0 nose, 2 left eye, 5 right eye, 7 left ear, 8 right ear, 9 mouth left, 10 mouth right.
_POSE_FROM_NASION_MM: dict[int, tuple[float, float, float]] = {
    0: (0.0, 45.0, -22.0),
    2: (31.0, 7.0, 12.0),
    5: (-31.0, 7.0, 12.0),
    7: (72.0, 30.0, 85.0),
    8: (-72.0, 30.0, 85.0),
    9: (25.0, 75.0, 12.0),
    10: (-25.0, 75.0, 12.0),
}


# Pitch of the model head's "frontal" (Frankfurt horizontal) against a head at rest looking
# ahead: fits on the five public synthetic clips with a face read 3.3 degrees low on average
# (their heads' rest posture is tipped up from the textbook plane), so the model is turned up by
# that much (the face and pupils; the Pose head points keep their own zero, which matches the
# synthetic heads' keypoints). On the hard-case set (not used here) the full-body and upper-body clips went from
# 6.7-9.9 to 3.6-6.7 degrees mean pitch error, the portrait turning to 80 degrees from 5.0 to 5.1.
PITCH_ZERO_DEG = 3.3


def _from_centre(table: dict[int, tuple[float, float, float]], pitch_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    idx = np.array(sorted(table), dtype=np.int64)
    pts = np.array([table[i] for i in idx], dtype=np.float64) - HEAD_CENTER_FROM_NASION_MM
    a = np.radians(pitch_deg)  # about the head's left axis
    rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])
    return idx, pts @ rx.T


def face_model() -> tuple[np.ndarray, np.ndarray]:
    """FaceMesh indices ``[N]`` and their 3D positions ``[N, 3]`` (mm, head frame, origin = head centre)."""
    return _from_centre(_FACE_FROM_NASION_MM, PITCH_ZERO_DEG)


def pupil_model() -> tuple[np.ndarray, np.ndarray]:
    """Iris-centre indices (468 right, 473 left) and resting pupil positions (mm, head frame)."""
    return _from_centre(_PUPIL_FROM_NASION_MM, PITCH_ZERO_DEG)


def pose_head_model() -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe Pose head indices and their 3D positions (mm, head frame) for the body fallback."""
    return _from_centre(_POSE_FROM_NASION_MM)


# Eye corner pairs (outer, inner) per iris centre, for gaze.
EYE_CORNERS = {468: (33, 133), 473: (263, 362)}
