"""A window's text and CLIP context, embedded once, with every block's cross-attention K/V.

Within one sampling window the text embedding (umT5 tokens -> model width), the CLIP image
embedding and the keys/values each block's cross-attention makes from them do not change
between steps; only the video tokens do. :meth:`AnimateDiT.prepare_context` computes them once
and the sampler passes the cache to every call of that window's branch (one cache per CFG
branch). The forward then does exactly the work it would have done, minus these parts, so the
result is bit for bit the one without the cache.

Memory: per block 2 x (text_len + 257) x dim values in the compute dtype (~16 MB per block for a
14B model in bf16, ~630 MB for its 40 blocks), per branch.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from dreamactor_core.utils import DreamActorError


@dataclass(frozen=True)
class ContextCache:
    """``text`` [B, text_len, D] and ``img`` [B, 257, D] (or None) embedded tokens; ``kv`` per block
    the cross-attention (k_text, v_text, k_img, v_img) split into heads [B, L, heads, d]."""

    text: torch.Tensor
    img: torch.Tensor | None
    kv: tuple[tuple, ...]

    def check(self, batch: int, blocks: int, device) -> None:
        """A cache made for another batch size, model or device is a caller's mistake: say so."""
        if self.text.shape[0] != batch or len(self.kv) != blocks or self.text.device != torch.device(device):
            raise DreamActorError(
                f"context_cache was prepared for batch {self.text.shape[0]}, {len(self.kv)} blocks on "
                f"{self.text.device}, but this call has batch {batch}, {blocks} blocks on {device}; prepare it "
                "with this model's prepare_context for this window's context")
