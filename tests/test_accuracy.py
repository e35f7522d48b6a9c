"""The scorer's limb-proportion figure: the worst error after the one scale that minimises it."""
import numpy as np

from dreamactor_core.signals import accuracy as acc


def _gt_with_limbs(lengths: dict[str, float]) -> dict:
    """One frame of COCO-17 points whose limbs (both sides) have the given lengths."""
    xyz = np.zeros((17, 3))
    for k, pairs in acc.LIMBS.items():
        for a, b in pairs:
            xyz[b] = xyz[a] + [0.0, lengths[k], 0.0]
    return {"frames": [{"coco17": {"xyz_cam": xyz.tolist()}}]}


def test_proportion_error_is_the_minimum_over_scales():
    true = {"upper_arm": 0.30, "forearm": 0.25, "thigh": 0.45, "shin": 0.42}
    ratios = {"upper_arm": 1.00, "forearm": 1.08, "thigh": 0.97, "shin": 1.02}
    measured = {k: true[k] * ratios[k] * 3.7 for k in true}   # any overall scale
    worst, errors = acc.proportion_error(measured, _gt_with_limbs(true))
    # Brute force: the worst |ratio / s - 1| over a fine grid of scales never goes below the figure.
    r = np.array(list(ratios.values())) * 3.7
    grid = np.linspace(r.min(), r.max(), 20001)
    brute = np.min(np.max(np.abs(r[None] / grid[:, None] - 1.0), axis=1))
    assert abs(worst - brute) < 1e-6
    assert abs(worst - 0.11 / 2.05) < 1e-9   # (max - min) / (max + min)
    assert max(abs(e) for e in errors.values()) == worst
    assert errors["forearm"] > 0 > errors["thigh"]


def test_jitter_counts_only_joints_in_sight():
    """An invented joint out of sight (a portrait's ankle) shaking wildly does not move the jitter figure."""
    rng = np.random.default_rng(0)
    t = 12
    uv = np.cumsum(rng.normal(0, 1, (t, 17, 2)), axis=0) + 200.0
    vis = np.full((t, 17), 2)
    vis[:, 15] = 0                                   # left ankle never in sight
    gt = {"frames": [{"coco17": {"uv": uv[i].tolist(), "vis": vis[i].tolist()},
                      "person_bbox_xyxy": [0, 0, 400, 400]} for i in range(t)]}
    pred = np.zeros((t, 33, 2))
    pred[:, acc.MP33_TO_COCO17] = uv + rng.normal(0, 0.5, uv.shape)
    calm = acc.keypoint_scores(pred, gt)["accel"]
    shaken = pred.copy()
    shaken[:, acc.MP33_TO_COCO17[15]] += rng.normal(0, 50, (t, 2))
    assert acc.keypoint_scores(shaken, gt)["accel"] == calm
    shaken[:, acc.MP33_TO_COCO17[0]] += rng.normal(0, 50, (t, 2))   # the nose is in sight: it counts
    assert acc.keypoint_scores(shaken, gt)["accel"] > 2 * calm


def test_limbs_are_scored_against_the_rest_lengths():
    """With the clip's rest-pose COCO lengths given (the shared set's ``coco_segment_lengths_rest_m``), they are the
    truth; the posed points' median stays available, and is the truth where a JSON lacks the field."""
    rest = {"upper_arm": 0.30, "forearm": 0.25, "thigh": 0.45, "shin": 0.42}
    posed = {**rest, "upper_arm": 0.33}             # the shoulder point slid as the arm lifted
    gt = _gt_with_limbs(posed)
    gt["body"] = {"coco_segment_lengths_rest_m": {f"{side}_{k}": v for k, v in rest.items() for side in ("left", "right")}}
    gt["body"]["coco_segment_lengths_rest_m"]["left_shin"] = 0.40    # sides differ: their mean is the truth
    want = {**rest, "shin": 0.41}
    got = acc.gt_limb_lengths(gt)
    assert set(got) == set(want) and all(abs(got[k] - want[k]) < 1e-12 for k in want)
    assert acc.gt_limb_lengths(gt, posed=True) == acc.gt_limb_lengths({"frames": gt["frames"]})
    assert abs(acc.gt_limb_lengths(gt, posed=True)["upper_arm"] - 0.33) < 1e-12
    assert acc.proportion_error(want, gt)[0] < 1e-9
    assert abs(acc.proportion_error(want, gt, posed=True)[0] - 0.03 / 0.63) < 1e-9   # (0.33 - 0.30) / (0.33 + 0.30)
