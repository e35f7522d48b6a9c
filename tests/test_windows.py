"""Window planning, carried frames at boundaries, colour matching."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamactor_core.sampling.windows import match_color, plan_windows, run_windows, take
from dreamactor_core.utils import Cancelled, DreamActorError


@pytest.mark.parametrize("total", [1, 5, 9, 10, 77, 78, 150, 301])
def test_plan_covers_every_frame_once(total):
    wins = plan_windows(total, 77, 5)
    covered = []
    for w in wins:
        assert (w.length - 1) % 4 == 0 and w.length <= 77
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


def test_take_pads_with_last_frame():
    frames = np.arange(6)[:, None, None, None].repeat(2, 1).astype(np.uint8)
    part = take(frames, 4, 5)
    assert part[:, 0, 0, 0].tolist() == [4, 5, 5, 5, 5]


def test_carried_frames_match_at_boundaries():
    """Each window receives exactly the last written frames, and output is seamless and complete."""
    total, carry = 30, 3
    wins = plan_windows(total, 13, carry)
    written = []
    received = {}
    rng = torch.Generator().manual_seed(0)

    def generate(win, carried):
        received[win.index] = None if carried is None else carried.clone()
        out = torch.rand(win.length, 4, 4, 3, generator=rng) * 2 - 1
        if carried is not None:
            out[:win.carry] = carried  # a model that reproduces its known frames
        return out

    n = run_windows(wins, total, generate, written.append)
    video = np.concatenate(written)
    assert n == total and video.shape == (total, 4, 4, 3)
    for w in wins[1:]:
        expected = torch.from_numpy(video[w.start:w.start + carry]).float() / 127.5 - 1
        assert torch.equal(received[w.index], expected)


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
