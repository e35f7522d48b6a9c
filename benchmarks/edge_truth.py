"""Where MediaPipe puts a limb that leaves the picture: its distance inside the border against the truth's.

    python benchmarks/edge_truth.py [DIR ...] [--raw RAWDIR ... | --cache DIR]

DIRs hold clips with ground truth (``NAME.mp4`` + ``NAME.json``: the shared synthetic set, the default, or a
hard-case set). Each clip's raw extraction (``extract_motion(frames, fps, smoothing=0.0)``) is made, read from
``RAWDIR/NAME.json`` with ``--raw`` (one folder per DIR), or from saved extractions made once per clip with
``--cache`` (:mod:`dreamactor_core.signals.raw_cache`, ``CACHE/<DIR's name>``). For the shoulders, elbows,
wrists, hips, knees and ankles on every frame it bins MediaPipe's distance inside the nearest border (share of
the picture's larger side; negative: outside) and prints per bin how often the true point lies outside the
picture, the true distance, MediaPipe's visibility, and the share :func:`reliability.reliable_landmarks` counts
as seen (with how many of those have their truth outside): what :data:`reliability.EDGE_BAND` was set on.

Measured on the public and hard sets and 15 held-out hard-case sets (134 clips, 384 and 512 px): a limb point
MediaPipe puts within 1% of the border has its truth outside on 63% of the frames, 1-5% on 42-44%, 5-8% on 20%,
8-13% on 0.6%; one it puts outside, on 98%. Its visibility says nothing there (median 0.96-0.98 in every bin inside
the picture). Only elbows and wrists came within 5% of the border (ankles within 8%), never a shoulder or hip.
Dropping every limb end whose truth is outside (an oracle) moves the limbs' figures no further than the 1% band
does: the median over the clip's frames already discards the pinned frames that the band misses.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clip_sources import add_arguments, folders, raw_motion  # noqa: E402
from dreamactor_core.signals.motion import Motion  # noqa: E402
from dreamactor_core.signals.reliability import reliable_landmarks  # noqa: E402

LIMB_POINTS = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)  # shoulders, elbows, wrists, hips, knees, ankles
BINS = (-np.inf, 0.0, 0.01, 0.02, 0.03, 0.05, 0.08, 0.13, np.inf)  # share of the larger side inside the border


def border_share(px: np.ndarray, width: int, height: int) -> np.ndarray:
    """Distance inside the nearest border over the larger side (negative outside); NaN for a missing point."""
    d = np.minimum.reduce([px[..., 0], width - 1 - px[..., 0], px[..., 1], height - 1 - px[..., 1]])
    return d / max(width, height)


def clip_rows(motion: Motion, gt: dict) -> dict:
    """Per limb point and frame: MediaPipe's and the truth's border shares, visibility, counted seen."""
    t = min(motion.num_frames, len(gt["frames"]))
    uv = np.array([[gt_point(f, j) for j in LIMB_POINTS] for f in gt["frames"][:t]], np.float64)
    px = np.asarray(motion.body_px[:t, LIMB_POINTS, :2], np.float64)
    size = (motion.width, motion.height)
    return {"ours": border_share(px, *size), "truth": border_share(uv, *size),
            "vis": np.nan_to_num(np.asarray(motion.body_conf[:t, LIMB_POINTS], np.float64)),
            "seen": reliable_landmarks(motion)[:t, LIMB_POINTS]}


def gt_point(frame: dict, j: int) -> list:
    p = frame["mp33"]["uv"][j]
    return [np.nan, np.nan] if p is None else p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(ap)
    args = ap.parse_args()
    pairs = folders(args)
    rows = []
    for folder, raw_dir in pairs:
        for video in sorted(folder.glob("*.mp4")):
            gt_file = video.with_suffix(".json")
            if gt_file.exists() and (raw_dir is None or (raw_dir / f"{video.stem}.json").exists()):
                rows.append(clip_rows(raw_motion(video, raw_dir, args.cache), json.loads(gt_file.read_text())))
    if not rows:
        sys.exit("no clip with ground truth (NAME.mp4 + NAME.json) in " + ", ".join(str(f) for f, _ in pairs))
    cat = {k: np.concatenate([r[k].ravel() for r in rows]) for k in rows[0]}
    ok = np.isfinite(cat["ours"]) & np.isfinite(cat["truth"])
    print(f"{len(rows)} clips; MediaPipe's limb point inside the border (share of the larger side)")
    print(f"{'inside':>13s} {'points':>7s} {'truth out':>9s} {'truth at':>8s} {'visibility':>10s} {'seen':>5s} "
          f"{'seen, truth out':>15s}")
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        k = ok & (cat["ours"] >= lo) & (cat["ours"] < hi)
        if not k.any():
            continue
        out = cat["truth"][k] < 0
        print(f"{lo * 100:5.0f}..{hi * 100:<4.0f}% {k.sum():7d} {out.mean() * 100:8.1f}% "
              f"{np.median(cat['truth'][k]) * 100:7.1f}% {np.median(cat['vis'][k]):10.2f} "
              f"{cat['seen'][k].mean() * 100:4.0f}% {(cat['seen'][k] & out).sum():15d}")


if __name__ == "__main__":
    main()
