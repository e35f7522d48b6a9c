"""Where a synthetic clip's height error comes from: the head-ratio law, the head sphere, or a part of the chain.

    python benchmarks/height_parts.py [DIR ...] [--raw RAWDIR ... | --cache DIR]

DIRs hold clips with ground truth (``NAME.mp4`` + ``NAME.json``: the shared synthetic set, the default,
or a hard-case set). Each clip whose whole body is seen (as the scorecard asks for a height) is extracted
as the scorecard does (raw extraction, the default smoothing, the head); with ``--raw``, one folder per DIR,
its raw extraction is read from ``RAWDIR/NAME.json`` instead (a saved ``extract_motion(frames, fps,
smoothing=0.0)``), which skips MediaPipe; with ``--cache``, from saved extractions made once per clip
(:mod:`dreamactor_core.signals.raw_cache`, ``CACHE/<DIR's name>``). Per clip it prints the height's error (log, in %) and its shares,
on the frames :func:`body_size.height_frames` picks (they add up to the error up to second order):

- ``law``: the error the head-ratio law makes on the TRUE chain over the true head radius: what is left with
  a perfect measurement;
- ``sphere``: our sphere's pixel radius against the true one; ``depth``: the head's depth over the trunk's as
  the height takes it (the trunk's, brought forward by the head's pitch) against the truth's;
- ``shin``, ``thigh``, ``torso``, ``neck``: our parts against the true ones, both on the picture's scale at the
  trunk's depth (the torso as the height measures it, on standing frames).

Measured on the public and hard sets and ten held-out variant sets (hv1-5, hv7, hvm1-3, hvm6; 48 clips with
the whole body in sight, 42 with a height): with the true ratio the law leaves 5.1% RMS over the 81 bodies (95%
within 10%, leave-one-out; a second proportion, legs or hips or shoulders over the torso or the ears' width over
the head, leaves 4.3-5.0%). Held-out shares, spread (mean): law 4.5 (+2.1), sphere 3.7 (+4.1), depth 2.1 (-1.3),
shin 2.5, thigh 2.6, torso 1.3 (-2.3), neck 1.0: no single part dominates. Before the head was brought forward
by its pitch, depth read -5.7 on average with a spread of 1.9 and -8 to -9 on the tall bend, whose standing
frames lean 8-13 degrees towards the camera (MediaPipe's depth does not see the lean); our pitch is noisy
enough that the spread stays, but the bend's offset is gone. The measured ratio follows 0.74-0.86 of the bodies'
true deviation (MediaPipe reads every body towards its average one: tall bodies' legs short, short ones' long);
a steeper law fitted on the public and hard sets gained nothing held out (27-28 of 43 within 10% for exponents
2.2-2.6; again later on eleven held-out sets: 36 of 46 at 2.22, 33-35 at 2.0-2.6).

The fast jacks read 8-11% tall on most hard-case variants (15 held-out sets, cached extractions; the per-clip
lines at the end): law +4.6, sphere +3.1, legs +2.8, torso -2.6 on average. Nothing of it is the jacks':
- the law's share is the bodies' own. The jacks, the 360 turn and the walk all draw adults from one range, and all
  three read the law +4 on average (+3.8 and +4.1 for the other two). Fitted on the true chains and heights, the
  law is the one in use: exponent 2.22 and 13.08 radii on the public and hard sets, 2.31 and 13.16 on the
  held-out ones. What remains is each body's head against the law, 4.4-5.6% RMS, which no measurement shows;
- the sphere is the hard-case renderer's 0.975 (0.967-1.009 on the jacks). Raised arms do not move it: frames
  with a wrist above the nose read within 0.5% of the others (hard set and nine variants);
- the constant cannot serve both renderers better than it does. Shifting every held-out height by the
  sphere's 1.01 against 0.975 (as if rendered like the shared set) moves their mean from +3.8% to -3.4% and
  their misses from 11 to 17 of 64 heights (first order); 13.2 radii would give 8 misses on our renderer and 17
  on the shared-like one, 12.8 radii 37 and 8. The public and hard sets balance the two: the constant stays.

Checked the same way and left as they are (public, hard and eleven held-out sets):
- The sphere reads 0.975 of the true head on the hard-case renderer and 1.01 on the shared set's (FaceMesh's face
  against the head, per body; the truth is defined alike: our renderer's head radius and rest height on the six
  public bodies match their JSON within 0.5%). Heights double it, so the held-out sets read ~4% tall on average
  while ``ADULT_HEAD_RATIO`` balances the two renderers.
- MediaPipe's legs follow about half of a body's true legs-to-torso deviation (thigh and shin errors against the
  true ratio: slope -0.45 to -0.52 on the fitted and held-out sets alike), but the measured ratio does not predict
  the height's error (correlation +0.03 held out): there is nothing per clip to undo.
- The ears' width over the sphere's radius flags a sphere read small (correlation +0.4 with the error) but sits at
  0.85 on the shared renderer and 0.76-0.79 on ours; any correction fitted on the public and hard sets moved
  the held-out sets the wrong way (37 -> 31-37 of 49 heights within 10%).
- On the typical face-to-head-points scale the six held-out clips without a measured sphere would read -7 to
  +24% (3 within 10%), but the head points read 0.81 of the true radius on the shared set and 0.75 on ours.
- The law's own error follows Anny's gender parameter (correlation 0.71), which none of our measurements
  shows (measured shoulder over hip width: -0.17).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from clip_sources import add_arguments, folders, raw_motion  # noqa: E402
from dreamactor_core.signals import accuracy as acc  # noqa: E402
from dreamactor_core.signals import body_size as bs  # noqa: E402
from dreamactor_core.signals.motion import Motion  # noqa: E402
from dreamactor_core.signals.scorecard import scored_motion  # noqa: E402

COLUMNS = ("law", "sphere", "depth", "shin", "thigh", "torso", "neck")
GROWTH = 1.0 / (1.0 - bs.HEAD_GROWTH)  # d log height / d log ratio


def _mid(x: np.ndarray, a: int, b: int) -> np.ndarray:
    return 0.5 * (x[:, a] + x[:, b])


def true_parts(gt: dict, frames: np.ndarray) -> tuple[dict, float]:
    """The chain's parts in metres (COCO-17 joints, camera space) on ``frames`` and the trunk's depth there."""
    x = np.array([f["coco17"]["xyz_cam"] for f in gt["frames"]], np.float64)

    def bone(a: int, b: int) -> float:  # a rigid bone: its length over all frames
        return float(np.median(np.linalg.norm(x[:, a] - x[:, b], axis=-1)))

    hips, shoulders, ears = _mid(x, 11, 12)[frames], _mid(x, 5, 6)[frames], _mid(x, 3, 4)[frames]
    parts = {"shin": 0.5 * (bone(13, 15) + bone(14, 16)), "thigh": 0.5 * (bone(11, 13) + bone(12, 14)),
             "torso": float(np.median(np.linalg.norm(shoulders - hips, axis=-1))),
             "neck": float(np.median(np.linalg.norm(ears - shoulders, axis=-1)))}
    return parts, float(np.median(0.5 * (hips[:, 2] + shoulders[:, 2])))


def law(ratio: float) -> float:
    return bs.ADULT_HEIGHT_M * (ratio / bs.ADULT_HEAD_RATIO) ** GROWTH


def shares(motion: Motion, gt: dict) -> dict | None:
    """The height's log error and its shares (see the module docstring), or None without a height."""
    prop = bs.clip_proportions(motion)
    height = bs.estimate_height(motion, prop)
    if height["height_m"] is None:
        return None
    sized = bs.height_frames(motion, prop)
    idx, depth, head_depth, focal = sized["frames"], sized["depth"], sized["head_depth"], sized["focal"]
    fx, true_h, true_r = gt["camera"]["fx"], gt["body"]["height_m_rest"], gt["body"]["head_radius_m"]
    parts_t, depth_t = true_parts(gt, idx)
    r_px_t = np.array([f["head"]["radius_px"] for f in gt["frames"]])[idx]
    head_z = np.array([f["head"]["center_cam"][2] for f in gt["frames"]])[idx]
    r_px = motion.head_radius_px[idx].astype(np.float64)
    # Ours in world units as estimate_height has them; the torso is what the ratio leaves of the chain.
    radius = float(np.median(r_px * head_depth / focal))
    chain = height["head_ratio"] * (1.0 - bs.ANKLE_SHARE) * radius - bs.CROWN_RADII * radius
    lengths = prop["measured"]  # the chain's legs are the measured ones, not limb_prior's estimate
    parts = {k: lengths[k] for k in ("shin", "thigh", "neck")}
    parts["torso"] = chain - sum(parts.values())
    # Everything on the picture's scale at the trunk's depth (pixels), ours against the truth.
    scale, scale_t = focal / float(np.median(depth)), fx / depth_t
    ratio_t = (sum(parts_t.values()) + bs.CROWN_RADII * true_r) / (1.0 - bs.ANKLE_SHARE) / true_r
    # d log ratio / d log part = part / ((1 - ANKLE_SHARE) radius ratio); the radius's is minus the chain's sum.
    weight = {k: v / ((1.0 - bs.ANKLE_SHARE) * true_r * ratio_t) for k, v in parts_t.items()}
    sphere = float(np.median(r_px / r_px_t))
    head = GROWTH * sum(weight.values())  # a radius read 1% large takes this % off the height
    # Our radius at the trunk's depth against the true one there: the sphere's pixels, and the head's depth over
    # the trunk's as we take it (brought forward by the head's pitch) against the truth's.
    lead, lead_t = float(np.median(head_depth / depth)), float(np.median(head_z)) / depth_t
    out = {"error": np.log(height["height_m"] / true_h), "law": np.log(law(ratio_t) / true_h),
           "sphere": -head * np.log(sphere), "depth": head * np.log(lead_t / lead)}
    for k in parts:
        out[k] = GROWTH * weight[k] * np.log(parts[k] * scale / (parts_t[k] * scale_t))
    out.update(height=height["height_m"], true=true_h, law_within=abs(law(ratio_t) / true_h - 1) <= 0.10)
    return out


