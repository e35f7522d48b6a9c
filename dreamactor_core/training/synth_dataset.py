"""Write synthetic-human clips to disk: training videos, and held-out evaluation pairs.

A training clip is one body doing one motion (mp4 + ground-truth JSON), with a
reference photo (``<name>.ref.png``): the same body standing at rest, seen by
the same camera, as an artist's reference image usually is. An
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
from .synth_humans import Camera, SynthHumanEngine, Subject

STILL = {"kind": "still", "num_frames": 1, "rotations": {}}


def _gt_json(clip, subject, extra: dict | None = None) -> dict:
    gt = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in clip.gt.items()}
    gt["subject"] = asdict(subject)
    gt.update(extra or {})
    return gt


def write_training_clips(out_dir: str | Path, count: int, *, frames: int = 17, size: int = 64, seed: int = 0,
                         engine: SynthHumanEngine | None = None, progress: ProgressFn = None,
                         cancel: CancelFn = None) -> list[Path]:
    """``count`` random clips (bodies, looks, cameras, motions) as mp4 + json."""
    from ..signals.video_io import write_image, write_video

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
        gt = _gt_json(clip, subject)
        path.with_suffix(".json").write_text(json.dumps(gt))
        write_image(str(path.with_suffix(".ref.png")), reference_photo(eng, gt))
        paths.append(path)
        report(progress, i + 1, count)
    return paths


def reference_photo(engine: SynthHumanEngine, gt: dict) -> np.ndarray:
    """The clip's body at rest pose seen by the clip's camera, uint8 [H, W, 3].

    ``gt`` is a clip's ground-truth JSON (``subject`` and the placed camera ``K``, ``R``, ``t``).
    """
    camera = Camera(0.0, 0.0, gt.get("framing", "full"), *(np.asarray(gt[k], np.float64) for k in ("K", "R", "t")))
    return engine.render(Subject(**gt["subject"]), STILL, camera).frames[0]


def write_reference_photos(clip_dir: str | Path, engine: SynthHumanEngine, *, overwrite: bool = False) -> int:
    """Add the ``<name>.ref.png`` reference photo to clips written without one; returns how many."""
    from ..signals.video_io import write_image

    done = 0
    for gt_path in sorted(Path(clip_dir).glob("synth_*.json")):
        if gt_path.name.endswith(".motion.json"):
            continue
        photo = gt_path.with_suffix(".ref.png")
        if overwrite or not photo.exists():
            write_image(str(photo), reference_photo(engine, json.loads(gt_path.read_text())))
            done += 1
    return done


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
    reference = engine.render(ref_subject, STILL, camera)
    driving = engine.render(drv_subject, motion, camera)
    target = engine.render(ref_subject, motion, camera)
    return {"reference": reference.frames[0], "driving": driving.frames, "target": target.frames,
            "target_masks": target.masks, "target_gt": target.gt, "driving_gt": driving.gt,
            "motion": motion["kind"], "fps": engine.fps}
