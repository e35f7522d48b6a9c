"""Scores of an extracted motion against a synthetic clip's ground truth (shared set or hard cases).

Used by ``benchmarks/signals.py --accuracy`` and by the tests, so both measure the same way:
keypoints (PCK of the person box diagonal, mean pixel error, acceleration error) on
GT-visible COCO joints; head yaw and pitch MAE (yaw taken the short way round, so a turn
through +-180 is scored right); whether a head sphere is drawn on every tracked frame;
limb proportions after one best scale; and the height estimate.
"""
from __future__ import annotations

import numpy as np

MP33_TO_COCO17 = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
# Limbs scored for proportions: COCO-17 index pairs, both sides.
# Their names, prefixed by left_/right_, are those of the clip JSON's coco_segment_lengths_rest_m.
LIMBS = {"upper_arm": [(5, 7), (6, 8)], "forearm": [(7, 9), (8, 10)], "thigh": [(11, 13), (12, 14)],
         "shin": [(13, 15), (14, 16)]}
BACK_VIEW_DEG = 135.0


def angle_error(a, b) -> np.ndarray:
    """Absolute angle differences in degrees, the short way round."""
    return np.abs((np.asarray(a, np.float64) - np.asarray(b, np.float64) + 180.0) % 360.0 - 180.0)


