"""Limb proportions over a clip and the height in metres, against the synthetic ground truth."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dreamactor_core.signals import accuracy as acc
from dreamactor_core.signals.body_size import (LANDMARK_BIAS, MIN_SEEN_SHARE, body_size,
                                                  clip_proportions, estimate_height)
from dreamactor_core.signals.extract import extract_motion
from dreamactor_core.signals.video_io import read_video
from test_retarget import gt_motion


def _gt(synth_dir, clip):
    return json.loads((synth_dir / f"{clip}.json").read_text())
# Tests fed the clip's exact posed keypoints compare with those keypoints' own lengths (posed=True), not the
# rest-pose lengths the scorer uses: the posed points are what they measure.


@pytest.mark.parametrize("clip", ["pub01_walk_in_place", "pub05_head_turn_nod"])
def test_clip_proportions_on_exact_keypoints(synth_dir, clip):
    """On the true keypoints (an average and a short-limbed body) each limb measures its true length
    (within 2%: the focal length is guessed from the image size, the camera fitted to the keypoints)."""
    lengths = clip_proportions(gt_motion(synth_dir, clip))["measured"]
    want = acc.gt_limb_lengths(_gt(synth_dir, clip), posed=True)
    for k, v in want.items():
        assert lengths[k] / LANDMARK_BIAS.get(k, 1.0) == pytest.approx(v, rel=0.02), k


def test_steady_side_outweighs_a_guessed_one(synth_dir):
    """A wrist MediaPipe guesses (out of the frame or behind the body) jumps from frame to frame;
    the side it sees keeps one length. With the seen forearm on a third of the frames and the guessed
    one on all of them (0.55-0.95 of its length), the forearm still comes out at its true length."""
    clip = "pub01_walk_in_place"
    m = gt_motion(synth_dir, clip)
    rng = np.random.default_rng(0)
    k = rng.uniform(0.55, 0.95, m.num_frames)[:, None]
    for arr in (m.body_world, m.body_px):
        arr[:, 16] = arr[:, 14] + k * (arr[:, 16] - arr[:, 14])  # right wrist pulled towards the elbow
    m.body_conf[np.arange(m.num_frames) % 3 != 0, 15] = 0.0  # left wrist seen on every third frame
    want = acc.gt_limb_lengths(_gt(synth_dir, clip), posed=True)["forearm"]
    assert clip_proportions(m)["measured"]["forearm"] == pytest.approx(want, rel=0.02)


@pytest.mark.parametrize("wrong", [0.8, 1.2])
def test_sides_far_apart_give_the_steadier_one_alone(synth_dir, wrong):
    """Left and right forearms 20% apart are not blended: the steadier side is taken alone, whether
    the jumpier side reads short (a wrist above the frame drawn inside it) or long (a misplaced
    landmark). The seen side jitters +-2% and the wrong one +-3%: a spread-weighted blend of the
    two reads ~4% off, and always taking the longer side 20% off in the second case."""
    clip = "pub01_walk_in_place"
    m = gt_motion(synth_dir, clip)
    rng = np.random.default_rng(1)
    seen = 1 + rng.uniform(-0.02, 0.02, m.num_frames)[:, None]
    guessed = wrong * (1 + rng.uniform(-0.03, 0.03, m.num_frames))[:, None]
    for arr in (m.body_world, m.body_px):
        arr[:, 15] = arr[:, 13] + seen * (arr[:, 15] - arr[:, 13])
        arr[:, 16] = arr[:, 14] + guessed * (arr[:, 16] - arr[:, 14])
    want = acc.gt_limb_lengths(_gt(synth_dir, clip), posed=True)["forearm"]
    assert clip_proportions(m)["measured"]["forearm"] == pytest.approx(want, rel=0.015)


@pytest.mark.parametrize("limb, moved", [("upper_arm", (13, 14, 15, 16)), ("forearm", (15, 16))])
def test_arms_are_the_median_over_every_seen_frame(synth_dir, limb, moved):
    """The arms' length is the plain median over their seen frames, not weighted by how flat they lie (bd74c55:
    MediaPipe's depth hardly sees an arm tilt towards the camera). The squat holds its arms out towards the
    camera: on the 40 % of frames where each arm lies flattest in the picture it is stretched 8 % (the joints
    below moved along it). The median of all frames keeps the clip's length; weighting by flatness (the legs'
    rule) reads 8-9 % long, a plain mean 3 %."""
    clip = "pub03_squat"
    m, gt = gt_motion(synth_dir, clip), _gt(synth_dir, clip)
    before = clip_proportions(m)["measured"][limb]
    xyz = np.array([f["mp33"]["xyz_cam"] for f in gt["frames"]])
    for side in (0, 1):
        a, b = {"upper_arm": (11, 13), "forearm": (13, 15)}[limb]
        d = xyz[:, b + side] - xyz[:, a + side]
        mid = 0.5 * (xyz[:, b + side] + xyz[:, a + side])
        flat = np.sqrt(1.0 - (np.sum(d * mid, -1) / np.linalg.norm(d, axis=-1) / np.linalg.norm(mid, axis=-1)) ** 2)
        flattest = flat >= np.quantile(flat, 0.6)
        below = [j for j in moved if j % 2 == (b + side) % 2]
        xyz[np.ix_(flattest, below)] += 0.08 * d[flattest][:, None]
    fx, cx, cy = gt["camera"]["fx"], gt["camera"]["cx"], gt["camera"]["cy"]
    m.body_world[:] = xyz - xyz[:, 23:25].mean(1, keepdims=True)
    m.body_px[..., 0] = fx * xyz[..., 0] / xyz[..., 2] + cx
    m.body_px[..., 1] = fx * xyz[..., 1] / xyz[..., 2] + cy
    assert clip_proportions(m)["measured"][limb] == pytest.approx(before, rel=0.01)


def test_a_limb_glimpsed_on_few_frames_is_not_measured(synth_dir):
    """Knees hidden behind a panel but rated seen on one frame: the thigh and shin stay unmeasured
    (fewer than MIN_SEEN_SHARE of the frames), the arms are measured as before."""
    m = gt_motion(synth_dir, "pub01_walk_in_place")
    assert 1 < MIN_SEEN_SHARE * m.num_frames
    m.body_conf[1:, 25:27] = 0.0
    lengths = clip_proportions(m)["lengths"]
    assert np.isnan(lengths["thigh"]) and np.isnan(lengths["shin"])
    assert np.isfinite(lengths["upper_arm"]) and np.isfinite(lengths["forearm"])


def test_elbows_seen_on_a_fifth_of_the_frames_are_not_measured(synth_dir):
    """A portrait's elbows below the frame, rated seen on every fifth frame where MediaPipe's guess
    drifts inside: upper arm and forearm stay unmeasured, the legs are measured as before."""
    m = gt_motion(synth_dir, "pub01_walk_in_place")
    m.body_conf[np.arange(m.num_frames) % 5 != 0, 13:15] = 0.0
    lengths = clip_proportions(m)["lengths"]
    assert np.isnan(lengths["upper_arm"]) and np.isnan(lengths["forearm"])
    assert np.isfinite(lengths["thigh"]) and np.isfinite(lengths["shin"])


def test_height_is_sized_on_frames_facing_the_camera(synth_dir):
    """A bowed head's sphere reads small (~0.8 of its size at 40 deg of pitch): frames where the
    head is bowed do not change the height while the clip has frames facing the camera."""
    m = gt_motion(synth_dir, "pub01_walk_in_place")
    upright = estimate_height(m)["height_m"]
    bowed = np.arange(m.num_frames) % 3 != 0  # two frames in three
    m.head_angles[bowed, 1] = 40.0
    m.head_radius_px[bowed] *= 0.8
    assert estimate_height(m)["height_m"] == pytest.approx(upright, rel=0.01)


def test_height_takes_the_torso_standing(synth_dir):
    """The spine flexes: on two frames in three the upper body leans 35 deg off the legs' line,
    rigidly, with pelvis-to-neck 0.8 of its length (a bend); the height is the upright clip's (the
    bent torso would take ~13% off it)."""
    clip = "pub01_walk_in_place"
    m, gt = gt_motion(synth_dir, clip), _gt(synth_dir, clip)
    upright = estimate_height(m)["height_m"]
    xyz = np.array([f["mp33"]["xyz_cam"] for f in gt["frames"]])
    pelvis = xyz[:, 23:25].mean(1, keepdims=True)
    a = np.radians(35.0)
    turn = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    bent = np.arange(m.num_frames) % 3 != 0
    upper = np.arange(23)  # face, shoulders, arms and hands
    neck = xyz[:, 11:13].mean(1, keepdims=True)
    xyz[np.ix_(bent, upper)] = pelvis[bent] + (xyz[np.ix_(bent, upper)] - pelvis[bent] - 0.2 * (neck[bent] - pelvis[bent])) @ turn.T
    fx, cx, cy = gt["camera"]["fx"], gt["camera"]["cx"], gt["camera"]["cy"]
    m.body_world[:] = xyz - pelvis
    m.body_px[..., 0] = fx * xyz[..., 0] / xyz[..., 2] + cx
    m.body_px[..., 1] = fx * xyz[..., 1] / xyz[..., 2] + cy
    assert estimate_height(m)["height_m"] == pytest.approx(upright, rel=0.02)


def test_height_sizes_the_head_on_standing_frames(synth_dir):
    """In a squat MediaPipe's world skeleton does not fold as the picture does, so the camera fit puts
    the body further away and the head, sized at that depth, reads big: on this clip it grew with the
    knees' bend past ~20 deg, to 1.3x at the deepest (110-120 deg). With the head read that way, the
    squat's height is as read on the true head (a median over all frames gave 10% less)."""
    clip = "pub03_squat"
    m, gt = gt_motion(synth_dir, clip), _gt(synth_dir, clip)
    standing = estimate_height(m)["height_m"]
    xyz = np.array([f["mp33"]["xyz_cam"] for f in gt["frames"]])
    thigh, shin = xyz[:, 25:27] - xyz[:, 23:25], xyz[:, 27:29] - xyz[:, 25:27]
    cos = np.sum(thigh * shin, -1) / np.linalg.norm(thigh, axis=-1) / np.linalg.norm(shin, axis=-1)
    bend = np.degrees(np.arccos(cos)).min(1)
    assert bend.max() > 100.0 and (bend < 20.0).mean() > 0.2
    m.head_radius_px *= 1.0 + 0.3 * np.clip((bend - 20.0) / 100.0, 0.0, 1.0)
    assert estimate_height(m)["height_m"] == pytest.approx(standing, rel=0.01)


