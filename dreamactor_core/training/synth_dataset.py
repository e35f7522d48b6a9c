"""Write synthetic-human clips to disk: training videos, and held-out evaluation pairs.

A training clip is one body doing one motion (mp4 + ground-truth JSON). An
evaluation pair adds the target: the *reference* body rendered doing the
*driving* body's motion from the same camera, which is exactly what an
animation model should produce.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..utils import CancelFn, ProgressFn, check_cancel, report
from .synth_humans import SynthHumanEngine


def _gt_json(clip, subject, extra: dict | None = None) -> dict:
    gt = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in clip.gt.items()}
    gt["subject"] = asdict(subject)
    gt.update(extra or {})
    return gt


def write_training_clips(out_dir: str | Path, count: int, *, frames: int = 17, size: int = 64, seed: int = 0,
                         engine: SynthHumanEngine | None = None, progress: ProgressFn = None,
                         cancel: CancelFn = None) -> list[Path]:
    """``count`` random clips (bodies, looks, cameras, motions) as mp4 + json."""
    from ..signals.video_io import write_video

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    eng = engine or SynthHumanEngine(size, size)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        check_cancel(cancel)
        subject = eng.sample_subject(rng)
        clip = eng.render(subject, eng.sample_motion(rng, frames), eng.sample_camera(rng))
        path = out / f"synth_{seed:04d}_{i:05d}.mp4"
        write_video(str(path), clip.frames, eng.fps)
        path.with_suffix(".json").write_text(json.dumps(_gt_json(clip, subject)))
        paths.append(path)
        report(progress, i + 1, count)
    return paths


def make_eval_pair(engine: SynthHumanEngine, rng: np.random.Generator, frames: int, kind: str | None = None,
                   framing: str | None = "full") -> dict:
    """A held-out case: reference image, driving clip and the exact target clip, with ground truth.

    ``framing`` is "full", "upper" or "portrait"; None draws it as training clips do.

    The reference image is the reference body at rest pose in the first frame of a
    still clip; the target is that body doing the driving motion from the same camera.
    """
    ref_subject, drv_subject = engine.sample_subject(rng), engine.sample_subject(rng)
    camera = engine.place_camera(engine.sample_camera(rng, framing), engine.pose(ref_subject, {
        "num_frames": 1, "rotations": {}})["rest_vertices"])
    motion = engine.sample_motion(rng, frames, kind)
    still = {"kind": "still", "num_frames": 1, "rotations": {}}
    reference = engine.render(ref_subject, still, camera)
    driving = engine.render(drv_subject, motion, camera)
    target = engine.render(ref_subject, motion, camera)
    return {"reference": reference.frames[0], "driving": driving.frames, "target": target.frames,
            "target_masks": target.masks, "target_gt": target.gt, "driving_gt": driving.gt,
            "motion": motion["kind"], "fps": engine.fps}
