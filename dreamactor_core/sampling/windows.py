"""Long videos as a chain of windows that carry motion context forward.

Window ``k`` covers ``frames`` input frames starting at ``start_k``; every window
after the first begins with the last ``refert`` frames of what was already
generated (given to the model as known frames through the mask of ``y``) and
contributes only the frames after them. The last window shrinks to the
smallest ``4n + 1`` length that still covers the clip, so no compute is spent
on padding. Only one window is alive at a time and finished frames go straight
to a ``sink``, so peak memory does not grow with the video's length.

Optional colour matching removes the slow drift of brightness/colour between
windows: the new window's per-channel mean and standard deviation over the
overlapping frames are matched to the previous window's frames there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..utils import CancelFn, DreamActorError, check_cancel


@dataclass(frozen=True)
class Window:
    """One window: input frames ``start .. start + length``; output starts after ``carry`` frames."""

    index: int
    start: int
    length: int
    carry: int

    @property
    def stop(self) -> int:
        return self.start + self.length


def _fit(n: int) -> int:
    """Smallest 4k + 1 >= n."""
    return 4 * ((max(n, 1) + 2) // 4) + 1


def plan_windows(total: int, frames: int = 77, refert: int = 5, *, shrink_last: bool = True) -> list[Window]:
    """Windows covering ``total`` frames, each carrying ``refert`` frames from the previous one.

    The last window may run past ``total``: its guidance is padded by repeating
    the final frame and the extra output is dropped.
    """
    if total < 1:
        raise DreamActorError("driving video: it has zero frames; give at least one frame")
    if frames < 5 or (frames - 1) % 4:
        raise DreamActorError(f"window frames: {frames} must be 4n+1 and at least 5 (e.g. 77, the default)")
    if not 0 <= refert < frames - 3:
        raise DreamActorError(f"refert frames: {refert} must be >= 0 and leave new frames in a "
                              f"{frames}-frame window (1 or 5 are usual)")
    if refert == 0 and total > frames:
        raise DreamActorError("refert frames: 0 would make windows independent; use 1 or 5 to keep motion smooth")
    out = [Window(0, 0, min(frames, _fit(total)) if shrink_last else frames, 0)]
    while out[-1].stop < total:
        start = out[-1].stop - refert
        need = total - start
        length = min(frames, _fit(need)) if shrink_last else frames
        out.append(Window(len(out), start, length, refert))
    return out


def take(frames, start: int, length: int):
    """``frames[start:start+length]`` padded by repeating the last frame (numpy or torch)."""
    part = frames[start:start + length]
    if len(part) == 0:
        raise DreamActorError(f"frames: nothing at {start} of {len(frames)}")
    pad = length - len(part)
    if pad:
        last = part[-1:]
        if isinstance(part, np.ndarray):
            part = np.concatenate([part] + [last] * pad)
        else:
            part = torch.cat([part] + [last] * pad)
    return part


def take_latents(t: torch.Tensor, win: Window, dim: int) -> torch.Tensor:
    """The latent frames of ``t`` (time on ``dim``) under window ``win``, padded with the last frame.

    A window starting at pixel frame 4k begins at latent frame k (latent j >= 1 covers
    pixel frames 4j-3 .. 4j). Its first latent is then the causal summary of frames
    4k-3 .. 4k where a clip encoded on its own would see frame 4k alone: a close match,
    and exact for the first window.
    """
    if win.start % 4:
        raise DreamActorError(f"motion frames: with precomputed pose latents or face tokens every window must start "
                              f"on a latent boundary (window start {win.start} is not a multiple of 4); use "
                              f"window frames and motion frames of the form 4n+1 (e.g. 77 and 5)")
    first, count = win.start // 4, (win.length - 1) // 4 + 1
    part = t.narrow(dim, first, min(count, t.shape[dim] - first))
    if part.shape[dim] < count:
        last = part.narrow(dim, part.shape[dim] - 1, 1)
        part = torch.cat([part] + [last] * (count - part.shape[dim]), dim=dim)
    return part


def match_color(frames: torch.Tensor, new_overlap: torch.Tensor, old_overlap: torch.Tensor,
                strength: float = 1.0) -> torch.Tensor:
    """Shift/scale each RGB channel of ``frames`` [T,H,W,3] so ``new_overlap`` matches ``old_overlap``.

    ``strength`` 1 matches fully, 0 leaves the frames unchanged.
    """
    dims = (0, 1, 2)
    m_new, s_new = new_overlap.mean(dims), new_overlap.std(dims).clamp_min(1e-3)
    m_old, s_old = old_overlap.mean(dims), old_overlap.std(dims).clamp_min(1e-3)
    matched = (frames - m_new) * (s_old / s_new) + m_old
    return (frames + strength * (matched - frames)).clamp(-1.0, 1.0)


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """float [T,H,W,3] in [-1,1] -> uint8."""
    return ((frames.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).cpu().numpy()


def from_uint8(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).float() / 127.5 - 1.0


GenerateFn = Callable[[Window, "torch.Tensor | None"], torch.Tensor]
SinkFn = Callable[[np.ndarray], None]


def run_windows(windows: list[Window], total: int, generate: GenerateFn, sink: SinkFn, *,
                color_match: float = 0.0, cancel: CancelFn = None) -> int:
    """Generate every window and pass finished uint8 frames [n,H,W,3] to ``sink`` in order.

    ``generate(window, carried)`` returns decoded frames float [length,H,W,3] in
    [-1,1]; ``carried`` is None in the first window, else the last ``carry``
    output frames (exactly what was written, back in [-1,1]). Returns the
    number of frames written (``total``).
    """
    refert = max((w.carry for w in windows), default=0)
    history = None  # the last `refert` written frames, in [-1, 1]
    written = 0
    for win in windows:
        check_cancel(cancel)
        carried = history[-win.carry:] if win.carry else None
        frames = generate(win, carried)
        if frames.shape[0] != win.length:
            raise RuntimeError(f"window {win.index}: generated {frames.shape[0]} frames, expected {win.length}")
        if carried is not None and color_match > 0:
            frames = match_color(frames, frames[:win.carry], carried, color_match)
        keep = min(win.length - win.carry, total - written)
        out = to_uint8(frames[win.carry:win.carry + keep])
        del frames
        sink(out)
        written += keep
        if refert:
            recent = from_uint8(out[-refert:])
            history = recent if history is None else torch.cat([history, recent])[-refert:]
    if written != total:
        raise RuntimeError(f"windows wrote {written} frames for a {total}-frame video")
    return written