def test_a_sphere_read_small_gives_no_height_and_says_why(synth_dir):
    """A head sphere read at 0.6 of the head on every frame (as on three held-out clips) would make
    the 1.81 m body ~22 head radii tall, more than any body measures: no height, and why."""
    m = gt_motion(synth_dir, "pub01_walk_in_place")
    assert estimate_height(m)["height_m"] is not None
    m.head_radius_px *= 0.6
    out = estimate_height(m)
    assert out["height_m"] is None and out["head_ratio"] is None and "too small for the body" in out["why"]


def test_no_height_where_the_head_sphere_was_not_sized_on_the_clip(synth_dir):
    """Where the head stage sized the sphere on the typical face-to-head-points scale (FaceMesh held the
    face's size too seldom) the size is not a measurement: no height, and why, before any frame is looked at.
    Measured, the height is given."""
    m = gt_motion(synth_dir, "pub01_walk_in_place")
    m.meta["head_scale"] = "typical"
    out = estimate_height(m)
    assert out["height_m"] is None and "not measured on this clip" in out["why"] and out["frames"] == 0
    m.meta["head_scale"] = "measured"
    assert estimate_height(m)["height_m"] is not None


def test_the_height_reads_the_measured_limbs_and_the_prior_reads_the_height(synth_dir, monkeypatch):
    """One stature step serves the limb prior and the report (b0465dc): the height comes from the measured
    lengths, so a prior that read every limb 30 % longer leaves the height, the head ratio and the metres per
    unit as they were, and only the four limbs' lengths in metres follow it (the prior's lengths scaled by the
    stature's factor). What body_size reports is what estimate_height works out on its own."""
    from dreamactor_core.signals import body_size as bs
    from dreamactor_core.signals.limb_prior import LIMBS

    m = gt_motion(synth_dir, "pub01_walk_in_place")
    size = body_size(m)
    assert size["height_m"] is not None
    assert {k: size[k] for k in ("height_m", "head_ratio", "frames", "lengths_m", "why")} == estimate_height(m)
    prop = clip_proportions(m)
    assert size["lengths_m"]["forearm"] == round(prop["lengths"]["forearm"] * prop["stature"]["metres"], 4)
    heights = []
    real = bs.estimate_limbs
    monkeypatch.setattr(bs, "estimate_limbs", lambda lengths, share, height_m: heights.append(height_m) or {
        k: 1.3 * v for k, v in real(lengths, share, height_m).items()})
    longer = body_size(m)
    assert heights == [size["height_m"]]  # the prior is given the clip's height
    assert (longer["height_m"], longer["head_ratio"]) == (size["height_m"], size["head_ratio"])
    for g, v in size["lengths_m"].items():
        assert longer["lengths_m"][g] == pytest.approx(1.3 * v if g in LIMBS else v, abs=1e-4), g


