"""The hand landmark graph on the squares the body gives, against the synthetic clips' hand ground truth."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dreamactor_core.signals import hand_region
from dreamactor_core.signals.extract import extract_motion
from dreamactor_core.signals.hand_landmarks import HandTracker, hand_region as body_hand_region
from dreamactor_core.signals.video_io import read_video

CLIP = "pub01_walk_in_place"


@pytest.fixture(scope="module")
def clip(synth_dir):
    frames, fps = read_video(synth_dir / f"{CLIP}.mp4")
    gt = json.load(open(synth_dir / f"{CLIP}.json"))
    names = gt["keypoint_names"]["skeleton"]
    skel = np.array([f["skeleton"]["uv"] for f in gt["frames"]])
    # The tracker's input in the extraction: MediaPipe Pose's own points, unsmoothed, frame after frame.
    body = extract_motion(frames, fps, smoothing=0.0, hands=False, face=False)
    return {
        "frames": frames,
        "body": body.body_px,
        "vis": body.body_conf,
        # per side (0 = subject's left): the wrist joint and the middle finger's knuckle
        "wrist": skel[:, [names.index("left_wrist_joint"), names.index("right_wrist_joint")]],
        "mcp": skel[:, [names.index("left_middle_mcp"), names.index("right_middle_mcp")]],
    }


def test_hands_land_on_the_true_wrists_and_knuckles(clip):
    """Fed MediaPipe Pose's points, the tracker finds the hands on most frames (the far hand is half hidden
    behind the body on a quarter of them), its wrist (point 0) and middle knuckle (point 9) within
    0.15 of the palm's length of the truth (medians; MediaPipe's own tracking graph on our old crops:
    found 143 of 144, mean 0.16 / 0.18 palm off; this tracker 126, 0.12 / 0.13)."""
    tracker = HandTracker()
    try:
        found, err_wrist, err_mcp = [], [], []
        for frame, body, vis, wrist, mcp in zip(clip["frames"], clip["body"], clip["vis"], clip["wrist"], clip["mcp"]):
            for side, hand in enumerate(tracker.process(frame, body, vis)):
                found.append(hand is not None)
                if hand is not None:
                    palm = np.linalg.norm(wrist[side] - mcp[side])
                    err_wrist.append(np.linalg.norm(hand[0, :2] - wrist[side]) / palm)
                    err_mcp.append(np.linalg.norm(hand[9, :2] - mcp[side]) / palm)
    finally:
        tracker.close()
    print(f"found {np.mean(found):.3f}, median error / palm: wrist {np.median(err_wrist):.3f} knuckle {np.median(err_mcp):.3f}")
    assert np.mean(found) >= 0.8
    assert np.median(err_wrist) < 0.15 and np.median(err_mcp) < 0.15


def test_window_lean_call_and_process_agree(clip):
    """The tracker's window around the square gives the landmarks the whole frame gives (same pixels reach
    the model), and the lean call gives what MediaPipe's own ``process`` gives."""
    frame, body = clip["frames"][0], clip["body"][0]
    cx, cy, side, rotation, _length = body_hand_region(body, 1)
    graph = hand_region.HandRegionGraph(0)
    try:
        whole = graph.landmarks(frame, cx, cy, side, rotation)
        assert whole is not None
        reach = int(0.71 * side + 2.0)
        x0, y0 = int(cx) - reach, int(cy) - reach
        window = np.ascontiguousarray(frame[y0:int(cy) + reach + 1, x0:int(cx) + reach + 1])
        part = graph.landmarks(window, cx - x0, cy - y0, side, rotation)
        np.testing.assert_allclose(part[:, :2] + (x0, y0), whole[:, :2], atol=0.05)
        via_process = graph.process({"image": frame, "roi": hand_region.region_rect(frame.shape, cx, cy, side, rotation)})
        found = np.array([[p.x * frame.shape[1], p.y * frame.shape[0]] for p in via_process.landmarks.landmark])
        np.testing.assert_allclose(found, whole[:, :2], atol=1e-3)
    finally:
        graph.close()


def test_no_hand_in_an_empty_square():
    graph = hand_region.HandRegionGraph(0)
    try:
        assert graph.landmarks(np.full((96, 96, 3), 128, np.uint8), 48.0, 48.0, 40.0, 0.3) is None
    finally:
        graph.close()


def test_bad_model_complexity_is_refused():
    with pytest.raises(ValueError, match="model_complexity"):
        hand_region.HandRegionGraph(2)


def test_bad_tracker_complexities_are_refused_before_any_frame():
    with pytest.raises(ValueError, match="model_complexity must be 0"):
        HandTracker(model_complexity=2)
    with pytest.raises(ValueError, match="fallback_complexity"):
        HandTracker(fallback_complexity=3)
    assert HandTracker(fallback_complexity=None).complexities == (0,)
