"""Character-mask quality against true silhouettes, and its speed at 512x512.

    python benchmarks/mask.py [--frames 12] [--cache DIR]
    python benchmarks/mask.py --hardcases DIR [--frames 24]

Clips: the synthetic-human engine (``SynthHumanEngine(512, 512)``, ``default_rng(5)``),
one subject per motion (walk, wave, squat, turn), full-body framing, exact silhouettes.
Rendering needs the ``anny`` body model and takes minutes, so rendered clips are kept
in ``--cache`` (default: the system temp dir) and reused.

``--hardcases DIR`` scores the hard-case set instead (written by
``python -m dreamactor_core.training.synth_hardcases DIR``: fast limbs, a child, a tall
bending body, a 360-degree turn, a portrait at +-80 degrees, a walk behind a panel,
upper-body framing), its first ``--frames`` frames resized to 512x512 (frames bilinear,
silhouettes nearest). The truth is the visible silhouette: the panel hides what is
behind it, and a mask should not cover hidden limbs.

For each clip it prints IoU, the share of person pixels missed, and flicker (pixels that
change state between frames where the true silhouette does not) of our mask and of raw
selfie segmentation (whole frame, threshold 0.5), then the means. Speed: frames per
second of the mask alone (the motion is extracted beforehand and timed separately).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dreamactor_core.signals.character_mask import character_masks, raw_segmentation  # noqa: E402
from dreamactor_core.signals.extract import extract_motion  # noqa: E402
from dreamactor_core.signals.mask_metrics import mask_scores  # noqa: E402

KINDS = ("walk", "wave", "squat", "turn")


def clips(frames: int, cache: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{kind: (frames uint8 [T,512,512,3], silhouettes bool [T,512,512])}, rendered once and cached."""
    files = {k: cache / f"mask_bench_{k}_{frames}.npz" for k in KINDS}
    if not all(f.exists() for f in files.values()):
        from dreamactor_core.training.synth_humans import SynthHumanEngine

        engine = SynthHumanEngine(512, 512)
        rng = np.random.default_rng(5)
        for kind in KINDS:
            subject = engine.sample_subject(rng)
            clip = engine.render(subject, engine.sample_motion(rng, frames, kind), engine.sample_camera(rng, "full"))
            np.savez_compressed(files[kind], frames=clip.frames, masks=clip.masks)
    out = {}
    for kind, f in files.items():
        data = np.load(f)
        out[kind] = data["frames"], data["masks"] > 0.5
    return out


def hard_cases(folder: Path, frames: int, size: int = 512) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{case: (frames uint8 [T,size,size,3], visible silhouettes bool)} from a hard-case folder."""
    import json

    import cv2

    from dreamactor_core.signals.video_io import read_video
    from dreamactor_core.training.synth_hardcases import load_silhouettes

    out = {}
    for video in sorted(folder.glob("hc*.mp4")):
        name = video.stem
        clip = read_video(video, max_frames=frames)[0]
        truth = load_silhouettes(folder / f"{name}.silhouette.npz")[:len(clip)]
        panel = json.loads((folder / f"{name}.json").read_text()).get("occluder")
        if panel:  # the panel stands in front of the body: what it hides is not seen
            x0, y0, x1, y1 = (int(v) for v in panel["bbox_xyxy"])
            truth[:, y0:y1 + 1, x0:x1 + 1] = False
        clip = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in clip])
        truth = np.stack([cv2.resize(t.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
                          for t in truth])
        out[name] = clip, truth
    if not out:
        raise SystemExit(f"--hardcases: no hc*.mp4 in {folder}; write them with "
                         "python -m dreamactor_core.training.synth_hardcases DIR")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--hardcases", type=Path, default=None, help="score the hard-case set in this folder")
    args = parser.parse_args()
    rows, raw_rows, mask_time, extract_time, n = [], [], 0.0, 0.0, 0
    data = hard_cases(args.hardcases, args.frames) if args.hardcases else clips(args.frames, args.cache)
    width = max(len(k) for k in data)
    print(f"{'clip':{width}s} {'':5s} {'IoU':>6s} {'missed':>7s} {'flicker':>8s}")
    for kind, (frames, truth) in data.items():
        start = time.perf_counter()
        motion = extract_motion(frames, 25.0)
        extract_time += time.perf_counter() - start
        start = time.perf_counter()
        mask = character_masks(frames, motion) > 0.5
        mask_time += time.perf_counter() - start
        n += len(frames)
        ours, raw = mask_scores(mask, truth), mask_scores(raw_segmentation(frames), truth)
        rows.append(ours)
        raw_rows.append(raw)
        for name, s in (("ours", ours), ("raw", raw)):
            print(f"{kind:{width}s} {name:5s} {s['iou']:6.3f} {100 * s['missed']:6.2f}% {100 * s['flicker']:7.3f}%")
    for name, rs in (("ours", rows), ("raw", raw_rows)):
        mean = {k: float(np.mean([r[k] for r in rs])) for k in rs[0]}
        print(f"{'mean':{width}s} {name:5s} {mean['iou']:6.3f} {100 * mean['missed']:6.2f}% {100 * mean['flicker']:7.3f}%")
    print(f"mask at 512x512: {n / mask_time:.1f} fps ({1000 * mask_time / n:.0f} ms/frame, motion given); "
          f"motion extraction: {n / extract_time:.1f} fps")


if __name__ == "__main__":
    main()