def ours(video: Path, raw_dir: Path | None, cache: Path | None = None) -> Motion:
    """The motion the scorecard scores (:func:`scorecard.scored_motion`) of the raw extraction, read from
    ``raw_dir`` or ``cache`` when given."""
    return scored_motion(raw_motion(video, raw_dir, cache))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(ap)
    args = ap.parse_args()
    print(f"{'clip':28s} {'height':>12s} {'error':>6s} " + " ".join(f"{c:>6s}" for c in COLUMNS)
          + "   (% of height, log)")
    cases: dict[str, list] = {}  # clip name -> its rows over every folder (a case is one body class and motion)
    for folder, raw_dir in folders(args):
        rows, refused = [], 0
        for video in sorted(folder.glob("*.mp4")):
            gt = json.loads(video.with_suffix(".json").read_text())
            if not acc.whole_body_seen(gt):
                continue
            row = shares(ours(video, raw_dir, args.cache), gt)
            if row is None:
                refused += 1
                print(f"{video.stem:28s} {'-':>5s} /{gt['body']['height_m_rest']:5.2f}  no height")
                continue
            rows.append(row)
            cases.setdefault(video.stem, []).append(row)
            print(f"{video.stem:28s} {row['height']:5.2f} /{row['true']:5.2f} {100 * row['error']:+6.1f} "
                  + " ".join(f"{100 * row[c]:+6.1f}" for c in COLUMNS), flush=True)
        if rows:
            _summary(folder.name, rows, refused)
    if len(cases) and max(len(r) for r in cases.values()) > 1:
        print("per clip over every folder (mean of each share):")
        for name, rows in sorted(cases.items()):
            print(f"{name:28s} {len(rows):2d} clips   " + " ".join(
                f"{c} {100 * np.mean([r[c] for r in rows]):+.1f}" for c in ("error", *COLUMNS)))


def _summary(name: str, rows: list[dict], refused: int) -> None:
    """One folder's RMS and mean shares, and its misses as the scorecard counts them (a refusal is one)."""
    table = np.array([[r[c] for c in ("error", *COLUMNS)] for r in rows]) * 100
    off = np.abs(np.exp(table[:, 0] / 100) - 1)
    print(f"{name}: {len(rows)} heights; RMS " + " ".join(
        f"{c} {v:.1f}" for c, v in zip(("error", *COLUMNS), np.sqrt(np.mean(table ** 2, 0)))))
    print(f"{' ' * len(name)}  mean " + " ".join(f"{c} {v:+.1f}" for c, v in zip(("error", *COLUMNS), table.mean(0)))
          + f"; the law alone within 10% on {sum(r['law_within'] for r in rows)} of {len(rows)}")
    print(f"{' ' * len(name)}  missed {int((off > 0.10).sum()) + refused} of {len(rows) + refused} "
          f"({refused} refused), mean |error| {100 * off.mean():.1f}%")


if __name__ == "__main__":
    main()
