"""Building blocks of the Wan2.1 causal video VAE, written for streaming in time.

Every layer that looks at more than one frame is *causal*: output frame t only
depends on input frames <= t. That lets the VAE run a clip chunk by chunk while
each time-mixing layer keeps a tiny state (its last input frames) in a
:class:`Stream`. Running chunk by chunk gives the same numbers as running the
whole clip at once (see ``../shared/conformance/README.md`` section 3.5), but
activations only ever exist for one chunk, so memory does not grow with the
number of frames.

Module and parameter names follow the official checkpoint layout
(``residual.0.gamma``, ``resample.1.weight``, ``time_conv.weight``, ...), so a
Wan2.1 VAE state dict loads without renaming.

Tensor layout everywhere: ``[B, C, T, H, W]``.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


class Stream:
    """Per-layer state carried from one time chunk to the next.

    One ``Stream`` belongs to one pass over one clip (or one spatial tile of
    it); start a fresh one for every new clip. Layers key their state by
    themselves, so a model can be shared by several streams at once.
    """

    def __init__(self) -> None:
        self._state: dict[int, object] = {}

    def get(self, layer: nn.Module):
        return self._state.get(id(layer))

    def put(self, layer: nn.Module, value) -> None:
        self._state[id(layer)] = value


def per_frame(fn, x: torch.Tensor) -> torch.Tensor:
    """Apply a 2D (image) function to every frame of a ``[B, C, T, H, W]`` tensor."""
    b, c, t, h, w = x.shape
    y = fn(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))
    return y.reshape(b, t, *y.shape[1:]).permute(0, 2, 1, 3, 4)


class RMSNorm(nn.Module):
    """Channel RMS norm: L2-normalise over channels, times sqrt(C), times a per-channel gain.

    ``images=True`` gives the gain shape ``[C, 1, 1]`` used on single frames
    (attention), otherwise ``[C, 1, 1, 1]`` for video tensors; the shape is
    part of the checkpoint layout.
    """

    def __init__(self, channels: int, images: bool = False) -> None:
        super().__init__()
        shape = (channels, 1, 1) if images else (channels, 1, 1, 1)
        self.scale = channels**0.5
        self.gamma = nn.Parameter(torch.ones(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) * self.scale * self.gamma


class CausalConv3d(nn.Conv3d):
    """3D convolution that pads time only in front (zeros, or the cached last frames).

    The layer remembers its last ``kernel_t - 1`` input frames in the stream,
    so the next chunk sees exactly the frames a whole-clip convolution would.
    Spatial padding is symmetric zero padding, as usual.
    """

    def __init__(self, cin: int, cout: int, kernel, padding=0) -> None:
        kernel = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
        padding = (padding,) * 3 if isinstance(padding, int) else tuple(padding)
        super().__init__(cin, cout, kernel, padding=0)
        self.past = kernel[0] - 1  # frames of history the kernel needs
        self.space_pad = (padding[2], padding[2], padding[1], padding[1])

    def forward(self, x: torch.Tensor, stream: Optional[Stream] = None) -> torch.Tensor:
        if self.past == 0:
            return super().forward(F.pad(x, self.space_pad + (0, 0)))
        cached = stream.get(self) if stream is not None else None
        if cached is not None:
            x_full = torch.cat([cached, x], dim=2)
        else:
            x_full = x
        missing = self.past - (x_full.shape[2] - x.shape[2])
        if stream is not None:
            # .clone(): a slice would keep the whole chunk alive between calls.
            stream.put(self, x_full[:, :, -self.past:].clone())
        if x_full.shape[2] == 1 and missing == self.past:
            # A lone first frame meets only the kernel's newest time slice (the rest sees
            # zero padding): a 2D convolution gives the same numbers at 1/kernel_t the cost.
            y = F.conv2d(F.pad(x_full[:, :, 0], self.space_pad), self.weight[:, :, -1], self.bias)
            return y.unsqueeze(2)
        x_full = F.pad(x_full, self.space_pad + (max(missing, 0), 0))
        return super().forward(x_full)


class ResidualBlock(nn.Module):
    """[norm, SiLU, causal conv 3x3x3, norm, SiLU, (dropout), causal conv] + shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        # Index positions match the checkpoint: 0 norm, 2 conv, 3 norm, 6 conv.
        self.residual = nn.Sequential(
            RMSNorm(cin), nn.SiLU(), CausalConv3d(cin, cout, 3, padding=1),
            RMSNorm(cout), nn.SiLU(), nn.Identity(), CausalConv3d(cout, cout, 3, padding=1),
        )
        self.shortcut = CausalConv3d(cin, cout, 1) if cin != cout else None

    def forward(self, x: torch.Tensor, stream: Optional[Stream] = None) -> torch.Tensor:
        r = self.residual
        h = r[2](F.silu(r[0](x)), stream)
        h = r[6](F.silu(r[3](h)), stream)
        skip = self.shortcut(x) if self.shortcut is not None else x
        return h + skip


