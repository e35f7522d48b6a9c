"""Fill the MediaPipe-33 points a 2D keypoint source does not give, from the ones it does.

OpenPose's 18-point body has no inner/outer eye corners, mouth corners, finger points
or feet, and a detector leaves out limbs outside the frame; retargeting and the 3D
skeleton need every one of MediaPipe's 33 points (MediaPipe itself always returns them,
with a low visibility where it guessed). Each missing point is placed from its
neighbours with fixed proportions of an average body (written down once, not fitted to
any clip). Details of a seen body part (eye corners, fingers, the foot of a seen ankle)
get ``ESTIMATED_CONF``, which the renderers draw; limbs the source did not see at all
(an upper-body shot's legs) get ``INVENTED_CONF``, below what renderers draw and what
retargeting trusts to place the body, as MediaPipe's own guesses are.
"""
from __future__ import annotations

import numpy as np

# Below any point a detector reports with conviction, at the renderers' default threshold (drawn).
ESTIMATED_CONF = 0.3
# Below the renderers' threshold (not drawn) and retargeting's "seen" level.
INVENTED_CONF = 0.1

# MediaPipe Pose indices used below.
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 2, 5, 7, 8
L_SHOULDER, R_SHOULDER, L_HIP, R_HIP = 11, 12, 23, 24
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
# Unseen limbs, in shoulder widths along the body's down direction (hips also sideways).
TORSO, HIP_HALF, THIGH, SHIN, UPPER_ARM, FOREARM = 1.35, 0.35, 1.1, 1.1, 0.75, 0.7
# Limb chains (parent -> child, length) per side, filled top-down when the child is missing.
LIMBS = ((L_SHOULDER, L_ELBOW, UPPER_ARM), (R_SHOULDER, R_ELBOW, UPPER_ARM), (L_ELBOW, L_WRIST, FOREARM),
         (R_ELBOW, R_WRIST, FOREARM), (L_HIP, L_KNEE, THIGH), (R_HIP, R_KNEE, THIGH), (L_KNEE, L_ANKLE, SHIN),
         (R_KNEE, R_ANKLE, SHIN))


def _fill(px: np.ndarray, conf: np.ndarray, estimated: np.ndarray, index: int, value: np.ndarray,
          *sources: int) -> None:
    """Set a missing point; its confidence is ESTIMATED_CONF, or lower if a point it comes from is lower."""
    if np.isnan(px[index, 0]) and np.isfinite(value).all():
        px[index, :2] = value
        px[index, 2] = 0.0
        from_conf = [float(conf[i]) for i in sources if np.isfinite(conf[i])]
        conf[index] = min([ESTIMATED_CONF] + from_conf)
        estimated[index] = True


def _invent_limbs(px: np.ndarray, conf: np.ndarray, estimated: np.ndarray) -> None:
    """Hips, arms and legs the source did not see, hanging from the shoulders (INVENTED_CONF)."""
    xy = px[:, :2]
    across = xy[L_SHOULDER] - xy[R_SHOULDER]
    width = float(np.linalg.norm(across))
    if not width > 0:
        return
    down = np.array([-across[1], across[0]]) / width  # perpendicular to the shoulder line ...
    head = xy[NOSE] - 0.5 * (xy[L_SHOULDER] + xy[R_SHOULDER])
    if np.isfinite(head).all() and head @ down > 0:  # ... pointing away from the head
        down = -down
    elif not np.isfinite(head).all() and down[1] < 0:  # no head: image down
        down = -down
    hips = 0.5 * (xy[L_SHOULDER] + xy[R_SHOULDER]) + TORSO * width * down
    for hip, side in ((L_HIP, 1.0), (R_HIP, -1.0)):
        if np.isnan(px[hip, 0]):
            _fill(px, conf, estimated, hip, hips + side * HIP_HALF * across)
            conf[hip] = INVENTED_CONF
    for parent, child, length in LIMBS:
        if np.isnan(px[child, 0]) and np.isfinite(xy[parent]).all():
            _fill(px, conf, estimated, child, xy[parent] + length * width * down)
            conf[child] = INVENTED_CONF


def _complete_frame(px: np.ndarray, conf: np.ndarray, estimated: np.ndarray) -> None:
    xy = px[:, :2]
    _invent_limbs(px, conf, estimated)
    eyes = xy[L_EYE] - xy[R_EYE]  # the subject's right eye to their left eye
    _fill(px, conf, estimated, L_EYE_IN, xy[L_EYE] - EYE_CORNER * eyes, L_EYE)
    _fill(px, conf, estimated, L_EYE_OUT, xy[L_EYE] + EYE_CORNER * eyes, L_EYE)
    _fill(px, conf, estimated, R_EYE_IN, xy[R_EYE] + EYE_CORNER * eyes, R_EYE)
    _fill(px, conf, estimated, R_EYE_OUT, xy[R_EYE] - EYE_CORNER * eyes, R_EYE)
    # An ear hidden behind the head (profile views): the eye on that side stands in.
    _fill(px, conf, estimated, L_EAR, xy[L_EYE], L_EYE)
    _fill(px, conf, estimated, R_EAR, xy[R_EYE], R_EYE)
    mouth = xy[NOSE] + MOUTH_DROP * (xy[NOSE] - 0.5 * (xy[L_EYE] + xy[R_EYE]))
    _fill(px, conf, estimated, MOUTH_L, mouth + MOUTH_HALF * eyes, NOSE)
    _fill(px, conf, estimated, MOUTH_R, mouth - MOUTH_HALF * eyes, NOSE)
    for wrist, (elbow, tips) in FINGERS.items():
        forearm = xy[wrist] - xy[elbow]
        for tip, share in zip(tips, HAND):
            _fill(px, conf, estimated, tip, xy[wrist] + share * forearm, wrist)
    for ankle, (knee, heel, toe) in FEET.items():
        shin = xy[ankle] - xy[knee]
        _fill(px, conf, estimated, heel, xy[ankle] + HEEL * shin, ankle)
        _fill(px, conf, estimated, toe, xy[ankle] + TOE * shin, ankle)


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
