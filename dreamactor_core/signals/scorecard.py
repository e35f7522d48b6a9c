"""One clip's whole accuracy scorecard against its ground truth, and the targets it must meet.

The benchmark (``benchmarks/signals.py --accuracy``) prints these cards and the tests assert
them, so both score the same way. A card holds raw MediaPipe (smoothing 0) and ours (the
default smoothing, head pose re-estimated on the smoothed motion) on the same frames:

- keypoints: PCK@0.1/0.05/0.02, mean pixel error and acceleration error (:mod:`accuracy`);
- head: yaw and pitch MAE (back views apart), sphere frames against tracked frames, size spread;
- limbs: worst limb error after one best scale against the rest-pose COCO lengths (asked of clips showing
  two limbs or more, and missed when fewer than two are measured there: one limb is within 0% of itself;
  the posed frames' median, the truth scored before, printed beside it); height estimate against
  the true height;
- self-retarget: the largest move of a GT-visible keypoint when a clip is retargeted onto its own
  first frame;
- the head, limb and height figures of raw MediaPipe too (its own head fit, unsmoothed), for comparison;
- with a portrait reference of another person (``NAME.ref.png``): where the sphere lands on that
  head at frame 0, and whether the reference's seen joints stay in the frame with the root pinned.

:data:`TARGETS` states what the hard-case issue asks of every clip, as data; :func:`misses`
lists the ones a card does not meet.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import accuracy as acc
from .body_size import clip_proportions, estimate_height
from .extract import extract_motion
from .head_pose import estimate_head
from .motion import Motion
from .reliability import reliable_landmarks
from .retarget import retarget_motion
from .smoothing import smooth_motion
from .video_io import load_image, read_video

DEFAULT_SMOOTHING = 0.5
HAND_POINTS = slice(17, 23)  # the synthetic sets' MediaPipe hand points are approximate

# name -> (what it says, whether the card meets it). Each reads only the card.
TARGETS = {
    "pck02": ("PCK@0.02 >= raw - 0.005", lambda c: c["ours"]["pck02"] >= c["raw"]["pck02"] - 0.005),
    "mean_px": ("mean px error <= raw", lambda c: c["ours"]["mean_px"] <= c["raw"]["mean_px"]),
    "accel": ("acceleration error < raw", lambda c: c["ours"]["accel"] < c["raw"]["accel"]),
    "yaw": ("head yaw MAE <= 5 deg", lambda c: c["head"]["yaw_mae"] <= 5.0),
    "back_yaw": ("back-view yaw MAE <= 5 deg",
                 lambda c: not np.isfinite(c["head"]["back_yaw_mae"]) or c["head"]["back_yaw_mae"] <= 5.0),
    "pitch": ("head pitch MAE <= 5 deg", lambda c: c["head"]["pitch_mae"] <= 5.0),
    "sphere": ("a sphere on every tracked frame",
               lambda c: c["head"]["sphere_frames"] == c["head"]["tracked_frames"] > 0),
    "limbs": ("worst limb within 3% after one best scale (clips showing two limbs or more)",
              lambda c: len(c["limbs_in_sight"]) < 2 or (len(c["limb_errors"]) >= 2 and c["limbs"] <= 0.03)),
    "height": ("height within 10% where the whole body is seen",
               lambda c: not c["whole_body"] or (c["height"] is not None
                                                 and abs(c["height"] / c["true_height"] - 1) <= 0.10)),
    "self": ("self-retarget moves no visible keypoint over 2 px", lambda c: c["self_px"] <= 2.0),
    "ref_centre": ("portrait reference: sphere centre within 0.25 head radius",
                   lambda c: "ref" not in c or c["ref"]["centre"] <= 0.25),
    "ref_radius": ("portrait reference: sphere radius within 10%",
                   lambda c: "ref" not in c or abs(c["ref"]["radius"]) <= 0.10),
    "ref_inside": ("portrait reference: seen joints inside the frame (root pinned)",
                   lambda c: "ref" not in c or c["ref"]["inside"] == 1.0),
}


def misses(card: dict) -> list[str]:
    """Names of the :data:`TARGETS` the card does not meet."""
    return [name for name, (_text, ok) in TARGETS.items() if not ok(card)]


def scored_motion(raw: Motion, smoothing: float = DEFAULT_SMOOTHING) -> Motion:
    """What a card scores as ours: the raw extraction (smoothing 0) smoothed, then the head stage on the smoothed
    motion. The benchmarks that take a card's figures apart call this, so they cannot drift from the card."""
    return estimate_head(smooth_motion(raw, smoothing))


