"""Window planning, carried frames at boundaries, colour matching."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamactor_core.sampling.windows import match_color, plan_windows, run_windows, take, to_uint8
from dreamactor_core.utils import Cancelled, DreamActorError


@pytest.mark.parametrize("last", ["reflect", "shrink"])
@pytest.mark.parametrize("total", [1, 5, 9, 10, 77, 78, 150, 301])
def test_plan_covers_every_frame_once(total, last):
    wins = plan_windows(total, 77, 5, last=last)
    covered = []
    for w in wins:
        assert (w.length - 1) % 4 == 0 and w.length <= 77
        assert w.length == 77 or last == "shrink"
        assert w.carry == (0 if w.index == 0 else 5)
        covered += list(range(w.start + w.carry, min(w.stop, total)))
    assert covered == list(range(total))
    for a, b in zip(wins, wins[1:]):
        assert b.start == a.stop - 5  # carried frames are the last 5 of the previous window


def test_plan_errors():
    with pytest.raises(DreamActorError, match="zero frames"):
        plan_windows(0)
    with pytest.raises(DreamActorError, match="4n\\+1"):
        plan_windows(100, 76)
    with pytest.raises(DreamActorError, match="refert"):
        plan_windows(100, 9, 9)
    with pytest.raises(DreamActorError, match="last window"):
        plan_windows(100, 9, 1, last="repeat")


def _readme_plan(n: int, clip: int, refert: int) -> list[list[int]]:
    """The conformance README's window plan (section 4.1), written out step by step: input frame indices per window."""
    target = n
    while (target - refert) % (clip - refert):
        target += 1
    ping_pong = list(range(n)) + list(range(n - 2, 0, -1))
    indices = [ping_pong[i % len(ping_pong)] if n > 1 else 0 for i in range(target + clip)]
    plan, start = [], 0
    while start + refert < target:
        plan.append(indices[start:start + clip])
        start += clip - refert
    return plan


def _planned(n: int, clip: int, refert: int) -> list[list[int]]:
    frames = np.arange(n).astype(np.int64)
    return [take(frames, w.start, w.length).tolist() for w in plan_windows(n, clip, refert)]


@pytest.mark.parametrize("n,clip,refert", [(13, 9, 1), (17, 9, 1), (25, 9, 1), (30, 13, 3), (100, 77, 5), (90, 77, 1)])
def test_last_window_shorter_than_the_clip_is_reflected_full_length(n, clip, refert):
    assert _planned(n, clip, refert) == _readme_plan(n, clip, refert)
    if n == 13:  # the README's own example
        assert _planned(13, 9, 1) == [list(range(9)), [8, 9, 10, 11, 12, 11, 10, 9, 8]]


@pytest.mark.parametrize("n,clip,refert", [(5, 9, 1), (2, 9, 1), (8, 9, 1), (40, 77, 5), (3, 77, 1)])
def test_video_shorter_than_one_window_gets_one_full_reflected_window(n, clip, refert):
    plan = _planned(n, clip, refert)
    assert plan == _readme_plan(n, clip, refert) and len(plan) == 1 and len(plan[0]) == clip
    if n == 5:
        assert plan[0] == [0, 1, 2, 3, 4, 3, 2, 1, 0]


def test_a_video_of_refert_frames_or_fewer_still_gets_one_window():
    # the README's loop makes no window here; the pack makes one rather than return nothing
    assert _readme_plan(1, 9, 1) == []
    assert _planned(1, 9, 1) == [[0] * 9]


def test_take_pads_by_reflection_or_with_last_frame():
    frames = np.arange(6)[:, None, None, None].repeat(2, 1).astype(np.uint8)
    assert take(frames, 4, 5)[:, 0, 0, 0].tolist() == [4, 5, 4, 3, 2]
    assert take(frames, 4, 5, "shrink")[:, 0, 0, 0].tolist() == [4, 5, 5, 5, 5]
    assert take(torch.from_numpy(frames), 4, 5)[:, 0, 0, 0].tolist() == [4, 5, 4, 3, 2]
    assert take(frames, 1, 3)[:, 0, 0, 0].tolist() == [1, 2, 3]


@pytest.mark.parametrize("carry_mode", ["float", "uint8"])
def test_carried_frames_match_at_boundaries(carry_mode):
    """Each window receives exactly the last output frames (float, or as written), and output is complete."""
    total, carry = 30, 3
    wins = plan_windows(total, 13, carry)
    written, floats = [], []
    received = {}
    rng = torch.Generator().manual_seed(0)

    def generate(win, carried):
        received[win.index] = None if carried is None else carried.clone()
        out = torch.rand(win.length, 4, 4, 3, generator=rng) * 2 - 1
        if carried is not None:
            out[:win.carry] = carried  # a model that reproduces its known frames
        return out

    n = run_windows(wins, total, generate, written.append, carry=carry_mode, float_sink=floats.append)
    video, video_f = np.concatenate(written), torch.cat(floats)
    assert n == total and video.shape == (total, 4, 4, 3) and video_f.shape == (total, 4, 4, 3)
    assert np.array_equal(video, to_uint8(video_f))
    for w in wins[1:]:
        expected = video_f[w.start:w.start + carry]
        if carry_mode == "uint8":
            expected = torch.from_numpy(video[w.start:w.start + carry]).float() / 127.5 - 1
        assert torch.equal(received[w.index], expected)


def test_to_uint8_truncates_like_the_official_saver_or_rounds():
    x = torch.tensor([-1.0, -0.999, 0.0, 0.5, 0.999, 1.0, 1.5])
    assert to_uint8(x).tolist() == [0, 0, 127, 191, 254, 255, 255]
    assert to_uint8(x, "round").tolist() == [0, 0, 128, 191, 255, 255, 255]
    with pytest.raises(DreamActorError, match="8-bit"):
        to_uint8(x, "floor")


def test_color_match_removes_window_drift():
    total, carry = 17, 5
    wins = plan_windows(total, 9, carry)
    base = torch.linspace(-0.5, 0.5, 64).view(1, 4, 16, 1).expand(total + 4, 4, 16, 3).contiguous()
    drift = torch.tensor([0.2, -0.1, 0.15])

    def generate(win, carried):
        out = base[win.start:win.stop].clone()
        return (out * 1.2 + drift * win.index).clamp(-1, 1)  # every window shifted a bit more

    def run(strength):
        parts = []
        run_windows(wins, total, generate, parts.append, color_match=strength)
        return np.concatenate(parts).astype(np.float32)

    raw, fixed = run(0.0), run(1.0)
    b = wins[1].start + carry  # first new frame of window 1
    jump_raw = np.abs(raw[b].mean((0, 1)) - raw[b - 1].mean((0, 1))).max()
    jump_fixed = np.abs(fixed[b].mean((0, 1)) - fixed[b - 1].mean((0, 1))).max()
    assert jump_raw > 10 and jump_fixed < 2


def test_match_color_identity_and_strength():
    x = torch.rand(3, 4, 4, 3) * 2 - 1
    assert torch.allclose(match_color(x, x, x), x, atol=1e-6)
    y = (x * 0.5 + 0.2).clamp(-1, 1)
    assert torch.allclose(match_color(x, x, y, 0.0), x)


def test_cancel_between_windows():
    wins = plan_windows(30, 9, 1)
    calls = []

    def generate(win, carried):
        calls.append(win.index)
        return torch.zeros(win.length, 2, 2, 3)

    with pytest.raises(Cancelled):
        run_windows(wins, 30, generate, lambda f: None, cancel=lambda: len(calls) >= 2)
    assert calls == [0, 1]
