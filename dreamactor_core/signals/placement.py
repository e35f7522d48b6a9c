"""Where the retargeted body stands: its root path, placed by the joints that were seen.

Retargeting rebuilds the body relative to its root; this module decides where that
root goes in every frame. Only reliable joints (see :mod:`reliability`) may decide:

- the feet, when they are seen in most frames: each foot proposes the root that puts it
  at the driving foot's place (scaled about the first frame), weighted toward the lower,
  supporting foot, and the lowest foot point keeps the driving's height above the ground;
- otherwise the lowest trunk joint that is seen (pelvis, then neck, then head) follows
  the driving's path scaled about the first frame. A portrait's invented legs therefore
  never move the body.

With the driving's own lengths (``k == 1`` and the same relative body) every rule returns
the driving's root, so retargeting a clip onto itself changes nothing.
``pin`` removes all travel: the joint that places the body (the pelvis when the feet do)
stays where it is in the first frame, so a walk stays on the spot and a portrait's head
keeps its place.
"""
from __future__ import annotations

import numpy as np

from .skeleton import BODY, DERIVED_FROM, MP33_TO_BODY

FOOT_JOINTS = [BODY.index(n) for n in ("left_ankle", "right_ankle", "left_heel", "right_heel",
                                       "left_foot_index", "right_foot_index")]
_LEFT_FOOT = FOOT_JOINTS[0::2]
_RIGHT_FOOT = FOOT_JOINTS[1::2]
# Trunk anchors in order of preference: the lower, the steadier the placement.
TRUNK_ANCHORS = ("pelvis", "neck", "head")
SEEN_SHARE = 0.5  # a joint set that is seen in at least this share of frames may place the body


def reliable_joints(mp33_mask: np.ndarray) -> np.ndarray:
    """Per body joint ``[T, 37]``: a landmark joint is reliable as its landmark; a derived
    joint (pelvis, spine, neck, head) when every landmark it is made from is."""
    m = np.asarray(mp33_mask, dtype=bool)
    out = np.zeros(m.shape[:-1] + (BODY.num_joints,), dtype=bool)
    out[..., MP33_TO_BODY] = m
    for name, (a, b) in DERIVED_FROM.items():
        out[..., BODY.index(name)] = m[..., a] & m[..., b]
    out[..., BODY.index("spine")] = out[..., BODY.index("pelvis")] & out[..., BODY.index("neck")]
    return out


def choose_anchor(seen: np.ndarray, feet_on_ground: bool) -> str:
    """``"feet"`` or the trunk joint that places the body, from ``seen [T, 37]``."""
    if feet_on_ground and seen[:, [BODY.index("left_ankle"), BODY.index("right_ankle")]].all(1).mean() >= SEEN_SHARE:
        return "feet"
    for name in TRUNK_ANCHORS:
        if seen[:, BODY.index(name)].mean() >= SEEN_SHARE:
            return name
    return "head"  # nothing is seen often: the head is the last thing a frame loses


def estimate_up(cam_joints: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Up direction in camera coordinates: the mean body axis over frames, from the lowest
    seen joints (ankles -> neck when the ankles are seen, else pelvis -> neck)."""
    ankles = [BODY.index("left_ankle"), BODY.index("right_ankle")]
    low = cam_joints[:, ankles].mean(1)
    if seen[:, ankles].all(1).mean() < SEEN_SHARE:
        low = cam_joints[:, BODY.index("pelvis")]
    axis = cam_joints[:, BODY.index("neck")] - low
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    up = axis.mean(0)
    return up / np.linalg.norm(up)


def place_root(joints_d, rel_r, k: float, up, anchor: str, contact_width: float, pin: bool = False):
    """Root positions ``[T, 3]`` of the retargeted body and the ground height.

    ``joints_d`` are the driving's joints in camera coordinates, ``rel_r`` the retargeted
    body relative to its root, ``k`` the root-path scale (leg-length ratio).
    """
    def horizontal(v):
        return v - (v @ up)[..., None] * up

    foot_low_d = (joints_d[:, FOOT_JOINTS] @ up).min(1)
    ground = float(foot_low_d.min())
    if anchor == "feet":
        feet_d = np.stack([joints_d[:, _LEFT_FOOT].mean(1), joints_d[:, _RIGHT_FOOT].mean(1)], 1)  # [T, 2, 3]
        feet_r = np.stack([rel_r[:, _LEFT_FOOT].mean(1), rel_r[:, _RIGHT_FOOT].mean(1)], 1)
        start = horizontal(feet_d[0].mean(0))
        proposals = start + k * horizontal(feet_d - start) - horizontal(feet_r)
        h = feet_d @ up
        w = np.exp(-(h - h.min(1, keepdims=True)) / max(contact_width, 1e-9))
        root = (proposals * w[..., None]).sum(1) / w.sum(1)[:, None]
        target = ground + k * (foot_low_d - ground)
        lift = target - ((rel_r[:, FOOT_JOINTS] @ up).min(1) + root @ up)
        root = root + lift[:, None] * up
    else:
        a = BODY.index(anchor)
        path = joints_d[:, a]
        root = path[0] + k * (path - path[0]) - rel_r[:, a]
    if pin:  # the joint that places the body (the pelvis for the feet) stays where it is in frame 0
        a = BODY.index("pelvis" if anchor == "feet" else anchor)
        root = root[:1] + rel_r[:1, a] - rel_r[:, a]
    return root, ground