def score_clip(video: Path, gt: dict | None = None, smoothing: float = DEFAULT_SMOOTHING,
               raw: Motion | None = None) -> dict:
    """The scorecard of ``video`` (with ``NAME.json`` beside it unless ``gt`` is given).

    ``raw``: the clip's raw extraction, ``extract_motion(frames, fps, smoothing=0.0)``, when already made
    (a saved one, :mod:`raw_cache`); the video is then not read.
    """
    from ..sampling.alignment import align_to_reference

    video = Path(video)
    gt = gt if gt is not None else json.loads(video.with_suffix(".json").read_text())
    raw = raw if raw is not None else extract_motion(*read_video(video), smoothing=0.0)
    ours = scored_motion(raw, smoothing)
    size, raw_size = clip_proportions(ours), clip_proportions(raw)
    worst, limb_errors = acc.proportion_error(size["lengths"], gt)
    ref = ours.slice(0, 1)
    moved = align_to_reference(retarget_motion(ours, ref), ref)
    seen = np.array([f["mp33"]["vis"] for f in gt["frames"]]) == 2
    seen[:, HAND_POINTS] = False
    moves = np.linalg.norm(moved.body_px[..., :2] - ours.body_px[..., :2], axis=-1)[seen]
    card = {"clip": video.stem, "frames": raw.num_frames,
            "raw": acc.keypoint_scores(raw.body_px, gt), "ours": acc.keypoint_scores(ours.body_px, gt),
            "head": acc.head_scores(ours, gt), "limbs": worst, "limb_errors": limb_errors,
            # Against the posed frames' median instead of the rest lengths: the truth scored before, shown beside.
            "limbs_posed": acc.proportion_error(size["lengths"], gt, posed=True)[0],
            "limbs_in_sight": acc.limbs_in_sight(gt),
            "height": estimate_height(ours, size)["height_m"], "true_height": gt["body"]["height_m_rest"],
            "whole_body": acc.whole_body_seen(gt), "self_px": float(np.nanmax(moves)) if moves.size else 0.0,
            # The same figures on raw MediaPipe (smoothing 0), printed beside ours.
            "raw_head": acc.head_scores(raw, gt), "raw_limbs": acc.proportion_error(raw_size["lengths"], gt)[0],
            "raw_height": estimate_height(raw, raw_size)["height_m"]}
    ref_png = video.with_name(f"{video.stem}.ref.png")
    if ref_png.exists():
        card["ref"] = portrait_reference(ours, ref_png)
    return card


def portrait_reference(driving, ref_png: Path) -> dict:
    """A driver onto a portrait of someone else: sphere centre (head radii) and radius error at
    frame 0 against the reference's true head, and the share of its seen joints kept in the frame."""
    from ..sampling.alignment import align_to_reference

    ref = extract_motion(load_image(ref_png)[None], 25.0)
    head = json.loads(ref_png.with_suffix("").with_suffix(".ref.json").read_text())["head"]
    out = align_to_reference(retarget_motion(driving, ref, pin_root=True), ref)
    centre = float(np.linalg.norm(out.head_center_px[0] - np.array(head["center_uv"])) / head["radius_px"])
    # The reference's visible joints: rated visible and inside its picture. reliable_landmarks already
    # drops limb ends at or past the border, but keeps trunk and face points up to its edge margin
    # outside; a joint outside the photo is not one the artist sees, and where it goes is not a framing fault.
    frame = [ref.width - 1, ref.height - 1]
    ref_px = ref.body_px[0, :, :2]
    seen = reliable_landmarks(ref)[0] & ((ref_px >= 0) & (ref_px <= frame)).all(-1)
    px = out.body_px[:, seen, :2]
    inside = float(((px >= 0) & (px <= frame)).all(-1).mean())
    return {"centre": centre, "radius": float(out.head_radius_px[0] / head["radius_px"] - 1), "inside": inside}


def card_line(card: dict) -> str:
    """One printed row, every figure as raw MediaPipe -> ours, then what ours misses."""
    r, o, h, rh = card["raw"], card["ours"], card["head"], card["raw_head"]
    cols = " ".join(f"{r[k]:5.3f}->{o[k]:5.3f}" for k in ("pck10", "pck05", "pck02"))
    cols += " " + " ".join(f"{r[k]:5.2f}->{o[k]:5.2f}" for k in ("mean_px", "accel"))
    back = "" if not np.isfinite(h["back_yaw_mae"]) else f" (back {rh['back_yaw_mae']:4.1f}->{h['back_yaw_mae']:4.1f})"

    def metres(v):
        return f"{v:4.2f}" if v is not None else "  - "

    line = (f"{cols}  {rh['yaw_mae']:4.1f}->{h['yaw_mae']:4.1f} / {rh['pitch_mae']:4.1f}->{h['pitch_mae']:4.1f}{back}  "
            f"sphere {rh['sphere_frames']}->{h['sphere_frames']}/{h['tracked_frames']} "
            f"r x{rh['radius_spread']:.2f}->{h['radius_spread']:.2f}  "
            f"limbs {card['raw_limbs'] * 100:4.1f}->{card['limbs'] * 100:4.1f}% (posed {card['limbs_posed'] * 100:4.1f})"
            f"{'' if len(card['limbs_in_sight']) >= 2 else ' (part)'}  "
            f"height {metres(card['raw_height'])}->{metres(card['height'])}/{card['true_height']:4.2f}"
            f"{'' if card['whole_body'] else ' (part)'}  self {card['self_px']:5.2f}")
    if "ref" in card:
        ref = card["ref"]
        line += (f"  portrait ref: centre {ref['centre']:.2f} r, radius {ref['radius']:+.1%}, "
                 f"seen joints inside {ref['inside']:.0%}")
    missed = misses(card)
    return line + ("  MISSES " + ",".join(missed) if missed else "  all targets met")
