"""Face path of the DiT: motion vectors -> face tokens (causal conv encoder), and Face Attn.

FaceEncoder: a causal temporal conv stack turns the per-frame motion sequence [B, F, 512]
(F = 4n + 1 video frames) into ``lat_t = n + 1`` steps of ``groups`` tokens plus a learned
padding token, i.e. [B, lat_t, groups + 1, D]. Step j sees face frames up to 4j only.

FaceAdapter (Face Attn): each video latent frame's tokens attend only to the face tokens
of the same time step; reference slots carry all-zero face tokens.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from dreamactor_core.model.attention import AttentionFn
from dreamactor_core.model.config import ModelConfig
from dreamactor_core.model.layers import Conv1d, Linear, RMSNorm, cast, layer_norm


class CausalConv1d(nn.Module):
    """1D conv whose left padding repeats the first element (kernel - 1) times: no future frames."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1):
        super().__init__()
        self.pad = kernel - 1
        self.conv = Conv1d(cin, cout, kernel, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, T]
        return self.conv(F.pad(x, (self.pad, 0), mode="replicate"))


class FaceEncoder(nn.Module):
    """Motion vectors [B, F, motion_dim] -> face tokens [B, lat_t, groups + 1, D]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        h, self.groups, self.eps = cfg.face_hidden, cfg.face_groups, cfg.eps
        self.conv1_local = CausalConv1d(cfg.motion_dim, h * self.groups, 3, stride=1)
        self.conv2 = CausalConv1d(h, h, 3, stride=2)
        self.conv3 = CausalConv1d(h, h, 3, stride=2)
        self.out_proj = Linear(h, cfg.dim)
        self.padding_tokens = nn.Parameter(torch.zeros(1, 1, 1, cfg.dim))

    def _norm_act(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, T], LN over C
        return F.silu(layer_norm(x.transpose(1, 2), self.eps)).transpose(1, 2)

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        b = motion.shape[0]
        x = self.conv1_local(motion.transpose(1, 2))  # [B, groups * h, F]
        x = x.unflatten(1, (self.groups, -1)).flatten(0, 1)  # group g = channels g*h .. g*h+h-1
        x = self.conv2(self._norm_act(x))
        x = self.conv3(self._norm_act(x))
        x = self.out_proj(self._norm_act(x).transpose(1, 2))  # [B * groups, lat_t, D]
        x = x.unflatten(0, (b, self.groups)).transpose(1, 2)  # [B, lat_t, groups, D]
        pad = cast(self.padding_tokens, x).expand(b, x.shape[1], 1, -1)
        return torch.cat([x, pad], dim=2)


class FaceBlock(nn.Module):
    """One Face Attn layer: q from LN(x), k/v from LN(face tokens); per-head RMS norm on q, k."""

    def __init__(self, dim: int, num_heads: int, eps: float):
        super().__init__()
        self.num_heads, self.eps = num_heads, eps
        self.linear1_kv = Linear(dim, 2 * dim)
        self.linear1_q = Linear(dim, dim)
        self.linear2 = Linear(dim, dim)
        self.q_norm = RMSNorm(dim // num_heads, eps)
        self.k_norm = RMSNorm(dim // num_heads, eps)

    def forward(self, x: torch.Tensor, face: torch.Tensor, attn: AttentionFn) -> torch.Tensor:
        """x [B, T*S, D] tokens of T latent frames; face [B, T, K, D]. Returns the update."""
        b, l, _ = x.shape
        t, n = face.shape[1], self.num_heads
        k, v = self.linear1_kv(layer_norm(face, self.eps)).unflatten(-1, (2, n, -1)).unbind(-3)
        q = self.linear1_q(layer_norm(x, self.eps)).unflatten(-1, (n, -1))
        q = self.q_norm(q).reshape(b * t, l // t, n, -1)  # tokens grouped by latent frame
        k = self.k_norm(k).flatten(0, 1)
        out = attn(q, k, v.flatten(0, 1)).reshape(b, l, -1)
        return self.linear2(out)


class FaceAdapter(nn.Module):
    """The Face Attn layers, one after every ``face_every``-th block."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fuser_blocks = nn.ModuleList(
            FaceBlock(cfg.dim, cfg.num_heads, cfg.eps) for _ in range(cfg.num_face_blocks))