class FrameAttention(nn.Module):
    """Single-head self-attention over the pixels of each frame, with a residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = RMSNorm(channels, images=True)
        self.to_qkv = nn.Conv2d(channels, channels * 3, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def _frame(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        qkv = self.to_qkv(self.norm(x)).reshape(n, 3, c, h * w)
        q, k, v = (qkv[:, i].transpose(1, 2).unsqueeze(1) for i in range(3))  # [n, 1, hw, c]
        out = F.scaled_dot_product_attention(q, k, v)  # scale 1/sqrt(c)
        out = out.squeeze(1).transpose(1, 2).reshape(n, c, h, w)
        return x + self.proj(out)

    def forward(self, x: torch.Tensor, stream: Optional[Stream] = None) -> torch.Tensor:
        return per_frame(self._frame, x)


class Downsample(nn.Module):
    """Halve H and W (pad right/bottom by one, 3x3 conv stride 2); optionally halve time.

    Temporal halving keeps frame 0 as it is and makes output frame k >= 1 from
    input frames 2k-2, 2k-1, 2k with a kernel-3 stride-2 time convolution.
    Streaming keeps the not yet consumed tail frames in the stream.
    """

    def __init__(self, channels: int, temporal: bool) -> None:
        super().__init__()
        self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(channels, channels, 3, stride=2))
        self.time_conv = nn.Conv3d(channels, channels, (3, 1, 1), stride=(2, 1, 1)) if temporal else None

    def forward(self, x: torch.Tensor, stream: Optional[Stream] = None) -> torch.Tensor:
        x = per_frame(self.resample, x)
        if self.time_conv is None:
            return x
        pending = stream.get(self) if stream is not None else None
        first = None
        if pending is None:  # very first frame of the clip: passes through
            first, pending = x[:, :, :1], x[:, :, :1]
            x = x[:, :, 1:]
        buf = torch.cat([pending, x], dim=2)
        n_out = (buf.shape[2] - 1) // 2  # windows of 3 frames, hop 2
        outs = [first] if first is not None else []
        if n_out > 0:
            outs.append(self.time_conv(buf[:, :, : 2 * n_out + 1]))
        if stream is not None:
            stream.put(self, buf[:, :, 2 * n_out:].clone())
        if not outs:
            return buf[:, :, :0]
        return torch.cat(outs, dim=2) if len(outs) > 1 else outs[0]


class Upsample(nn.Module):
    """Double H and W (nearest 2x, 3x3 conv halving the channels); optionally double time.

    Temporal doubling leaves frame 0 alone; frames 1..n form their own causal
    sequence, a time convolution maps C -> 2C channels and each frame becomes
    two frames (channels 0..C-1 first, then C..2C-1).
    """

    def __init__(self, channels: int, temporal: bool) -> None:
        super().__init__()
        self.resample = nn.Sequential(nn.Upsample(scale_factor=2.0, mode="nearest"),
                                      nn.Conv2d(channels, channels // 2, 3, padding=1))
        self.time_conv = CausalConv3d(channels, channels * 2, (3, 1, 1), padding=(1, 0, 0)) if temporal else None

    def _double_time(self, x: torch.Tensor, stream: Optional[Stream]) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = self.time_conv(x, stream).reshape(b, 2, c, t, h, w)
        return y.permute(0, 2, 3, 1, 4, 5).reshape(b, c, 2 * t, h, w)

    def forward(self, x: torch.Tensor, stream: Optional[Stream] = None) -> torch.Tensor:
        if self.time_conv is not None:
            # A stream marks itself after frame 0 so later chunks get doubled;
            # without a stream the call is a whole clip starting at frame 0.
            started = stream is not None and stream.get(self) is not None
            if not started:
                if stream is not None:
                    stream.put(self, True)
                head, rest = x[:, :, :1], x[:, :, 1:]
                x = torch.cat([head, self._double_time(rest, stream)], dim=2) if rest.shape[2] else head
            else:
                x = self._double_time(x, stream)
        return per_frame(self.resample, x)