def test_portrait_gives_no_height_and_says_why(synth_dir):
    out = estimate_height(gt_motion(synth_dir, "pub06_portrait_head"))
    assert out["height_m"] is None and "whole body" in out["why"]


def test_mediapipe_proportions_and_height(synth_dir):
    """pub01 (1.81 m adult): limbs within 3% after one best scale, height within 10%, recorded in meta."""
    frames, fps = read_video(synth_dir / "pub01_walk_in_place.mp4")
    motion = extract_motion(frames, fps)
    gt = _gt(synth_dir, "pub01_walk_in_place")
    worst, errors = acc.proportion_error(motion.meta["body_size"]["lengths"], gt)
    assert worst <= 0.03, errors
    size = motion.meta["body_size"]
    assert size == body_size(motion)
    assert abs(size["height_m"] / gt["body"]["height_m_rest"] - 1) <= 0.10, size
    # Bones in metres: the thigh is a real adult thigh length, not an average-adult unit.
    true_thigh = acc.gt_limb_lengths(gt)["thigh"]
    assert size["lengths_m"]["thigh"] == pytest.approx(true_thigh, rel=0.15)
    assert np.isfinite(size["head_ratio"])


def test_node_summary_reports_the_height():
    from dreamactor_core.signals.motion import Motion
    from nodes.types import motion_summary

    m = Motion.empty(2, fps=25, width=64, height=64)
    m.meta["body_size"] = {"height_m": 1.234, "head_ratio": 12.5, "why": None}
    assert "height: about 1.23 m (body 12.5 head radii)" in motion_summary(m)
    m.meta["body_size"] = {"height_m": None, "head_ratio": None, "why": "the whole body is never seen"}
    assert "height: not estimated (the whole body is never seen)" in motion_summary(m)


def test_limb_floor_benchmark_gives_true_lengths_from_true_pixels(synth_dir):
    """benchmarks/limb_floor.py places MediaPipe's pixels at the true depths; fed the true pixels it
    must give each limb its true length (within 1%: the median over frames of both sides)."""
    from conftest import benchmark

    floor = benchmark("limb_floor")
    gt = _gt(synth_dir, "pub01_walk_in_place")
    px = np.array([[[np.nan, np.nan] if p is None else p for p in f["mp33"]["uv"]] for f in gt["frames"]])
    lengths = floor.floor_lengths(px, gt)
    want = acc.gt_limb_lengths(gt, posed=True)
    assert set(lengths) == set(want)
    for k, v in want.items():
        assert lengths[k] == pytest.approx(v, rel=0.01), k
