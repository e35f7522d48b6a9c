"""Gap filling and following one person among several."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dreamactor_core.signals.extract import extract_motion
from dreamactor_core.signals.motion import Motion
from dreamactor_core.signals.tracking import CropWindow, PersonFollower, choose_person, fill_gaps, parse_person
from dreamactor_core.signals.video_io import read_video
from dreamactor_core.utils import DreamActorError

MP33_TO_COCO17 = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
N = 8


def _ramp_motion(t: int) -> Motion:
    m = Motion.empty(t, fps=25, width=100, height=100)
    ramp = np.arange(t, dtype=np.float32)[:, None, None]
    m.body_px[:] = ramp + np.zeros((1, 33, 3), np.float32)
    m.body_conf[:] = 0.9
    m.body_world[:] = ramp * 0.01
    m.person_box[:] = np.array([10, 10, 50, 90], np.float32)
    m.hands_px[:] = ramp[:, None] + 0.5
    m.hands_conf[:] = 0.8
    return m


def test_short_gaps_interpolated_and_flagged_long_gaps_stay_nan():
    m = _ramp_motion(20)
    m.body_px[3:5] = np.nan  # 2 missing: filled
    m.body_px[8:14] = np.nan  # 6 missing: too long
    m.body_px[18:] = np.nan  # at the end: nothing to interpolate towards
    m.hands_px[10:12, 0] = np.nan  # only the left hand vanishes
    out = fill_gaps(m, max_gap=3)
    np.testing.assert_allclose(out.body_px[3:5, 0, 0], [3.0, 4.0], atol=1e-5)  # exact on a ramp
    assert np.isnan(out.body_px[8:14]).all() and np.isnan(out.body_px[18:]).all()
    np.testing.assert_allclose(out.hands_px[10:12, 0, 0, 0], [10.5, 11.5], atol=1e-5)
    assert np.isfinite(out.hands_px[:, 1]).all()
    expected = np.zeros(20)
    expected[[3, 4, 10, 11]] = 1
    np.testing.assert_array_equal(out.interpolated, expected)
    assert out.meta["gaps"]["body_filled"] == 2 and out.meta["gaps"]["hands_filled"] == 2
    assert np.isnan(m.body_px[3:5]).all()  # the input is not mutated


def test_gap_arguments():
    with pytest.raises(DreamActorError, match="max_gap"):
        fill_gaps(_ramp_motion(3), -1)


def test_person_choice_rules():
    boxes = [np.array([0, 0, 10, 10.0]), np.array([20, 0, 50, 40.0]), np.array([60, 0, 70, 10.0])]
    assert choose_person(boxes, "largest") == 1
    assert choose_person(boxes, 2) == 2 and choose_person(boxes, "0") == 0
    with pytest.raises(DreamActorError, match="only 3 people"):
        choose_person(boxes, 3)
    for bad in ("biggest", -1, 1.5):
        with pytest.raises(DreamActorError, match="person"):
            parse_person(bad)


def test_crop_window_moves_only_when_needed():
    win = CropWindow(np.array([100, 100, 200, 300.0]))
    before = win.box.copy()
    assert not win.update(np.array([105, 102, 205, 302.0]))  # small step: stays put
    np.testing.assert_array_equal(win.box, before)
    assert win.update(np.array([400, 100, 500, 300.0]))  # left the window: follows
    crop, x0, y0, side = win.crop(np.zeros((480, 640, 3), np.uint8))
    assert crop.shape == (int(side), int(side), 3)


@pytest.fixture(scope="module")
def two_people(synth_dir):
    """pub02 (short, left) and pub01 (tall, right) pasted side by side: 1024 x 512."""
    left, fps = read_video(synth_dir / "pub02_arm_wave.mp4", max_frames=N)
    right, _ = read_video(synth_dir / "pub01_walk_in_place.mp4", max_frames=N)
    frames = np.concatenate([left, right], axis=2)
    gts = {}
    for key, clip, dx in (("left", "pub02_arm_wave", 0), ("right", "pub01_walk_in_place", 512)):
        gt = json.load(open(synth_dir / f"{clip}.json"))["frames"][:N]
        uv = np.array([f["coco17"]["uv"] for f in gt]) + np.array([dx, 0])
        vis = np.array([f["coco17"]["vis"] for f in gt])
        box = np.array([f["person_bbox_xyxy"] for f in gt])
        gts[key] = (uv, vis, np.hypot(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]))
    return frames, fps, gts


def _pck(motion, gt, alpha=0.1):
    uv, vis, diag = gt
    err = np.linalg.norm(motion.body_px[:, MP33_TO_COCO17, :2] - uv, axis=2) / diag[:, None]
    return float(np.mean(np.nan_to_num(err, nan=np.inf)[vis == 2] < alpha))


@pytest.mark.parametrize("person, expect, index", [("largest", "right", 1), (0, "left", 0), ("1", "right", 1)])
def test_two_people_the_chosen_one_is_followed(two_people, person, expect, index):
    frames, fps, gts = two_people
    m = extract_motion(frames, fps, person=person, hands=False, face=False, smoothing=0.5)
    info = m.meta["person"]
    assert info["count"] == 2 and info["chosen"] == index
    assert _pck(m, gts[expect]) >= 0.9  # every frame on the chosen person, none on the other
    assert np.isfinite(m.body_px).all()


def test_two_people_index_out_of_range(two_people):
    frames, fps, _ = two_people
    with pytest.raises(DreamActorError, match="only 2 people"):
        extract_motion(frames[:1], fps, person=2, hands=False, face=False)


def test_a_person_who_comes_in_later_does_not_take_over(synth_dir):
    """One person alone, a second walks in at frame 6; the first vanishes for frames 16-18 (as behind
    an occluder) and comes back. Counting again while alone gives the followed person a crop window,
    so the extractor waits for them instead of jumping to the newcomer (it used to, for good)."""
    n = 26
    left, fps = read_video(synth_dir / "pub02_arm_wave.mp4", max_frames=n)
    right, _ = read_video(synth_dir / "pub01_walk_in_place.mp4", max_frames=n)
    backdrop = lambda clip: np.median(clip[:, :, :60].reshape(-1, 3), 0).astype(np.uint8)  # noqa: E731
    right, left = right.copy(), left.copy()
    right[:6] = backdrop(right)
    left[16:19] = backdrop(left)
    gt = json.load(open(synth_dir / "pub02_arm_wave.json"))["frames"][:n]
    uv = np.array([f["coco17"]["uv"] for f in gt])
    box = np.array([f["person_bbox_xyxy"] for f in gt])
    diag = np.hypot(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    m = extract_motion(np.concatenate([left, right], axis=2), fps, hands=False, face=False, smoothing=0.0)
    info = m.meta["person"]
    assert info["count"] == 2 and info["joined_at"] == 12  # counted again after 0.5 s
    err = np.linalg.norm(m.body_px[:, MP33_TO_COCO17, :2] - uv, axis=2) / diag[:, None]
    seen = np.r_[0:16, 19:n]
    assert np.nanmedian(err[seen], axis=1).max() < 0.1  # on the first person in every frame they are seen
    assert np.isfinite(m.body_px[seen, 0, 0]).all()


def test_people_are_counted_again_only_when_something_changed_outside_the_followed_person():
    """Counting runs the pose detector; with a still picture around the followed person it is skipped,
    and a newcomer anywhere outside them (even a small one, at the frame's edge) brings it back."""
    rng = np.random.default_rng(0)
    background = rng.integers(40, 200, (256, 320, 3)).astype(np.uint8)
    body = np.array([130, 60, 190, 240], np.float32)  # the followed person's box

    def frame(person_dx=0, newcomer=None):
        img = background.copy()
        img[60:240, 130 + person_dx:190 + person_dx] = 230  # the followed person (moves a little)
        if newcomer is not None:
            x, y, w, h = newcomer
            img[y:y + h, x:x + w] = 10
        return img

    calls = []

    def detect(img):
        calls.append(img)
        return [body] if len(calls) == 1 else []  # alone at the start, then nobody else in the blanked frame

    follower = PersonFollower("largest", detect, recount_every=12)
    assert follower.start(frame(), 0) and len(calls) == 1
    for t in range(1, 40):
        follower.found(body + np.array([t % 3, 0, t % 3, 0], np.float32))
        assert not follower.recount(frame(person_dx=t % 3), t)
    assert len(calls) == 1  # three counts were due; the picture outside the person never changed
    follower.recount(frame(newcomer=(0, 100, 24, 60)), 48)  # someone at the left edge
    assert len(calls) == 2 and follower.meta["counted_at"] == 48
    follower.recount(frame(newcomer=(0, 100, 24, 60)), 60)  # they stand still: counted already
    assert len(calls) == 2
    follower.recount(frame(newcomer=(280, 30, 30, 60)), 72)  # they moved
    assert len(calls) == 3
