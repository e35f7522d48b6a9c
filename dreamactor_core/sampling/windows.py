"""Long videos as a chain of windows that carry motion context forward.

Window ``k`` covers ``frames`` input frames starting at ``start_k``; every window
after the first begins with the last ``refert`` frames of what was already
generated (given to the model as known frames through the mask of ``y``) and
contributes only the frames after them. Only one window is alive at a time and
finished frames go straight to a ``sink``, so peak memory does not grow with the
video's length.

The last window, ``last="reflect"`` (Wan2.2-Animate's plan): the input is extended by
ping-pong reflection (0, 1, .., N-1, N-2, .., 1, 0, 1, ..) so that every window has the
full length, and the output is cut back to N frames. ``last="shrink"`` (a saving, not
official): the last window shrinks to the smallest ``4n + 1`` length that still covers
the clip and is padded by repeating the final frame. Carried frames are the float decode
(``carry="float"``, official) or its 8-bit values (``"uint8"``, what a saved video holds).

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


LAST_WINDOW = ("reflect", "shrink")
CARRY = ("float", "uint8")
QUANTIZE = ("truncate", "round")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Refuse a setting outside its declared choices."""
    if value not in choices:
        raise DreamActorError(f"{name}: unknown '{value}'; choose one of {', '.join(choices)}")


def _fit(n: int) -> int:
    """Smallest 4k + 1 >= n."""
    return 4 * ((max(n, 1) + 2) // 4) + 1


def padded_length(total: int, frames: int, refert: int) -> int:
    """Length of the reflected input: ``refert + m (frames - refert)`` for the smallest m >= 1 covering ``total``.

    That is ``total`` itself when ``total - refert`` is already a multiple of ``frames - refert``
    (and ``total >= frames``). A video of ``refert`` frames or fewer still gets one window,
    where the official plan would make none.
    """
    step = frames - refert
    return refert + step * max(1, -(-(total - refert) // step))


def reflect_index(i: int, total: int) -> int:
    """Input frame shown at position ``i`` of the ping-pong extension of a ``total``-frame clip."""
    if total == 1:
        return 0
    period = 2 * (total - 1)
    m = i % period
    return m if m < total else period - m


def plan_windows(total: int, frames: int = 77, refert: int = 1, *, last: str = "reflect") -> list[Window]:
    """Windows covering ``total`` frames, each carrying ``refert`` frames from the previous one.

    With ``last="reflect"`` every window has ``frames`` frames and the last one may run past
    ``total`` into the reflected extension; with ``"shrink"`` the last one is cut to the
    smallest ``4n + 1`` covering what is left. Output past ``total`` is dropped.
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
    check_choice("last window", last, LAST_WINDOW)
    if last == "reflect":
        step = frames - refert
        count = (padded_length(total, frames, refert) - refert) // step
        return [Window(k, k * step, frames, refert if k else 0) for k in range(count)]
    out = [Window(0, 0, min(frames, _fit(total)), 0)]
    while out[-1].stop < total:
        start = out[-1].stop - refert
        out.append(Window(len(out), start, min(frames, _fit(total - start)), refert))
    return out


def take(frames, start: int, length: int, pad: str = "reflect"):
    """``frames[start:start+length]`` (numpy or torch, or a lazy sequence sliced once).

    Past the end the clip continues by ping-pong reflection (``pad="reflect"``) or by
    repeating its last frame (``"shrink"``, the last-window mode that pads this way).
    """
    total = len(frames)
    if not 0 <= start < total:
        raise DreamActorError(f"frames: nothing at {start} of {total}")
    if pad == "reflect":
        idx = [reflect_index(i, total) for i in range(start, start + length)]
    else:
        idx = [min(i, total - 1) for i in range(start, start + length)]
    lo, hi = min(idx), max(idx) + 1
    part = frames[lo:hi]
    if idx == list(range(lo, hi)):
        return part
    return part[np.asarray(idx) - lo] if isinstance(part, np.ndarray) else part[torch.tensor(idx) - lo]


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


def to_uint8(frames: torch.Tensor, mode: str = "truncate") -> np.ndarray:
    """float [T,H,W,3] in [-1,1] -> uint8.

    ``"truncate"`` is the official saver's ``uint8((x + 1) / 2 * 255)`` (255 only at exactly 1);
    ``"round"`` rounds to the nearest level (at most one level higher).
    """
    check_choice("8-bit conversion", mode, QUANTIZE)
    x = frames.float().clamp(-1, 1)
    if mode == "round":
        return ((x + 1.0) * 127.5).round().to(torch.uint8).cpu().numpy()
    return ((x + 1.0) / 2.0 * 255.0).to(torch.uint8).cpu().numpy()


def from_uint8(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).float() / 127.5 - 1.0


GenerateFn = Callable[[Window, "torch.Tensor | None"], torch.Tensor]
SinkFn = Callable[[np.ndarray], None]


def run_windows(windows: list[Window], total: int, generate: GenerateFn, sink: SinkFn, *,
                color_match: float = 0.0, cancel: CancelFn = None, carry: str = "float",
                quantize: str = "truncate", float_sink: Callable[[torch.Tensor], None] | None = None) -> int:
    """Generate every window and pass finished uint8 frames [n,H,W,3] to ``sink`` in order.

    ``generate(window, carried)`` returns decoded frames float [length,H,W,3] in
    [-1,1]; ``carried`` is None in the first window, else the last ``carry``
    output frames: the float frames (``carry="float"``) or what was written, back in
    [-1,1] (``"uint8"``). ``quantize`` is the 8-bit conversion (:func:`to_uint8`);
    ``float_sink`` gets the same frames before it. ``generate``
    may return None for the last window when its frames are not wanted (they are counted,
    not written). Returns the number of frames made (``total``).
    """
    check_choice("carried frames", carry, CARRY)
    check_choice("8-bit conversion", quantize, QUANTIZE)
    refert = max((w.carry for w in windows), default=0)
    history = None  # the last `refert` output frames, in [-1, 1]
    written = 0
    for win in windows:
        check_cancel(cancel)
        carried = history[-win.carry:] if win.carry else None
        frames = generate(win, carried)
        keep = min(win.length - win.carry, total - written)
        if frames is None and win is windows[-1]:
            written += keep
            break
        if frames.shape[0] != win.length:
            raise RuntimeError(f"window {win.index}: generated {frames.shape[0]} frames, expected {win.length}")
        if carried is not None and color_match > 0:
            frames = match_color(frames, frames[:win.carry], carried, color_match)
        kept = frames[win.carry:win.carry + keep].float()
        del frames
        if float_sink is not None:
            float_sink(kept)
        out = to_uint8(kept, quantize)
        sink(out)
        written += keep
        if refert:
            recent = kept[-refert:].clone() if carry == "float" else from_uint8(out[-refert:])
            history = recent if history is None else torch.cat([history, recent])[-refert:]
    if written != total:
        raise RuntimeError(f"windows wrote {written} frames for a {total}-frame video")
    return written
