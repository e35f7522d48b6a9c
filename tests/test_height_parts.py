"""benchmarks/height_parts.py takes apart the height the scorecard scores, on a clip's true keypoints."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import benchmark
from dreamactor_core.signals import scorecard
from dreamactor_core.signals.motion import Motion
from test_retarget import gt_motion

CLIP = "pub01_walk_in_place"


def test_height_parts_takes_apart_the_cards_height(synth_dir, tmp_path, monkeypatch):
    """Given the same saved raw extraction (here the true keypoints and head sphere, which the head stage
    keeps), the benchmark's height is the card's, and its shares (the law, the sphere, the head's depth, the
    chain's parts) add up to the height's log error within half a percent (first-order terms: 0.1-0.4 % apart
    on the public set's MediaPipe extractions)."""
    parts = benchmark("height_parts")
    gt = json.loads((synth_dir / f"{CLIP}.json").read_text())
    (tmp_path / f"{CLIP}.json").write_text(gt_motion(synth_dir, CLIP).to_json())
    raw = Motion.from_json((tmp_path / f"{CLIP}.json").read_text())
    # The true points carry no face mesh to fit a head to: the true sphere stands for the head stage's.
    monkeypatch.setattr(scorecard, "estimate_head", lambda motion: motion)
    card = scorecard.score_clip(synth_dir / f"{CLIP}.mp4", gt=gt, raw=raw)
    row = parts.shares(parts.ours(synth_dir / f"{CLIP}.mp4", raw_dir=tmp_path), gt)
    assert row["height"] == card["height"] and row["true"] == card["true_height"]
    assert row["error"] == pytest.approx(np.log(card["height"] / card["true_height"]))
    assert sum(row[c] for c in parts.COLUMNS) == pytest.approx(row["error"], abs=0.005), row