def keypoint_scores(body_px: np.ndarray, gt: dict) -> dict:
    """PCK@0.1/0.05/0.02 of the box diagonal, mean px error and accel error, all on GT-visible COCO joints."""
    frames = gt["frames"]
    uv = np.array([f["coco17"]["uv"] for f in frames], np.float64)
    vis = np.array([f["coco17"]["vis"] for f in frames]) == 2
    box = np.array([f["person_bbox_xyxy"] for f in frames], np.float64)
    diag = np.hypot(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    pred = np.asarray(body_px, np.float64)[:, MP33_TO_COCO17, :2]
    dist = np.linalg.norm(pred - uv, axis=2)
    rel = np.nan_to_num(dist / diag[:, None], nan=np.inf)[vis]

    def acc(x):
        return x[2:] - 2 * x[1:-1] + x[:-2]

    # Jitter on the joints the other figures score: those visible on all three frames of the difference
    # (invented joints out of sight, e.g. a portrait's legs, would otherwise make up most of it).
    seen3 = vis[2:] & vis[1:-1] & vis[:-2]
    jerk = np.linalg.norm(acc(pred) - acc(uv), axis=-1)
    jit = float(np.nanmean(jerk[seen3])) if seen3.any() else float("nan")
    return {"pck10": float(np.mean(rel < 0.1)), "pck05": float(np.mean(rel < 0.05)),
            "pck02": float(np.mean(rel < 0.02)), "mean_px": float(np.nanmean(dist[vis])), "accel": jit}


def head_scores(motion, gt: dict) -> dict:
    """Yaw and pitch MAE (all frames, and yaw on back views), sphere presence and size spread."""
    head = np.array([[f["head"]["yaw_deg"], f["head"]["pitch_deg"]] for f in gt["frames"]], np.float64)
    err = angle_error(motion.head_angles[:, :2], head)
    back = np.abs(head[:, 0]) > BACK_VIEW_DEG
    tracked = np.isfinite(motion.body_px[..., :2]).all((1, 2))
    sphere = np.isfinite(motion.head_radius_px) & np.isfinite(motion.head_center_px).all(1)
    r = motion.head_radius_px[sphere & tracked].astype(np.float64)
    gr = np.array([f["head"]["radius_px"] for f in gt["frames"]], np.float64)[sphere & tracked]
    spread = float(np.max(r / gr) / np.min(r / gr)) if len(r) else float("nan")
    return {"yaw_mae": float(np.nanmean(err[:, 0])), "pitch_mae": float(np.nanmean(err[:, 1])),
            "back_yaw_mae": float(np.nanmean(err[back, 0])) if back.any() else float("nan"),
            "sphere_frames": int((sphere & tracked).sum()), "tracked_frames": int(tracked.sum()),
            "radius_spread": spread}


def gt_limb_lengths(gt: dict, posed: bool = False) -> dict[str, float]:
    """Each limb's true length (both sides averaged).

    The truth is the clip's ``body.coco_segment_lengths_rest_m`` (COCO-17 keypoint distances at rest): the shared
    set's README names it as what keypoint-based estimates are compared with. Posed COCO points follow the skinned
    surface and drift with the pose (a shoulder point slides as the arm lifts), so the median over posed frames
    (``posed=True``, and for a JSON without the field) leans towards what the clip's motion does to the surface.
    """
    rest = gt.get("body", {}).get("coco_segment_lengths_rest_m")
    if rest and not posed:
        return {k: 0.5 * (rest[f"left_{k}"] + rest[f"right_{k}"]) for k in LIMBS}
    xyz = np.array([f["coco17"]["xyz_cam"] for f in gt["frames"]], np.float64)
    return {k: float(np.median(np.mean([np.linalg.norm(xyz[:, a] - xyz[:, b], axis=-1) for a, b in pairs], 0)))
            for k, pairs in LIMBS.items()}


def proportion_error(lengths: dict, gt: dict, posed: bool = False) -> tuple[float, dict[str, float]]:
    """Worst relative limb error after the one scale that minimises it, and each limb's error, against
    :func:`gt_limb_lengths` (the rest lengths, or the posed median with ``posed``)."""
    want = gt_limb_lengths(gt, posed)
    ratios = {k: lengths[k] / want[k] for k in LIMBS if np.isfinite(lengths.get(k, np.nan))}
    if not ratios:
        return float("nan"), {}
    r = np.array(list(ratios.values()))
    # The errors are measured/true/scale - 1, so the worst is smallest where the longest and the
    # shortest limb miss by the same amount on either side: the midpoint, not the geometric mean
    # (which leaves sqrt(max/min) - 1, up to ~2% of the figure more).
    scale = float(0.5 * (r.min() + r.max()))
    errs = {k: v / scale - 1.0 for k, v in ratios.items()}
    return float(max(abs(e) for e in errs.values())), errs


# A limb is in sight when one side has both ends visible (flag 2) on at least this share of the frames.
LIMB_SEEN_SHARE = 0.25


def limbs_in_sight(gt: dict, share: float = LIMB_SEEN_SHARE) -> list[str]:
    """The :data:`LIMBS` a clip shows: proportions are only asked of clips with two or more of them
    (a portrait's arms are below the frame; a single limb is within 0% of itself after one scale)."""
    vis = np.array([f["coco17"]["vis"] for f in gt["frames"]]) == 2
    return [k for k, pairs in LIMBS.items() if any((vis[:, a] & vis[:, b]).mean() >= share for a, b in pairs)]


# Head (nose, eyes, ears) and one side's shoulder, hip, knee and ankle, in COCO-17 indices.
_HEAD_POINTS = (0, 1, 2, 3, 4)
_STATURE_SIDES = ((5, 11, 13, 15), (6, 12, 14, 16))


def whole_body_seen(gt: dict) -> bool:
    """On some frame every COCO-17 joint is inside the picture, a head point and one whole side
    (shoulder, hip, knee, ankle) are in sight (flag 2): what a height needs.

    The body hiding its own far ear still counts as seen whole; legs that stay behind a panel
    all clip long do not: nothing in the picture says how long they are.
    """
    vis = np.array([f["coco17"]["vis"] for f in gt["frames"]])
    side = np.any([(vis[:, list(s)] == 2).all(1) for s in _STATURE_SIDES], axis=0)
    return bool(((vis > 0).all(1) & (vis[:, list(_HEAD_POINTS)] == 2).any(1) & side).any())
