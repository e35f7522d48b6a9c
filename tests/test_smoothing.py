"""Local quadratic smoothing: less jitter than raw MediaPipe against ground truth, no lag, peaks kept."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dreamactor_core.signals.extract import extract_motion
from dreamactor_core.signals.one_euro import filter_params, one_euro, one_euro_many
from dreamactor_core.signals.smoothing import kernel_radius, landmark_segments, outlier_trust, smooth_array, smooth_motion
from dreamactor_core.signals.video_io import read_video
from dreamactor_core.utils import DreamActorError

MP33_TO_COCO17 = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
N = 48


def accel_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean |second difference of prediction - that of ground truth| (px / frame^2)."""
    acc = lambda x: x[2:] - 2 * x[1:-1] + x[:-2]  # noqa: E731
    return float(np.nanmean(np.linalg.norm(acc(pred) - acc(gt), axis=-1)))


def best_shift(pred: np.ndarray, gt: np.ndarray, max_shift: int = 3) -> int:
    """The time offset (frames) that best aligns prediction with ground truth; > 0 means lagging."""
    errs = {}
    for s in range(-max_shift, max_shift + 1):
        a = pred[max_shift + s: len(pred) - max_shift + s]
        b = gt[max_shift: len(gt) - max_shift]
        errs[s] = np.nanmean(np.linalg.norm(a - b, axis=-1))
    return min(errs, key=errs.get)


@pytest.fixture(scope="module", params=["pub01_walk_in_place", "pub03_squat"])
def raw_and_gt(request, synth_dir):
    clip = request.param
    frames, fps = read_video(synth_dir / f"{clip}.mp4", max_frames=N)
    raw = extract_motion(frames, fps, smoothing=0.0, hands=False, face=False)
    gt = json.load(open(synth_dir / f"{clip}.json"))["frames"][:N]
    uv = np.array([f["coco17"]["uv"] for f in gt])
    return clip, raw, uv


