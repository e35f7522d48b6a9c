"""Undoing MediaPipe's left/right swaps: a body read from behind for a few frames is mirrored back."""
from __future__ import annotations

import numpy as np

from dreamactor_core.signals.motion import Motion
from dreamactor_core.signals.side_swaps import LEFT, RIGHT, switch_frames, undo_side_swaps
from dreamactor_core.signals.smoothing import smooth_motion

T, SCALE = 30, 400.0


def _frontal(num_frames: int = T) -> Motion:
    """A still body facing the camera, MediaPipe-style: the subject's left on the image's right,
    the nose nearer than the shoulders, a face found on every frame."""
    m = Motion.empty(num_frames, 25.0, 400, 400)
    rng = np.random.default_rng(0)
    x = np.full(33, 200.0)
    x[list(LEFT)] += 60 + np.arange(len(LEFT))
    x[list(RIGHT)] -= 60 + np.arange(len(RIGHT))
    y = np.linspace(60, 380, 33)
    z = np.zeros(33)
    z[0] = -0.2
    m.body_px = np.stack([np.tile(x, (num_frames, 1)), np.tile(y, (num_frames, 1)),
                          np.tile(z * 400, (num_frames, 1))], -1) + rng.normal(0, 0.3, (num_frames, 33, 3))
    m.body_world = np.stack([np.tile((x - 200) / 400, (num_frames, 1)), np.tile((y - 220) / 400, (num_frames, 1)),
                             np.tile(z, (num_frames, 1))], -1)
    m.body_conf = np.tile(np.linspace(0.5, 1.0, 33), (num_frames, 1))
    m.hands_px = np.zeros((num_frames, 2, 21, 3))
    m.hands_px[:, 1] = 1.0  # the right hand told apart from the left
    m.hands_conf = np.tile([0.9, 0.8], (num_frames, 1))
    m.face_px = np.full((num_frames, 478, 3), 100.0)
    m.person_box = np.tile([100.0, 40.0, 300.0, 400.0], (num_frames, 1))
    return m


def _read_from_behind(m: Motion, frames) -> Motion:
    """What MediaPipe does when a turned head fools it: labels traded, depth mirrored."""
    out = m.copy()
    f = np.asarray(frames)
    for name in ("body_px", "body_world", "body_conf"):
        arr = getattr(out, name)
        arr[np.ix_(f, list(LEFT) + list(RIGHT))] = arr[np.ix_(f, list(RIGHT) + list(LEFT))]
    out.body_px[f, :, 2] *= -1
    out.body_world[f, :, 2] *= -1
    out.hands_px[f] = out.hands_px[f][:, ::-1]
    out.hands_conf[f] = out.hands_conf[f][:, ::-1]
    return out


def _same(a: Motion, b: Motion) -> None:
    for name in ("body_px", "body_world", "body_conf", "hands_px", "hands_conf"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), err_msg=name)


def test_a_run_read_from_behind_is_mirrored_back():
    truth = _frontal()
    fooled = _read_from_behind(truth, range(10, 20))
    assert list(switch_frames(fooled.body_px, SCALE)) == [10, 20]
    fixed, mirrored = undo_side_swaps(fooled, SCALE)
    assert mirrored == list(range(10, 20))
    _same(fixed, truth)
    _same(fooled, _read_from_behind(truth, range(10, 20)))  # the input is left as it was


def test_the_face_says_which_reading_is_right():
    """A clip fooled on its first 20 frames of 30: that longer run is the one mirrored, since a face
    is seen while MediaPipe puts the nose behind the shoulders. Without any face to tell, nothing
    is mirrored: which reading covers more frames says nothing of which is right (a portrait
    can hold the turned pose longer than the frontal one), and a wrong guess doubles the error."""
    truth = _frontal()
    fooled = _read_from_behind(truth, range(0, 20))
    fixed, mirrored = undo_side_swaps(fooled, SCALE)
    assert mirrored == list(range(0, 20))
    _same(fixed, truth)
    fooled.face_px[:] = np.nan
    assert undo_side_swaps(fooled, SCALE)[1] == []


def test_a_turn_is_not_a_swap():
    """Shoulders that pass each other through a profile, even fast, are a turn: nothing changes."""
    m = _frontal()
    angle = np.clip((np.arange(T) - 10) / 5, 0, 1) * np.pi  # half a turn in 0.2 s
    for side, sign in ((LEFT, 1), (RIGHT, -1)):
        m.body_px[:, list(side), 0] = 200 + sign * 60 * np.cos(angle)[:, None]
    assert len(switch_frames(m.body_px, SCALE)) == 0
    fixed, mirrored = undo_side_swaps(m, SCALE)
    assert mirrored == []
    _same(fixed, m)


def test_smoothing_mirrors_first_and_says_so():
    truth = _frontal()
    fooled = _read_from_behind(truth, range(12, 21))
    out = smooth_motion(fooled, 0.5)
    assert out.meta["smoothing"]["mirrored_frames"] == 9
    assert np.abs(out.body_px - smooth_motion(truth, 0.5).body_px).max() < 1e-6
    np.testing.assert_array_equal(smooth_motion(fooled, 0.0).body_px, fooled.body_px)  # 0 = MediaPipe as it is


def test_a_switch_the_shoulders_miss_is_found_by_the_face():
    """MediaPipe switches back through a frame where the shoulders stand crossed (no clean trade
    of places): the nose's depth turning tells the run's end, so the frontal frames after it are
    kept, and the crossed frame, which mirroring would not mend, is left as read."""
    truth = _frontal()
    fooled = _read_from_behind(truth, range(8, 17))
    mid = fooled.body_px[16, [11, 12], 0].mean()
    fooled.body_px[16, [11, 12], 0] = mid + np.array([10.0, -10.0])  # partly crossed, nose still behind
    assert list(switch_frames(fooled.body_px, SCALE)) == [8]
    fixed, mirrored = undo_side_swaps(fooled, SCALE)
    assert mirrored == list(range(8, 16))
    _same(fixed.slice(0, 16), truth.slice(0, 16))
    _same(fixed.slice(17, T), truth.slice(17, T))


def test_votes_that_disagree_leave_the_run_as_read():
    """A run whose face votes are split (nose ahead on half of it) is not settled: kept as read."""
    truth = _frontal()
    fooled = _read_from_behind(truth, range(10, 20))
    fooled.body_world[10:15, 0, 2] = -0.5  # nose ahead on half the run
    assert undo_side_swaps(fooled, SCALE)[1] == []
