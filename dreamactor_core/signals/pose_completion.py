"""Fill the MediaPipe-33 points a 2D keypoint source does not give, from the ones it does.

OpenPose's 18-point body has no inner/outer eye corners, mouth corners, finger points
or feet; retargeting and the 3D skeleton need every one of MediaPipe's 33 points. Each
missing point is placed from its neighbours with fixed proportions of an average body
(written down once, not fitted to any clip), and gets a low confidence
(``ESTIMATED_CONF``) so it can be told apart from a detected point. Points whose
neighbours are missing stay NaN.
"""
from __future__ import annotations

import numpy as np

# Below any point a detector reports with conviction, at the renderers' default threshold (drawn).
ESTIMATED_CONF = 0.3

# MediaPipe Pose indices used below.
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 2, 5, 7, 8
L_EYE_IN, L_EYE_OUT, R_EYE_IN, R_EYE_OUT = 1, 3, 4, 6
MOUTH_L, MOUTH_R = 9, 10
L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 13, 14, 15, 16
L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 25, 26, 27, 28
# per wrist: its elbow, and the finger points pinky, index, thumb (MediaPipe 17/19/21 left, 18/20/22 right)
FINGERS = {L_WRIST: (L_ELBOW, (17, 19, 21)), R_WRIST: (R_ELBOW, (18, 20, 22))}
# heel and toe per ankle, with the knee that gives the shin direction
FEET = {L_ANKLE: (L_KNEE, 29, 31), R_ANKLE: (R_KNEE, 30, 32)}

# Proportions (fractions of a reference length in the image).
EYE_CORNER = 0.2   # eye corners sit this share of the eye-to-eye distance either side of the eye
MOUTH_DROP = 0.55  # mouth centre below the nose, as a share of the eyes-to-nose drop
MOUTH_HALF = 0.3   # half the mouth width, as a share of the eye-to-eye distance
HAND = (0.28, 0.3, 0.18)  # pinky, index and thumb beyond the wrist, as a share of the forearm
HEEL, TOE = 0.08, 0.22    # heel and toe below the ankle, as a share of the shin


def _fill(px: np.ndarray, conf: np.ndarray, estimated: np.ndarray, index: int, value: np.ndarray) -> None:
    if np.isnan(px[index, 0]) and np.isfinite(value).all():
        px[index, :2] = value
        px[index, 2] = 0.0
        conf[index] = ESTIMATED_CONF
        estimated[index] = True


def _complete_frame(px: np.ndarray, conf: np.ndarray, estimated: np.ndarray) -> None:
    xy = px[:, :2]
    eyes = xy[L_EYE] - xy[R_EYE]  # the subject's right eye to their left eye
    _fill(px, conf, estimated, L_EYE_IN, xy[L_EYE] - EYE_CORNER * eyes)
    _fill(px, conf, estimated, L_EYE_OUT, xy[L_EYE] + EYE_CORNER * eyes)
    _fill(px, conf, estimated, R_EYE_IN, xy[R_EYE] + EYE_CORNER * eyes)
    _fill(px, conf, estimated, R_EYE_OUT, xy[R_EYE] - EYE_CORNER * eyes)
    # An ear hidden behind the head (profile views): the eye on that side stands in.
    _fill(px, conf, estimated, L_EAR, xy[L_EYE])
    _fill(px, conf, estimated, R_EAR, xy[R_EYE])
    mouth = xy[NOSE] + MOUTH_DROP * (xy[NOSE] - 0.5 * (xy[L_EYE] + xy[R_EYE]))
    _fill(px, conf, estimated, MOUTH_L, mouth + MOUTH_HALF * eyes)
    _fill(px, conf, estimated, MOUTH_R, mouth - MOUTH_HALF * eyes)
    for wrist, (elbow, tips) in FINGERS.items():
        forearm = xy[wrist] - xy[elbow]
        for tip, share in zip(tips, HAND):
            _fill(px, conf, estimated, tip, xy[wrist] + share * forearm)
    for ankle, (knee, heel, toe) in FEET.items():
        shin = xy[ankle] - xy[knee]
        _fill(px, conf, estimated, heel, xy[ankle] + HEEL * shin)
        _fill(px, conf, estimated, toe, xy[ankle] + TOE * shin)


def complete_body(body_px: np.ndarray, body_conf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``body_px`` ``[T, 33, 3]`` and ``body_conf`` ``[T, 33]`` with missing points estimated.

    Returns new arrays ``(px, conf, estimated)``; ``estimated`` ``[T, 33]`` is True where a
    point was filled in. Frames without any detected point are left as they are.
    """
    px = np.array(body_px, dtype=np.float32, copy=True)
    conf = np.array(body_conf, dtype=np.float32, copy=True)
    estimated = np.zeros(px.shape[:2], dtype=bool)
    for t in range(px.shape[0]):
        if np.isfinite(px[t, :, 0]).any():
            _complete_frame(px[t], conf[t], estimated[t])
    return px, conf, estimated