def test_smoothing_lowers_jitter_without_lag(raw_and_gt):
    clip, raw, uv = raw_and_gt
    smooth = smooth_motion(raw, 0.5)
    p_raw = raw.body_px[:, MP33_TO_COCO17, :2]
    p_smooth = smooth.body_px[:, MP33_TO_COCO17, :2]
    e_raw, e_smooth = accel_error(p_raw, uv), accel_error(p_smooth, uv)
    # frames where the ground truth moves fastest: a lagging filter would fall behind here
    speed = np.linalg.norm(uv[1:] - uv[:-1], axis=2).mean(axis=1)
    fast = np.argsort(speed)[-N // 8:] + 1
    f_raw = np.mean(np.linalg.norm(p_raw[fast] - uv[fast], axis=2))
    f_smooth = np.mean(np.linalg.norm(p_smooth[fast] - uv[fast], axis=2))
    print(f"{clip}: accel error raw {e_raw:.3f} -> smoothed {e_smooth:.3f} px/frame^2; "
          f"error on fast frames raw {f_raw:.2f} -> {f_smooth:.2f} px")
    assert e_smooth < 0.8 * e_raw
    assert f_smooth <= f_raw * 1.05
    # MediaPipe's own causal filter may trail by a frame; ours must add nothing to that
    assert best_shift(p_smooth, uv) <= best_shift(p_raw, uv)
    assert smooth.meta["smoothing"]["strength"] == 0.5
    assert smooth.meta["smoothing"]["mirrored_frames"] == 0  # MediaPipe never reads these from behind


def test_zero_phase_on_a_noisy_swing():
    rng = np.random.default_rng(0)
    t = np.arange(100) / 25.0
    clean = 100 * np.sin(2 * np.pi * 1.0 * t)  # a limb swinging +-100 px once a second
    noisy = clean + rng.normal(0, 3.0, t.shape)
    out = smooth_array(noisy[:, None], 25.0, 0.5)[:, 0]
    fast = np.abs(np.cos(2 * np.pi * 1.0 * t)) > 0.7  # where a lagging filter would trail
    assert np.abs(out - clean)[fast].mean() < np.abs(noisy - clean)[fast].mean()
    assert best_shift(out[:, None], clean[:, None]) == 0


def test_nan_stays_nan_and_does_not_smear():
    x = np.concatenate([np.zeros(10), np.full(3, np.nan), np.full(10, 50.0)])[:, None]
    out = smooth_array(x, 25.0, 1.0)
    assert np.isnan(out[10:13]).all()
    np.testing.assert_allclose(out[:10], 0.0, atol=1e-9)
    np.testing.assert_allclose(out[13:], 50.0, atol=1e-9)


def test_one_euro_runs_both_ways_restarts_after_gaps_and_keeps_arrays_apart():
    rng = np.random.default_rng(2)
    x = np.cumsum(rng.normal(0.0, 4.0, (40, 6)), axis=0)
    x[:3, 1] = np.nan  # lost at the start
    x[15:18, 2] = x[30:31, 2] = np.nan  # lost twice in the middle
    out = one_euro(x, 25.0, 0.5, scale=50.0)
    assert (np.isnan(out) == np.isnan(x)).all()
    # Forward and backward passes averaged: the same filter on the clip played backwards, exactly.
    np.testing.assert_array_equal(one_euro(x[::-1], 25.0, 0.5, scale=50.0)[::-1], out)
    # A gap restarts the filter both ways: what lies before it never reaches what lies after it.
    moved = x.copy()
    moved[:15, 2] += 40.0
    np.testing.assert_array_equal(one_euro(moved, 25.0, 0.5, scale=50.0)[18:, 2], out[18:, 2])
    # Arrays filtered side by side, each with its own scale, are filtered as if alone.
    y = rng.normal(0.0, 1.0, (40, 2, 2))
    both = one_euro_many([x, y], 25.0, 0.5, [50.0, np.array([1.0, 3.0])])
    np.testing.assert_array_equal(both[0], out)
    np.testing.assert_array_equal(both[1], one_euro(y, 25.0, 0.5, scale=np.array([1.0, 3.0])))


def test_strength_zero_is_identity_and_range_is_checked():
    x = np.random.default_rng(1).normal(size=(20, 4))
    np.testing.assert_array_equal(smooth_array(x, 25.0, 0.0), x)
    assert kernel_radius(0.1, 25.0) < kernel_radius(0.9, 25.0)
    assert kernel_radius(0.5, 50.0) == 2 * kernel_radius(0.5, 25.0)  # the same time span at any frame rate
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(DreamActorError, match="strength"):
            kernel_radius(bad, 25.0)
    with pytest.raises(DreamActorError, match="fps"):
        smooth_array(x, 0.0, 0.5)
    # the face's One Euro filter takes the same strength
    np.testing.assert_array_equal(one_euro(x, 25.0, 0.0), x)
    assert filter_params(0.1)[0] > filter_params(0.9)[0]  # stronger smoothing -> lower minimum cutoff
    with pytest.raises(DreamActorError, match="strength"):
        filter_params(1.5)


def test_turnarounds_keep_their_peaks():
    """A waving forearm turns around twice a wave: where its speed is zero the fit still follows
    the curve (a speed-adaptive low-pass smooths hardest there and cut the peaks by ~1.6 px)."""
    t = np.arange(75) / 25.0
    clean = 60 * np.sin(2 * np.pi * 1.5 * t)  # +-60 px, 1.5 waves a second
    out = smooth_array(clean[:, None], 25.0, 0.5)[:, 0]
    assert np.abs(out - clean)[4:-4].max() < 0.5  # clip ends: a one-sided window, less exact
    noisy = clean + np.random.default_rng(2).normal(0, 1.5, t.shape)
    out = smooth_array(noisy[:, None], 25.0, 0.5)[:, 0]
    assert np.abs(out - clean).mean() < 0.7 * np.abs(noisy - clean).mean()


def test_a_jump_breaks_the_window():
    """MediaPipe swapping a portrait's left and right shoulders moves them ~200 px in one frame:
    each side of the jump is smoothed on its own, nothing of it leaks into the neighbours."""
    rng = np.random.default_rng(3)
    x = np.where(np.arange(30) < 15, 100.0, 300.0) + rng.normal(0, 0.5, 30)
    pts = np.stack([x, np.full(30, 50.0)], -1)[:, None, :]  # one landmark [T, 1, 2]
    seg = landmark_segments(pts, scale=400.0)
    assert list(np.unique(seg)) == [1, 2] and seg[14, 0] == 1 and seg[15, 0] == 2
    out = smooth_array(pts, 25.0, 0.5, seg)[:, 0, 0]
    assert np.abs(out[:15] - 100).max() < 2.0 and np.abs(out[15:] - 300).max() < 2.0
    blind = smooth_array(pts, 25.0, 0.5)[:, 0, 0]  # the same fit without the break smears the step
    assert np.abs(blind[12:15] - 100).max() > 10.0
    # a fast but smooth swing (50 px a frame, steady) is motion, not a jump
    swing = np.stack([np.arange(30) * 50.0, np.zeros(30)], -1)[:, None, :]
    assert (landmark_segments(swing, scale=400.0) == 1).all()


def test_one_stray_frame_is_pulled_back_not_spread():
    """MediaPipe puts an elbow 25 px off on one frame of a steady swing: the plain fit spreads that over
    its neighbours; weighed by the first fit's distances, the second fit leaves them on the track and
    pulls the stray frame back onto it."""
    rng = np.random.default_rng(4)
    t = np.arange(40) / 25.0
    clean = np.stack([200 + 80 * np.sin(2 * np.pi * 0.8 * t), 120 + 10 * t], -1)[:, None, :]
    pts = clean + rng.normal(0, 0.7, clean.shape)
    pts[20, 0, 0] -= 25.0
    seg = landmark_segments(pts, scale=400.0)
    assert (seg == 1).all()  # not a jump: the break rule leaves it to the fit
    plain = smooth_array(pts, 25.0, 0.5, seg)
    trust = outlier_trust(pts, plain)
    assert trust[20, 0] == 0.0 and trust[:15, 0].min() > 0.5
    robust = smooth_array(pts, 25.0, 0.5, seg, trust)
    err = lambda fit: np.linalg.norm(fit - clean, axis=-1)[:, 0]  # noqa: E731
    near = [18, 19, 21, 22]
    assert err(plain)[near].max() > 5.0 and err(plain)[20] > 10.0
    assert err(robust)[near].max() < 0.35 * err(plain)[near].max() and err(robust)[20] < 2.0


def _pck_err_accel(px: np.ndarray, gt: list) -> tuple[float, float, float]:
    """PCK@0.02 of the box diagonal and mean px error on GT-visible COCO joints; acceleration error."""
    uv = np.array([f["coco17"]["uv"] for f in gt])
    vis = np.array([f["coco17"]["vis"] for f in gt]) == 2
    box = np.array([f["person_bbox_xyxy"] for f in gt])
    diag = np.hypot(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    pred = px[:, MP33_TO_COCO17, :2]
    err = np.linalg.norm(pred - uv, axis=2)
    pck = float(np.mean((np.nan_to_num(err / diag[:, None], nan=np.inf) < 0.02)[vis]))
    return pck, float(np.nanmean(err[vis])), accel_error(pred, uv)


@pytest.mark.parametrize("clip", ["pub01_walk_in_place", "pub05_head_turn_nod", "pub06_portrait_head"])
def test_default_smoothing_never_costs_accuracy(synth_dir, clip):
    """The default strength beats raw MediaPipe on accuracy and jitter at once (feet, head turn, portrait)."""
    frames, fps = read_video(synth_dir / f"{clip}.mp4")
    raw = extract_motion(frames, fps, smoothing=0.0, hands=False, face=False)
    gt = json.load(open(synth_dir / f"{clip}.json"))["frames"]
    pck_r, err_r, acc_r = _pck_err_accel(raw.body_px, gt)
    pck_s, err_s, acc_s = _pck_err_accel(smooth_motion(raw, 0.5).body_px, gt)
    print(f"{clip}: PCK@0.02 {pck_r:.3f} -> {pck_s:.3f}, error {err_r:.2f} -> {err_s:.2f} px, "
          f"accel {acc_r:.2f} -> {acc_s:.2f}")
    assert pck_s >= pck_r - 0.005
    assert err_s <= err_r
    assert acc_s < 0.7 * acc_r
