"""Input embeddings of the DiT: latent patches, timestep, text and CLIP image tokens."""
from __future__ import annotations

import warnings

import torch
import torch.nn as nn

from dreamactor_core.model.layers import Conv3d, LayerNorm, Linear, gelu_tanh


def patch_embedding(in_dim: int, dim: int, patch: tuple[int, int, int]) -> Conv3d:
    """Non-overlapping 3D patches -> tokens (kernel = stride = patch)."""
    return Conv3d(in_dim, dim, kernel_size=patch, stride=patch)


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[cos(t * 10000^(-k/half)), sin(...)] for k < half = dim/2, computed in float64.

    Returns float32 [B, dim]; float64 keeps the phase of large timesteps (~1000) exact.
    """
    half = dim // 2
    freqs = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64, device=t.device) / half)
    angles = t.to(torch.float64)[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1).float()


def time_embedding(freq_dim: int, dim: int) -> nn.Sequential:
    """Sinusoid (freq_dim) -> e [B, D]: linear, SiLU, linear."""
    return nn.Sequential(Linear(freq_dim, dim), nn.SiLU(), Linear(dim, dim))


def time_projection(dim: int, rows: int = 6) -> nn.Sequential:
    """e [B, D] -> the block modulation rows [B, rows * D]: SiLU, linear."""
    return nn.Sequential(nn.SiLU(), Linear(dim, rows * dim))


def text_embedding(text_dim: int, dim: int) -> nn.Sequential:
    """umT5 tokens -> model width: linear, GELU (tanh form), linear."""
    return nn.Sequential(Linear(text_dim, dim), gelu_tanh(), Linear(dim, dim))


def pad_text(context: torch.Tensor | list[torch.Tensor], text_len: int) -> torch.Tensor:
    """Zero-pad text tokens to ``text_len`` rows (no attention mask is used: padded rows are
    attended like real tokens, as the official model does). Longer inputs are truncated.

    ``context`` is [B, L, C] or a list of [L_i, C] tensors.
    """
    rows = list(context) if isinstance(context, (list, tuple)) else list(context.unbind(0))
    if any(r.shape[0] > text_len for r in rows):
        warnings.warn(f"text context longer than text_len {text_len}; extra tokens are dropped")
    out = rows[0].new_zeros(len(rows), text_len, rows[0].shape[-1])
    for i, r in enumerate(rows):
        n = min(r.shape[0], text_len)
        out[i, :n] = r[:n]
    return out


class ClipProjection(nn.Module):
    """CLIP vision tokens [B, 257, 1280] -> [B, 257, D].

    LayerNorm(eps 1e-5), linear, exact-erf GELU, linear, LayerNorm(eps 1e-5); note the
    different GELU form and eps than the rest of the model.
    """

    def __init__(self, clip_dim: int, dim: int):
        super().__init__()
        self.proj = nn.Sequential(
            LayerNorm(clip_dim, eps=1e-5, affine=True), Linear(clip_dim, clip_dim), nn.GELU(),
            Linear(clip_dim, dim), LayerNorm(dim, eps=1e-5, affine=True))

    def forward(self, clip_fea: torch.Tensor) -> torch.Tensor:
        return self.proj(clip_fea)
