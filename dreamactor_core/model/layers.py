"""Layers whose stored weight dtype may differ from the compute dtype.

Weights can live in fp8 / bf16 (to fit a 14B model in memory) while activations run in
the compute dtype; each layer casts its weight to the activation dtype at the moment
it runs. fp8 "scaled" checkpoints attach a scalar ``scale_weight`` to a linear layer,
multiplied into the upcast weight.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def cast(t: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    """``t`` on ``like``'s device and dtype (a no-op when they already match)."""
    if t is None or (t.dtype == like.dtype and t.device == like.device):
        return t
    return t.to(device=like.device, dtype=like.dtype)


class Linear(nn.Linear):
    """nn.Linear that upcasts its (possibly fp8 / scaled) weight to the input dtype."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer("scale_weight", None)  # set by fp8 "scaled" checkpoints

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = cast(self.weight, x)
        if self.scale_weight is not None:
            w = w * cast(self.scale_weight, x)
        return F.linear(x, w, cast(self.bias, x))


class Conv3d(nn.Conv3d):
    """nn.Conv3d that upcasts its weight; a patchify conv (kernel = stride) in half precision runs as
    one matmul over the patches, which CPUs do in bf16 several times faster than a bf16 conv."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = cast(self.weight, x), cast(self.bias, x)
        k = self.kernel_size
        if (x.dtype in (torch.float16, torch.bfloat16) and tuple(self.stride) == k and self.padding == (0, 0, 0)
                and self.dilation == (1, 1, 1) and self.groups == 1 and all(n % p == 0 for n, p in zip(x.shape[2:], k))):
            return _patchify_linear(x, w, b, k)
        return self._conv_forward(x, w, b)


def _patchify_linear(x: torch.Tensor, w: torch.Tensor, b, k: tuple[int, int, int]) -> torch.Tensor:
    """Non-overlapping patches [B, C, T, H, W] -> [B, out, T/kt, H/kh, W/kw], as the conv would give."""
    bsz, c, t, h, wd = x.shape
    kt, kh, kw = k
    p = x.reshape(bsz, c, t // kt, kt, h // kh, kh, wd // kw, kw).permute(0, 2, 4, 6, 1, 3, 5, 7)
    out = F.linear(p.reshape(bsz, t // kt, h // kh, wd // kw, c * kt * kh * kw), w.flatten(1), b)
    return out.permute(0, 4, 1, 2, 3)


class Conv1d(nn.Conv1d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, cast(self.weight, x), cast(self.bias, x))


def layer_norm(x: torch.Tensor, eps: float, weight=None, bias=None) -> torch.Tensor:
    """LayerNorm over the last axis, computed in at least float32."""
    xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    out = F.layer_norm(xf, xf.shape[-1:], cast(weight, xf), cast(bias, xf), eps)
    return out.to(x.dtype)


class LayerNorm(nn.Module):
    """LayerNorm with optional affine parameters that tolerates low-precision weights."""

    def __init__(self, dim: int, eps: float = 1e-6, affine: bool = False):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim)) if affine else None
        self.bias = nn.Parameter(torch.zeros(dim)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm(x, self.eps, self.weight, self.bias)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * g over the last axis (computed in at least float32)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def float_out(self, x: torch.Tensor) -> torch.Tensor:
        """The normalized ``x`` in float32 (for a caller that goes on in float32, e.g. RoPE); torch's
        fused kernel, one pass instead of five elementwise ones."""
        xf = x.float()
        return F.rms_norm(xf, xf.shape[-1:], cast(self.weight, xf), self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.float_out(x).to(x.dtype)


def gelu_tanh() -> nn.Module:
    return nn.GELU(approximate="tanh")
