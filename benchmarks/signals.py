"""Speed (and, with --accuracy, accuracy) of the motion-signal stages on the synthetic clips.

    python benchmarks/signals.py [--frames 72] [--accuracy]

Prints frames per second of extract (and retarget / render when those modules
exist) at 512x512, next to bare MediaPipe inference on the same frames in the same
run, and the overhead ratio. With --accuracy: PCK and jitter per clip against the
ground truth in ../shared/data/synth.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from conftest import find_shared  # noqa: E402
from dreamactor_core.signals.extract import extract_motion  # noqa: E402
from dreamactor_core.signals.smoothing import smooth_motion  # noqa: E402
from dreamactor_core.signals.video_io import read_video  # noqa: E402

MP33_TO_COCO17 = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
CLIPS = ["pub01_walk_in_place", "pub02_arm_wave", "pub03_squat", "pub04_turn_landscape",
         "pub05_head_turn_nod", "pub06_portrait_head"]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bare(frames, holistic: bool) -> None:
    """MediaPipe alone: the same graph, same frames, no conversion or post-processing."""
    import mediapipe as mp

    if holistic:
        graph = mp.solutions.holistic.Holistic(model_complexity=1, refine_face_landmarks=True)
    else:
        graph = mp.solutions.pose.Pose(model_complexity=1)
    for f in frames:
        graph.process(f)
    graph.close()


def speed(synth: Path, n: int) -> None:
    frames, fps = read_video(synth / "pub01_walk_in_place.mp4", max_frames=n)
    t = len(frames)
    print(f"speed on {t} frames of {frames.shape[2]}x{frames.shape[1]} (graph start-up included in both)")
    motions = {}
    for label, full in (("body+hands+face (Holistic)", True), ("body only (Pose)", False)):
        _, t_bare = timed(lambda: bare(frames, full))
        motions[full], t_ours = timed(lambda: extract_motion(frames, fps, hands=full, face=full, head=full))
        print(f"  {label:28s} bare MediaPipe {t / t_bare:6.1f} fps | extract {t / t_ours:6.1f} fps "
              f"| overhead {t_ours / t_bare - 1:+.1%}")
    stage_speed(motions[True], frames, t)


def stage_speed(motion, frames, t: int) -> None:
    try:
        from dreamactor_core.signals.retarget import retarget_motion
    except ImportError:
        print("  retarget: not available yet")
    else:
        try:
            _, dt = timed(lambda: retarget_motion(motion, frames[0]))
            print(f"  retarget {t / dt:8.1f} fps")
        except Exception as exc:  # the call shape may differ until the stages settle
            print(f"  retarget: could not run ({exc})")
    try:
        from dreamactor_core.signals.render_dreamactor import render_guidance
    except ImportError:
        print("  render: not available yet")
    else:
        try:
            _, dt = timed(lambda: render_guidance(motion, 512, 512))
            print(f"  render {t / dt:8.1f} fps")
        except Exception as exc:
            print(f"  render: could not run ({exc})")


def accuracy(synth: Path) -> None:
    print("accuracy (all frames; PCK of the GT box diagonal on GT-visible COCO joints)")
    print(f"  {'clip':22s} PCK@0.1 PCK@0.05 PCK@0.02  accel err raw -> smoothed (px/frame^2)  face found")
    for clip in CLIPS:
        frames, fps = read_video(synth / f"{clip}.mp4")
        raw = extract_motion(frames, fps, smoothing=0.0)
        smooth = smooth_motion(raw, 0.5)
        gt = json.load(open(synth / f"{clip}.json"))["frames"]
        uv = np.array([f["coco17"]["uv"] for f in gt])
        vis = np.array([f["coco17"]["vis"] for f in gt]) == 2
        box = np.array([f["person_bbox_xyxy"] for f in gt])
        diag = np.hypot(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
        pred = smooth.body_px[:, MP33_TO_COCO17, :2]
        err = np.nan_to_num(np.linalg.norm(pred - uv, axis=2) / diag[:, None], nan=np.inf)[vis]
        acc = lambda x: x[2:] - 2 * x[1:-1] + x[:-2]  # noqa: E731
        jit = [float(np.nanmean(np.linalg.norm(acc(m.body_px[:, MP33_TO_COCO17, :2]) - acc(uv), axis=-1)))
               for m in (raw, smooth)]
        face = np.isfinite(smooth.face_px[:, 0, 0]).mean()
        print(f"  {clip:22s} {np.mean(err < 0.1):7.3f} {np.mean(err < 0.05):8.3f} {np.mean(err < 0.02):8.3f}"
              f"  {jit[0]:6.3f} -> {jit[1]:6.3f}{'':24s}{face:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=72)
    parser.add_argument("--accuracy", action="store_true")
    args = parser.parse_args()
    shared = find_shared()
    if shared is None or not (shared / "data" / "synth").is_dir():
        sys.exit("shared/data/synth not found (set DREAMACTOR_SHARED)")
    synth = shared / "data" / "synth"
    speed(synth, args.frames)
    if args.accuracy:
        accuracy(synth)


if __name__ == "__main__":
    main()
