"""StyleGAN2-like face motion encoder: a face crop -> one implicit motion vector.

Per frame: an "equalised" 1x1 conv with fused leaky ReLU, residual down-sampling blocks
(size -> 4 pixels), a 4x4 conv to ``motion_dim``, five linear layers without any
nonlinearity to ``directions`` coefficients alpha, then motion = alpha @ Q^T where Q is the
orthonormal basis (reduced QR) of a learned direction matrix. "Equalised" layers multiply
their stored weight by 1/sqrt(fan_in) at run time. Module names follow the official
checkpoint layout (``enc.net_app.convs.*``, ``enc.fc.*``, ``dec.direction.weight``).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from dreamactor_core.model.config import ModelConfig
from dreamactor_core.model.layers import cast


def blur_kernel() -> torch.Tensor:
    """The constant 4x4 blur: outer product of [1, 3, 3, 1] with itself, divided by 64."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return torch.outer(k, k) / 64.0


class EqualConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale, self.stride, self.padding = 1 / math.sqrt(cin * k * k), stride, padding

    def forward(self, x):
        return F.conv2d(x, cast(self.weight, x) * self.scale, cast(self.bias, x), self.stride, self.padding)


class EqualLinear(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = 1 / math.sqrt(cin)

    def forward(self, x):
        return F.linear(x, cast(self.weight, x) * self.scale, cast(self.bias, x))


class FusedLeakyReLU(nn.Module):
    """Add bias [1, C, 1, 1], leaky ReLU (slope 0.2), multiply by sqrt(2) to keep the variance."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x):
        return F.leaky_relu(x + cast(self.bias, x), 0.2) * math.sqrt(2)


class Blur(nn.Module):
    """Zero-pad then depthwise 4x4 blur (the anti-aliasing filter before a stride-2 conv)."""

    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad
        self.register_buffer("kernel", blur_kernel())

    def forward(self, x):
        c = x.shape[1]
        w = cast(self.kernel, x).flip(0, 1).expand(c, 1, 4, 4)  # convolution, not correlation
        return F.conv2d(F.pad(x, [self.pad] * 4), w, groups=c)


class ConvAct(nn.Sequential):
    """[Blur,] EqualConv2d, FusedLeakyReLU, with the activation's bias folded into the conv
    (same math, one pass less over large feature maps)."""

    def forward(self, x):
        *pre, conv, act = self
        for m in pre:
            x = m(x)
        y = F.conv2d(x, cast(conv.weight, x) * conv.scale, cast(act.bias, x).flatten(), conv.stride, conv.padding)
        return F.leaky_relu(y, 0.2).mul_(math.sqrt(2))


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = ConvAct(EqualConv2d(cin, cin, 3, padding=1), FusedLeakyReLU(cin))
        self.conv2 = ConvAct(Blur(pad=2), EqualConv2d(cin, cout, 3, stride=2), FusedLeakyReLU(cout))
        self.skip = nn.Sequential(Blur(pad=1), EqualConv2d(cin, cout, 1, stride=2))

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)).mul_(1 / math.sqrt(2))


def _channels(res: int, cap: int) -> int:
    """StyleGAN2 width per resolution: 32 at 512 px doubling as size halves, at most 512 (and ``cap``)."""
    return min(512, 16384 // res, cap)


class _AppEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        size, cap = cfg.face_size, cfg.motion_channels_max
        convs = [ConvAct(EqualConv2d(3, _channels(size, cap), 1), FusedLeakyReLU(_channels(size, cap)))]
        res = size
        while res > 4:
            convs.append(ResBlock(_channels(res, cap), _channels(res // 2, cap)))
            res //= 2
        convs.append(EqualConv2d(_channels(4, cap), cfg.motion_dim, 4))
        self.convs = nn.ModuleList(convs)

    def forward(self, x):
        for layer in self.convs:
            x = layer(x)
        return x.flatten(1)


class _Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.net_app = _AppEncoder(cfg)
        d = cfg.motion_dim
        self.fc = nn.Sequential(*[EqualLinear(d, d) for _ in range(4)], EqualLinear(d, cfg.motion_directions))


class _Direction(nn.Module):
    def __init__(self, dim: int, directions: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim, directions))

    def basis(self) -> torch.Tensor:
        """Q [dim, directions] of the reduced QR of (weight + 1e-8), float32 on the CPU
        (LAPACK Householder convention, no sign normalisation)."""
        w = self.weight.float().cpu() + 1e-8
        return torch.linalg.qr(w, mode="reduced").Q.to(self.weight.device)


class _Decoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.direction = _Direction(cfg.motion_dim, cfg.motion_directions)


class MotionEncoder(nn.Module):
    """Face crops [N, 3, S, S] in [-1, 1] -> motion vectors [N, motion_dim]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.face_size = cfg.face_size
        self.enc = _Encoder(cfg)
        self.dec = _Decoder(cfg)

    def alpha(self, faces: torch.Tensor) -> torch.Tensor:
        """Coefficients on the motion directions, [N, directions]."""
        return self.enc.fc(self.enc.net_app(faces))

    def forward(self, faces: torch.Tensor, chunk: int = 8) -> torch.Tensor:
        """Encode ``chunk`` frames at a time (frames are independent) to bound memory."""
        alpha = torch.cat([self.alpha(f) for f in faces.split(chunk)])
        return alpha @ cast(self.dec.direction.basis(), alpha).T
