"""Transformer block of the Animate DiT and its output head.

A block is: modulated self-attention with 3D rotary positions over reference and video
tokens together, optional Ref Attn (video tokens -> reference tokens), cross-attention
to text and CLIP image tokens, and a modulated feed-forward layer. The residual stream
stays in float32; each sublayer computes in the compute dtype ``cdt``.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from dreamactor_core.model.attention import AttentionFn
from dreamactor_core.model.config import ModelConfig
from dreamactor_core.model.layers import LayerNorm, Linear, RMSNorm, gelu_tanh, layer_norm
from dreamactor_core.model.rope import rotate


def _heads(t: torch.Tensor, n: int) -> torch.Tensor:
    return t.unflatten(-1, (n, -1))


def _modulate(x: torch.Tensor, eps: float, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return torch.addcmul(shift, layer_norm(x, eps), 1 + scale)  # one pass over the tokens, not two


class SelfAttention(nn.Module):
    """Multi-head self-attention; q/k get an RMS norm over all D channels, then rotary."""

    def __init__(self, dim: int, num_heads: int, eps: float):
        super().__init__()
        self.num_heads = num_heads
        self.q, self.k, self.v, self.o = (Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = RMSNorm(dim, eps), RMSNorm(dim, eps)

    def forward(self, x, rope: torch.Tensor, attn: AttentionFn) -> torch.Tensor:
        """``rope``: the complex rotation table (``rope.rope_table``)."""
        n = self.num_heads
        # norm and rotation both in float32: one cast back to the compute dtype, not two
        q = rotate(_heads(self.norm_q.float_out(self.q(x)), n), rope, dtype=x.dtype)
        k = rotate(_heads(self.norm_k.float_out(self.k(x)), n), rope, dtype=x.dtype)
        return self.o(attn(q, k, _heads(self.v(x), n)).flatten(2))


class CrossAttention(nn.Module):
    """Queries from the video attend to text tokens and (separately) to CLIP image tokens;
    the two results are summed before the output projection."""

    def __init__(self, dim: int, num_heads: int, eps: float, has_clip: bool):
        super().__init__()
        self.num_heads = num_heads
        self.q, self.k, self.v, self.o = (Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = RMSNorm(dim, eps), RMSNorm(dim, eps)
        if has_clip:
            self.k_img, self.v_img = Linear(dim, dim), Linear(dim, dim)
            self.norm_k_img = RMSNorm(dim, eps)

    def kv(self, text: torch.Tensor, img: torch.Tensor | None) -> tuple:
        """Keys and values of the text and CLIP tokens [B, L, heads, d] (the same at every step of a
        window: see :mod:`.context_cache`)."""
        n = self.num_heads
        k, v = _heads(self.norm_k(self.k(text)), n), _heads(self.v(text), n)
        if img is None:
            return k, v, None, None
        return k, v, _heads(self.norm_k_img(self.k_img(img)), n), _heads(self.v_img(img), n)

    def forward(self, x, kv: tuple, attn: AttentionFn) -> torch.Tensor:
        """``kv`` from :meth:`kv`."""
        k, v, k_img, v_img = kv
        q = _heads(self.norm_q(self.q(x)), self.num_heads)
        out = attn(q, k, v)
        if k_img is not None:
            out = out + attn(q, k_img, v_img)
        return self.o(out.flatten(2))


class RefAttention(nn.Module):
    """Ref Attn (DreamActor-M1): video tokens attend to the reference-frame tokens of the same
    residual stream, without positions (reference appearance, not placement)."""

    def __init__(self, dim: int, num_heads: int, eps: float):
        super().__init__()
        self.num_heads, self.eps = num_heads, eps
        self.q, self.k, self.v, self.o = (Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = RMSNorm(dim, eps), RMSNorm(dim, eps)
        # a new layer on a pretrained backbone starts as a no-op (the trainer fine-tunes it)
        nn.init.zeros_(self.o.weight)
        nn.init.zeros_(self.o.bias)

    def forward(self, x_video, x_ref, attn: AttentionFn) -> torch.Tensor:
        n = self.num_heads
        hv, hr = layer_norm(x_video, self.eps), layer_norm(x_ref, self.eps)
        q = _heads(self.norm_q(self.q(hv)), n)
        return self.o(attn(q, _heads(self.norm_k(self.k(hr)), n), _heads(self.v(hr), n)).flatten(2))


class Block(nn.Module):
    """One DiT block; ``modulation`` [1, 6, D] is added to the time projection e0 [B, 6, D]
    to give shift/scale/gate for self-attention (rows 0-2) and the FFN (rows 3-5)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        dim, eps = cfg.dim, cfg.eps
        self.eps = eps
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)
        self.self_attn = SelfAttention(dim, cfg.num_heads, eps)
        self.norm3 = LayerNorm(dim, eps, affine=True)
        self.cross_attn = CrossAttention(dim, cfg.num_heads, eps, cfg.has_clip)
        self.ffn = nn.Sequential(Linear(dim, cfg.ffn_dim), gelu_tanh(), Linear(cfg.ffn_dim, dim))
        self.ref_attn = RefAttention(dim, cfg.num_heads, eps) if cfg.ref_attn else None

    def forward(self, x: torch.Tensor, e0: torch.Tensor, text: torch.Tensor, img: torch.Tensor | None,
                rope, attn: AttentionFn, ref_tokens: int = 0, kv: tuple | None = None) -> torch.Tensor:
        """x [B, L, D] float32 residual stream; e0 [B, 6, D]; text [B, text_len, D];
        img [B, 257, D] or None; ``ref_tokens`` leading tokens are reference frames. ``kv``: this
        block's cross-attention keys/values from a context cache (then text and img are unused)."""
        cdt = text.dtype
        if kv is None:
            kv = self.cross_attn.kv(text, img)
        m = (self.modulation.float() + e0.float()).unsqueeze(2).unbind(1)  # six [B, 1, D]
        y = self.self_attn(_modulate(x, self.eps, m[0], m[1]).to(cdt), rope, attn)
        x = torch.addcmul(x, y.float(), m[2])
        if self.ref_attn is not None and 0 < ref_tokens < x.shape[1]:
            ref, vid = x[:, :ref_tokens], x[:, ref_tokens:]
            vid = vid + self.ref_attn(vid.to(cdt), ref.to(cdt), attn).float()
            x = torch.cat([ref, vid], dim=1)
        x = x + self.cross_attn(self.norm3(x).to(cdt), kv, attn).float()
        y = self.ffn(_modulate(x, self.eps, m[3], m[4]).to(cdt))
        return torch.addcmul(x, y.float(), m[5])


class Head(nn.Module):
    """Output head: modulated LayerNorm (shift, scale from ``modulation`` [1, 2, D] + e), linear."""

    def __init__(self, dim: int, out_features: int, eps: float):
        super().__init__()
        self.eps = eps
        self.modulation = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)
        self.head = Linear(dim, out_features)

    def forward(self, x: torch.Tensor, e: torch.Tensor, cdt: torch.dtype) -> torch.Tensor:
        shift, scale = (self.modulation.float() + e.float().unsqueeze(1)).unsqueeze(2).unbind(1)
        return self.head(_modulate(x, self.eps, shift, scale).to(cdt))
