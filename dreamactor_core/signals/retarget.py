"""Bone-length retargeting: the driving motion rebuilt with the reference's proportions.

DreamActor-M1's "bone length adjustment": measure the reference person's limb,
torso and head size from their pose, keep every bone rotation of the driving
motion, swap the bone lengths, and rebuild joint positions by forward kinematics.
Feet stay on the ground, the root trajectory scales with body size, and the
result is projected back into the driving video with a camera estimated from it.

Length groups (the names ``bone_scales`` and the proportions dicts use; prefix
``left_``/``right_`` to scale one side only, e.g. ``{"left_forearm": 1.1}``):

========================  ===============================================
``torso``                 pelvis (hip midpoint) to neck (shoulder midpoint)
``neck``                  neck to head (ear midpoint)
``shoulder_width``        left to right shoulder
``hip_width``             left to right hip
``upper_arm``             shoulder to elbow
``forearm``               elbow to wrist
``thigh``                 hip to knee
``shin``                  knee to ankle
``foot``                  ankle to foot index (toe)
``heel``                  ankle to heel
``head``                  ear to ear; scales the face landmarks and head sphere
``hand``                  wrist to index/pinky knuckle (mean); scales the hands
========================  ===============================================

MediaPipe world landmarks are scaled to an average adult, not metric, so a
reference is measured in a way that keeps its *ratios* right: segment lengths
in the image plane come from the 2D landmarks (precise), the depth part from
the world landmarks, on a camera fitted to that frame.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..utils import DreamActorError
from .camera import Camera, back_project, estimate_camera, focal_guess, project
from .motion import Motion
from .placement import choose_anchor, estimate_up, place_root, reliable_joints
from .reliability import reliable_landmarks
from .skeleton import BODY, LEFT_HAND, MP33_TO_BODY, RIGHT_HAND, body_joints, bone_rotations, forward_kinematics

# group -> (joint a, joint b) measured as |a - b|; bilateral groups name the left side.
_SEGMENTS = {
    "torso": ("pelvis", "neck"),
    "neck": ("neck", "head"),
    "shoulder_width": ("left_shoulder", "right_shoulder"),
    "hip_width": ("left_hip", "right_hip"),
    "head": ("left_ear", "right_ear"),
    "upper_arm": ("left_shoulder", "left_elbow"),
    "forearm": ("left_elbow", "left_wrist"),
    "thigh": ("left_hip", "left_knee"),
    "shin": ("left_knee", "left_ankle"),
    "foot": ("left_ankle", "left_foot_index"),
    "heel": ("left_ankle", "left_heel"),
    "hand": ("left_wrist", "left_index"),
}
GROUPS = tuple(_SEGMENTS)
_BILATERAL = ("upper_arm", "forearm", "thigh", "shin", "foot", "heel", "hand")
# Groups whose landmarks are not a rigid bone (face points, articulated hand points):
# their per-frame driving offsets are scaled rather than fixed to one length.
SCALE_GROUPS = ("head", "hand")
MIN_REFERENCE_CONF = 0.5


def _right(name: str) -> str:
    return "right_" + name[5:] if name.startswith("left_") else name


def _pair_table() -> tuple[dict[str, list[int]], np.ndarray, np.ndarray]:
    """Every segment :func:`group_lengths` measures, as joint index arrays ``(a, b)``, and per group the
    positions in them of the segments whose lengths it averages."""
    groups: dict[str, list[int]] = {}
    ends: list[tuple[int, int]] = []
    for group, (a, b) in _SEGMENTS.items():
        named = [(a, b), (_right(a), _right(b))] if group in _BILATERAL else [(a, b)]
        if group == "hand":
            named += [("left_wrist", "left_pinky"), ("right_wrist", "right_pinky")]
        groups[group] = list(range(len(ends), len(ends) + len(named)))
        ends += [(BODY.index(pa), BODY.index(pb)) for pa, pb in named]
    a_idx, b_idx = (np.array(side) for side in zip(*ends))
    return groups, a_idx, b_idx


_GROUP_PAIRS, _PAIR_A, _PAIR_B = _pair_table()


def group_lengths(joints: np.ndarray, conf: np.ndarray | None = None, min_conf: float = 0.0) -> dict[str, np.ndarray]:
    """Group lengths (``[...]`` each) from body joints ``[..., 37, 3]``.

    Bilateral groups average both sides, weighted by the weaker endpoint confidence of each
    side; a group whose confidences all fall below ``min_conf`` is NaN (not measured).
    """
    j = np.asarray(joints, dtype=np.float64)
    c = np.ones(j.shape[:-1]) if conf is None else np.nan_to_num(np.asarray(conf, dtype=np.float64))
    # Every segment's length and weight at once (retargeting measures the clip seven times).
    lens_all = np.nan_to_num(np.linalg.norm(j[..., _PAIR_A, :] - j[..., _PAIR_B, :], axis=-1))
    w = np.minimum(c[..., _PAIR_A], c[..., _PAIR_B])
    ws_all = np.where(w >= min_conf, np.maximum(w, 1e-6), 0.0)
    out = {}
    for group, cols in _GROUP_PAIRS.items():
        lens = np.stack([lens_all[..., k] for k in cols])
        ws = np.stack([ws_all[..., k] for k in cols])
        total = ws.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[group] = np.where(total > 0, (lens * ws).sum(0) / total, np.nan)
    return out


def _measure(px, world, conf, cam: Camera, min_conf: float = 0.0) -> dict[str, dict[str, np.ndarray]]:
    """Per-frame group lengths ``[T]`` measured two ways, and their mean ("blend").

    "image": segments rebuilt from the 2D landmarks back-projected at the world pose's depths
    (the image-plane extent is precise, the depth part comes from the world pose);
    "world": the world landmarks alone. The two err independently (measured on the synthetic
    set, the mean of both is closer to the true limb ratios than either), so the blend is used.
    Reference and driving go through this same function, so definition biases cancel.
    """
    hybrid = back_project(px[..., :2], world[..., 2] + cam.translation[:, 2:3], cam.K)
    jconf = body_joints(conf[..., None])[..., 0]
    image = group_lengths(body_joints(hybrid), jconf, min_conf)
    wl = group_lengths(body_joints(world), jconf, min_conf)
    blend = {g: 0.5 * (image[g] + wl[g]) for g in GROUPS}
    return {"image": image, "world": wl, "blend": blend}


def measure_proportions(reference_motion: Motion, frame: int = 0) -> dict[str, Any]:
    """Limb, torso and head size of the person in ``reference_motion`` at ``frame``.

    Returns ``{"lengths": {group: length}, "ratios": {group: length / torso}, "body_scale":
    torso, "world_lengths": {...}, "source": {...}}``. Lengths are in the reference's world
    units (metres for metric input, MediaPipe's average-adult scale otherwise); the ratios are
    what carries over reliably. Groups whose landmarks are uncertain (confidence below 0.5,
    e.g. legs outside a portrait) are NaN and retargeting keeps the driving's proportion there.
    """
    if not isinstance(reference_motion, Motion):
        raise DreamActorError("reference: expected a DreamActor motion (extract it from the reference image first)")
    t = reference_motion.num_frames
    if t == 0 or not -t <= frame < t:
        raise DreamActorError(f"reference: frame {frame} does not exist (the motion has {t} frames)")
    px = reference_motion.body_px[frame, :, :2].astype(np.float64)
    world = reference_motion.body_world[frame].astype(np.float64)
    if not (np.isfinite(px).all() and np.isfinite(world).all()):
        raise DreamActorError(f"reference: no body pose in frame {frame}; use an image where the whole person is detected")
    conf = np.nan_to_num(reference_motion.body_conf[frame].astype(np.float64), nan=0.0)
    w, h = reference_motion.width, reference_motion.height
    seen = reliable_landmarks(reference_motion)[frame]  # invented landmarks barely weigh in the camera fit
    weights = np.where(seen, np.maximum(conf, 0.05), 1e-6)[None]
    cam = estimate_camera(px[None], world[None], w, h, weights=weights, focal=focal_guess(w, h))
    parts = _measure(px[None], world[None], conf[None], cam, MIN_REFERENCE_CONF)
    lengths = {g: v[0] for g, v in parts["blend"].items()}
    world_lengths = {g: v[0] for g, v in parts["world"].items()}
    scale = float(lengths["torso"])
    return {
        "lengths": {k: float(v) for k, v in lengths.items()},
        "ratios": {k: float(v) / scale for k, v in lengths.items()},
        "body_scale": scale,
        "world_lengths": {k: float(v) for k, v in world_lengths.items()},
        "image_lengths": {k: float(v[0]) for k, v in parts["image"].items()},
        "source": {"frame": int(frame), "width": w, "height": h, "focal_px": cam.focal},
    }


def _reference_lengths(reference) -> dict[str, float]:
    if isinstance(reference, Motion):
        return measure_proportions(reference)["lengths"]
    if isinstance(reference, dict):
        lengths = reference.get("lengths", reference)
        unknown = sorted(set(lengths) - set(GROUPS))
        if unknown:
            raise DreamActorError(f"reference proportions: unknown groups {unknown}; valid: {list(GROUPS)}")
        try:  # None (a group that was not measured, as JSON writes NaN) counts as missing
            out = {g: np.nan if lengths.get(g) is None else float(lengths[g]) for g in GROUPS}
        except (TypeError, ValueError) as exc:
            raise DreamActorError(f"reference proportions: lengths must be numbers ({exc})") from exc
        if not any(np.isfinite(v) and v > 0 for v in out.values()):
            raise DreamActorError("reference proportions: no positive length given")
        return out
    raise DreamActorError("reference: expected a motion or a proportions dict from measure_proportions")


def _check_scales(bone_scales) -> dict[str, float]:
    scales = dict(bone_scales or {})
    valid = set(GROUPS) | {f"{s}_{g}" for s in ("left", "right") for g in GROUPS}
    for k, v in scales.items():
        if k not in valid:
            raise DreamActorError(f"bone_scales: unknown bone '{k}'; valid names: {list(GROUPS)} (optionally left_/right_)")
        if not (isinstance(v, (int, float)) and np.isfinite(v) and 0.1 <= v <= 10):
            raise DreamActorError(f"bone_scales['{k}']: expected a number between 0.1 and 10, got {v!r}")
    return {k: float(v) for k, v in scales.items()}


def _bone_scale(scales: dict[str, float], joint: str, group: str) -> float:
    side = joint.split("_")[0] if joint.startswith(("left_", "right_")) else None
    s = scales.get(group, 1.0)
    return s * scales.get(f"{side}_{group}", 1.0) if side else s


def _check_up(up) -> np.ndarray:
    v = np.asarray(up, dtype=np.float64)
    if v.shape != (3,) or not np.isfinite(v).all() or np.linalg.norm(v) < 1e-9:
        raise DreamActorError(f"up: expected a non-zero 3-vector in camera axes (e.g. [0, -1, 0]), got {up!r}")
    return v / np.linalg.norm(v)


def _pixel_model(points_cam: np.ndarray, anchor_depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixels plus relative depth in pixel units (MediaPipe's ``*_px`` layout) ``[T, N, 3]``."""
    uv = project(points_cam, K)
    rel = (points_cam[..., 2] - anchor_depth[:, None]) * K[0, 0] / anchor_depth[:, None]
    return np.concatenate([uv, rel[..., None]], axis=-1)


def retarget_motion(driving: Motion, reference, *, bone_scales: dict[str, float] | None = None,
                    keep_feet_on_ground: bool = True, up=None, keep_2d_detail: bool = True,
                    pin_root: bool = False) -> Motion:
    """The driving motion rebuilt with the reference's bone lengths (a new ``Motion``).

    - ``reference``: a motion (measured at frame 0 with :func:`measure_proportions`) or the
      dict that function returns (or a plain ``{group: length}`` dict, see the module doc).
    - ``bone_scales``: extra per-group factors on top of the reference, e.g.
      ``{"thigh": 1.2, "shin": 1.2, "upper_arm": 0.9}``.
    - ``keep_feet_on_ground``: where the feet are seen, the lowest foot point of every frame
      keeps the driving's height above the ground (scaled with body size in the air);
      otherwise the lowest trunk joint that is seen carries the body (see :mod:`placement`).
    - ``up``: the world up direction in camera axes; estimated from the body axis if None.
    - ``keep_2d_detail``: carry over the driving's 2D landmark residual against the fitted
      camera, so retargeting onto the driving's own proportions returns its pixels.
    - ``pin_root``: the body does not travel: the joint that places it (the pelvis when the
      feet do) stays where it is in the first frame.

    The driving's first body frame is what meets the reference: each group's factor is the
    reference's length over the driving's length measured the same way in that frame (groups
    not seen there use the clip's median), and every frame's bones are the driving's own
    lengths times that factor. Retargeting a clip onto its own first frame is therefore the
    identity. Every bone rotation is kept. ``body_px``, ``body_world``, ``body_cam``,
    ``hands_px``, ``face_px``, the head sphere and ``person_box`` are rebuilt; the head
    orientation and gaze are unchanged. ``meta["retarget"]`` records what was done.
    """
    if not isinstance(driving, Motion):
        raise DreamActorError("driving motion: expected a DreamActor motion")
    ref = _reference_lengths(reference)
    scales = _check_scales(bone_scales)
    t = driving.num_frames
    valid = np.isfinite(driving.body_world).all((1, 2)) & np.isfinite(driving.body_px[..., :2]).all((1, 2))
    if t == 0 or not valid.any():
        raise DreamActorError("driving motion: no frame has a body pose; extract the motion from a video with a person")
    up_v = None if up is None else _check_up(up)
    px_d = driving.body_px.astype(np.float64)
    conf = np.nan_to_num(driving.body_conf.astype(np.float64), nan=0.0)
    seen_mp = reliable_landmarks(driving)[valid]
    # Landmarks that were not seen (a portrait's invented legs) barely weigh in the camera fit.
    weights = np.where(seen_mp, np.maximum(conf[valid], 0.05), 1e-6)
    cam = estimate_camera(px_d[valid, :, :2], driving.body_world[valid], driving.width, driving.height, weights=weights)
    world_d = driving.body_world[valid].astype(np.float64) + cam.translation[:, None]
    joints_d = body_joints(world_d)  # camera frame, valid frames only
    seen = reliable_joints(seen_mp)

    pose = bone_rotations(BODY, joints_d)
    drv = _driving_lengths(driving, valid, cam)
    len_d = pose.lengths.numpy()
    new_len, factors, overall, filled = _new_lengths(len_d, drv, ref, scales)
    rel_r = forward_kinematics(BODY, pose.local_rot, new_len)  # root at the origin

    # Root path: placed by the joints that were seen, scaled with leg length.
    up_v = estimate_up(joints_d, seen) if up_v is None else up_v
    legs = [BODY.index(n) for n in ("left_knee", "right_knee", "left_ankle", "right_ankle")]
    leg_d = len_d[:, legs].sum(1)
    k = float(np.median(new_len[:, legs].sum(1) / np.maximum(leg_d, 1e-9)))
    anchor = choose_anchor(seen, keep_feet_on_ground)
    root_r, ground = place_root(joints_d, rel_r, k, up_v, anchor, 0.03 * float(np.median(leg_d)), pin=pin_root)
    joints_r = rel_r + root_r[:, None]
    return _rebuild(driving, valid, cam, joints_d, joints_r, factors, scales, keep_2d_detail, meta={
        "reference_lengths": _round(ref), "driving_lengths": _round(drv),
        "result_lengths": _round({g: float(np.nanmedian(v)) for g, v in group_lengths(joints_r).items()}),
        "bone_scales": scales, "filled_from_driving": filled, "overall_scale": round(overall, 5),
        "root_scale": round(k, 5), "keep_feet_on_ground": bool(keep_feet_on_ground), "ground_height": round(ground, 5),
        "placed_by": anchor, "pin_root": bool(pin_root),
        "up": np.round(up_v, 5).tolist(), "camera": cam.to_dict(),
    })


def _driving_lengths(driving: Motion, valid: np.ndarray, cam: Camera) -> dict[str, float]:
    """The driving's group lengths where it meets the reference: its first body frame, measured
    exactly as a reference is; groups not seen there take the median over the clip."""
    at_first = measure_proportions(driving, int(np.flatnonzero(valid)[0]))["lengths"]
    if all(np.isfinite(v) for v in at_first.values()):
        return at_first  # the clip-wide measurement below would not be used
    conf = np.nan_to_num(driving.body_conf[valid].astype(np.float64), nan=0.0)
    clip = _measure(driving.body_px[valid].astype(np.float64), driving.body_world[valid].astype(np.float64),
                    conf, cam, MIN_REFERENCE_CONF)["blend"]
    return {g: (at_first[g] if np.isfinite(at_first[g]) else float(np.nanmedian(clip[g]))
                if np.isfinite(clip[g]).any() else np.nan) for g in GROUPS}


def _new_lengths(len_d: np.ndarray, drv: dict, ref: dict, scales: dict):
    """Bone lengths ``[T, J]`` of the retargeted body, the per-group factors, the overall
    factor and the groups the reference did not measure.

    Every bone keeps the driving's per-frame length times its group's factor (reference over
    driving) and bone scale, so what the driving's camera saw of each frame is kept. A group
    the reference lacks takes the overall (median) factor of the rigid groups.
    """
    factors = {g: ref[g] / drv[g] for g in GROUPS
               if np.isfinite(ref[g]) and ref[g] > 0 and np.isfinite(drv[g]) and drv[g] > 0}
    if not factors:
        raise DreamActorError("reference proportions: no group could be compared with the driving motion")
    rigid = [factors[g] for g in GROUPS if g in factors and g not in SCALE_GROUPS]
    overall = float(np.median(rigid or list(factors.values())))
    filled = [g for g in GROUPS if g not in factors]
    if "hand" not in factors and "forearm" in factors:
        factors["hand"] = factors["forearm"]
    new_len = np.zeros_like(len_d)
    for j in range(1, BODY.num_joints):
        g = BODY.groups[j]
        new_len[:, j] = len_d[:, j] * _bone_scale(scales, BODY.joints[j], g) * factors.get(g, overall)
    return new_len, factors, overall, filled


def _round(d: dict[str, float]) -> dict[str, float | None]:
    return {k: (round(float(v), 5) if np.isfinite(v) else None) for k, v in d.items()}


def _rebuild(driving: Motion, valid, cam: Camera, joints_d, joints_r, factors, scales, keep_2d_detail, meta) -> Motion:
    """A copy of ``driving`` with every position field moved onto the retargeted body."""
    out = driving.copy()
    K = cam.K
    mp_d, mp_r = joints_d[:, MP33_TO_BODY], joints_r[:, MP33_TO_BODY]
    model_d = _pixel_model(mp_d, joints_d[:, 0, 2], K)
    model_r = _pixel_model(mp_r, joints_r[:, 0, 2], K)
    depth_ratio = (mp_d[..., 2] / mp_r[..., 2])[..., None]
    px = model_r
    if keep_2d_detail:  # what the camera model could not explain, carried over at the new depth
        px = model_r + (driving.body_px[valid].astype(np.float64) - model_d) * depth_ratio
    out.body_px[valid] = px
    out.body_world[valid] = mp_r - joints_r[:, :1]
    body_cam = np.full((driving.num_frames, 33, 3), np.nan, dtype=np.float32)
    body_cam[valid] = mp_r
    out.body_cam = body_cam
    out.body_px[~valid] = np.nan
    out.body_world[~valid] = np.nan

    # Face landmarks and head sphere: follow the head joint, scaled by head size and depth.
    head = BODY.index("head")
    s_head = factors.get("head", 1.0) * scales.get("head", 1.0)
    head_px_d = driving.body_px[valid][:, [7, 8], :2].astype(np.float64).mean(1)
    head_px_r = out.body_px[valid][:, [7, 8], :2].astype(np.float64).mean(1)
    s2d = s_head * joints_d[:, head, 2] / joints_r[:, head, 2]
    face = driving.face_px[valid].astype(np.float64)
    face[..., :2] = head_px_r[:, None] + s2d[:, None, None] * (face[..., :2] - head_px_d[:, None])
    face[..., 2] *= s2d[:, None]
    out.face_px[valid] = face
    out.head_center_px[valid] = head_px_r + s2d[:, None] * (driving.head_center_px[valid] - head_px_d)
    out.head_radius_px[valid] = driving.head_radius_px[valid] * s2d

    for side, skel in ((0, LEFT_HAND), (1, RIGHT_HAND)):
        wrist = BODY.index(("left", "right")[side] + "_wrist")
        s_hand = factors.get("hand", 1.0) * _bone_scale(scales, ("left", "right")[side] + "_hand", "hand")
        out.hands_px[valid, side] = _retarget_hand(driving.hands_px[valid, side], skel, joints_d[:, wrist],
                                                   joints_r[:, wrist], s_hand, K)
    out.hands_px[~valid] = np.nan
    out.person_box[valid] = _move_box(driving.person_box[valid], driving.body_px[valid, :, :2], out.body_px[valid, :, :2])
    out.meta["retarget"] = meta
    return out


def _retarget_hand(hand_px, skel, wrist_d, wrist_r, scale, K) -> np.ndarray:
    """Hand landmarks ``[T, 21, 3]`` rebuilt at the retargeted wrist with scaled finger bones."""
    out = np.full(hand_px.shape, np.nan)
    ok = np.isfinite(hand_px).all((1, 2)) & np.isfinite(wrist_d).all(1)
    if not ok.any():
        return out
    hp = hand_px[ok].astype(np.float64)
    zw = wrist_d[ok, 2]
    # Lift to 3D: MediaPipe's hand depth is relative to its wrist, in pixels at the wrist's depth.
    depth = zw[:, None] + (hp[..., 2] - hp[:, :1, 2]) * zw[:, None] / K[0, 0]
    pts = back_project(hp[..., :2], depth, K)
    pose = bone_rotations(skel, pts)
    root = wrist_r[ok] + scale * (pts[:, 0] - wrist_d[ok])
    new = forward_kinematics(skel, pose.local_rot, pose.lengths * scale, root_pos=root)
    model = _pixel_model(new, new[:, 0, 2], K)
    model[..., 2] += hp[:, :1, 2]
    out[ok] = model
    return out


def _move_box(box_d, pts_d, pts_r) -> np.ndarray:
    """The person box moved with the landmarks: same margins around them, scaled with their size."""
    lo_d, hi_d = np.nanmin(pts_d, 1), np.nanmax(pts_d, 1)
    lo_r, hi_r = np.nanmin(pts_r, 1), np.nanmax(pts_r, 1)
    size = np.maximum(hi_d - lo_d, 1e-6)
    ratio = (hi_r - lo_r) / size
    lo = lo_r - (lo_d - box_d[:, :2]) * ratio
    hi = hi_r + (box_d[:, 2:] - hi_d) * ratio
    return np.concatenate([lo, hi], axis=1)
