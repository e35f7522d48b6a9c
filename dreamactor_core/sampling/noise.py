"""Initial noise of each window, drawn on the CPU so a seed gives the same video on any device.

Two ways to seed, both deterministic:

* ``"video"`` (Wan2.2-Animate's way): one generator per video, seeded once; window k's noise
  is the k-th draw, so it depends on the seed and on every earlier window's shape. Seeds give
  unrelated videos.
* ``"window"``: window k gets its own generator seeded with ``seed + k``. Any window's noise can
  be made alone, without replaying earlier windows, but neighbouring seeds share noise: seed s,
  window 1 starts from the same noise as seed s + 1, window 0.
"""
from __future__ import annotations

import torch

from ..utils import DreamActorError

NOISE_MODES = ("video", "window")


class WindowNoise:
    """``draw(index, shape)`` gives window ``index``'s float32 CPU noise; windows are drawn in order."""

    def __init__(self, seed: int, mode: str = "video"):
        if mode not in NOISE_MODES:
            raise DreamActorError(f"noise: unknown '{mode}'; choose one of {', '.join(NOISE_MODES)}")
        self.seed, self.mode = int(seed), mode
        self._stream = torch.Generator(device="cpu").manual_seed(self.seed)
        self._next = 0

    def draw(self, index: int, shape) -> torch.Tensor:
        """Noise of window ``index`` (the video stream refuses to skip or repeat a window)."""
        if self.mode == "window":
            gen = torch.Generator(device="cpu").manual_seed(self.seed + int(index))
            return torch.randn(tuple(shape), generator=gen, dtype=torch.float32)
        if index != self._next:
            raise RuntimeError(f"noise: window {index} drawn out of order (expected window {self._next})")
        self._next += 1
        return torch.randn(tuple(shape), generator=self._stream, dtype=torch.float32)
