"""Wan2.1 3D causal video VAE: 16 latent channels, 4x in time, 8x in space.

Written from the description in ``../shared/conformance/README.md`` section 3.
A clip of ``T = 1 + 4k`` frames becomes ``1 + k`` latent frames: the first
frame is encoded alone, every later group of 4 frames gives one latent frame.
Encode and decode run chunk by chunk in time with per-layer caches
(:class:`~dreamactor_core.model.vae_blocks.Stream`), so peak memory depends on
the chunk and tile size, not on the clip length. Optional spatial tiles (with
overlap and linear blending) bound memory for large frames.

Public API: :class:`VAEConfig`, :class:`Tiling`, :class:`WanVAE` with
``encode`` / ``decode`` (normalised latents, as the Wan pipeline uses them) and
``encode_raw`` / ``decode_raw`` (the VAE's own means, as ComfyUI's LATENT holds).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..utils import CancelFn, DreamActorError, ProgressFn, check_cancel, report
from .vae_blocks import CausalConv3d, Downsample, FrameAttention, RMSNorm, ResidualBlock, Stream, Upsample

# Per-channel latent statistics of the Wan2.1 VAE family (the official
# pipeline's constants); latent = (mu - mean) / std.
WAN21_LATENT_MEAN = (-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                     0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921)
WAN21_LATENT_STD = (2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                    3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160)


@dataclass(frozen=True)
class VAEConfig:
    """Architecture and latent normalisation of a Wan2.1-family VAE."""

    dim: int = 96
    z_dim: int = 16
    dim_mult: tuple = (1, 2, 4, 4)
    num_res_blocks: int = 2
    temporal_downsample: tuple = (False, True, True)
    latent_mean: tuple = WAN21_LATENT_MEAN
    latent_std: tuple = WAN21_LATENT_STD

    @property
    def time_factor(self) -> int:
        return 2 ** sum(bool(t) for t in self.temporal_downsample)

    @property
    def space_factor(self) -> int:
        return 2 ** (len(self.dim_mult) - 1)

    @classmethod
    def from_shapes(cls, shapes: Mapping[str, Sequence[int]]) -> "VAEConfig":
        """Read the base width and latent channels from checkpoint key shapes (no prefix)."""
        try:
            dim = int(shapes["encoder.conv1.weight"][0])
            z_dim = int(shapes["conv2.weight"][0])
        except KeyError as e:
            raise DreamActorError(f"VAE checkpoint lacks key {e.args[0]!r}; it is not a Wan2.1 VAE") from None
        if z_dim != len(WAN21_LATENT_MEAN):
            raise DreamActorError(f"VAE checkpoint has {z_dim} latent channels; only the 16-channel Wan2.1 VAE "
                                  "is supported (the 48-channel Wan2.2 TI2V VAE is a different model)")
        return cls(dim=dim, z_dim=z_dim)

    def with_metadata(self, metadata: Mapping[str, str]) -> "VAEConfig":
        """Per-checkpoint latent statistics from safetensors metadata, if the file carries them.

        The official Wan2.1 VAE files carry none (the family constants above apply). A VAE
        trained by us (e.g. the demo model) stores ``latent_mean`` / ``latent_std`` as JSON
        lists of ``z_dim`` floats, measured on its training data.
        """
        import json

        if "latent_mean" not in metadata and "latent_std" not in metadata:
            return self
        try:
            mean = tuple(float(v) for v in json.loads(metadata["latent_mean"]))
            std = tuple(float(v) for v in json.loads(metadata["latent_std"]))
        except (KeyError, TypeError, ValueError) as e:
            raise DreamActorError(f"VAE checkpoint metadata latent_mean/latent_std unreadable ({e}); "
                                  "both must be JSON lists of floats") from None
        if len(mean) != self.z_dim or len(std) != self.z_dim or min(std) <= 0:
            raise DreamActorError(f"VAE checkpoint metadata: latent_mean/latent_std need {self.z_dim} values "
                                  "each, std > 0")
        return replace(self, latent_mean=mean, latent_std=std)


@dataclass(frozen=True)
class Tiling:
    """Spatial tiles in pixels: ``size`` per side and ``overlap`` between neighbours (multiples of 8)."""

    size: int = 256
    overlap: int = 64

    @classmethod
    def of(cls, tile) -> Optional["Tiling"]:
        """Accept ``None``, an int tile size (overlap = size/4) or a :class:`Tiling`."""
        if tile is None or isinstance(tile, Tiling):
            t = tile
        elif isinstance(tile, int) and not isinstance(tile, bool):
            t = cls(size=tile, overlap=max(8, tile // 4 // 8 * 8))
        else:
            raise DreamActorError(f"tile must be None, an int (pixels) or a Tiling, got {tile!r}")
        if t is not None and (t.size < 32 or t.size % 8 or t.overlap % 8 or not 0 <= t.overlap < t.size // 2):
            raise DreamActorError(f"tile {t} invalid: size >= 32 and overlap < size/2, both multiples of 8 pixels")
        return t


class Encoder(nn.Module):
    def __init__(self, c: VAEConfig) -> None:
        super().__init__()
        dims = [c.dim * m for m in (1,) + tuple(c.dim_mult)]
        self.conv1 = CausalConv3d(3, dims[0], 3, padding=1)
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(c.num_res_blocks):
                layers.append(ResidualBlock(cin, cout))
                cin = cout
            if i < len(c.dim_mult) - 1:
                layers.append(Downsample(cout, bool(c.temporal_downsample[i])))
        self.downsamples = nn.ModuleList(layers)
        top = dims[-1]
        self.middle = nn.ModuleList([ResidualBlock(top, top), FrameAttention(top), ResidualBlock(top, top)])
        self.head = nn.Sequential(RMSNorm(top), nn.SiLU(), CausalConv3d(top, c.z_dim * 2, 3, padding=1))

    def forward(self, x: torch.Tensor, stream: Optional[Stream] = None) -> torch.Tensor:
        x = self.conv1(x, stream)
        for layer in (*self.downsamples, *self.middle):
            x = layer(x, stream)
        return self.head[2](F.silu(self.head[0](x)), stream)


class Decoder(nn.Module):
    def __init__(self, c: VAEConfig) -> None:
        super().__init__()
        mult = tuple(c.dim_mult)
        dims = [c.dim * m for m in (mult[-1],) + mult[::-1]]
        temporal_up = tuple(c.temporal_downsample)[::-1]
        self.conv1 = CausalConv3d(c.z_dim, dims[0], 3, padding=1)
        top = dims[0]
        self.middle = nn.ModuleList([ResidualBlock(top, top), FrameAttention(top), ResidualBlock(top, top)])
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            if i > 0:  # the previous level's upsampling conv halved the channels
                cin //= 2
            for _ in range(c.num_res_blocks + 1):
                layers.append(ResidualBlock(cin, cout))
                cin = cout
            if i < len(mult) - 1:
                layers.append(Upsample(cout, bool(temporal_up[i])))
        self.upsamples = nn.ModuleList(layers)
        self.head = nn.Sequential(RMSNorm(dims[-1]), nn.SiLU(), CausalConv3d(dims[-1], 3, 3, padding=1))

    def forward(self, z: torch.Tensor, stream: Optional[Stream] = None) -> torch.Tensor:
        x = self.conv1(z, stream)
        for layer in (*self.middle, *self.upsamples):
            x = layer(x, stream)
        return self.head[2](F.silu(self.head[0](x)), stream)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile start positions covering ``length``; the last tile is aligned to the end."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step)) + [length - tile]
    return sorted(set(starts))


def _ramp(length: int, start: int, size: int, overlap: int) -> torch.Tensor:
    """1D blend weight of a tile: linear ramps over ``overlap`` on sides that touch another tile."""
    w = torch.ones(size)
    if overlap > 0:
        ramp = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
        if start > 0:
            w[:overlap] = ramp
        if start + size < length:
            w[size - overlap:] = ramp.flip(0)
    return w


class WanVAE(nn.Module):
    """The Wan2.1 causal video VAE with chunked, optionally tiled encode and decode."""

    def __init__(self, config: VAEConfig = VAEConfig()) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.conv1 = CausalConv3d(config.z_dim * 2, config.z_dim * 2, 1)
        self.conv2 = CausalConv3d(config.z_dim, config.z_dim, 1)
        self.decoder = Decoder(config)

    # ----------------------------------------------------------- normalisation
    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1, 1, 1, 1)
        mean = torch.tensor(self.config.latent_mean, dtype=torch.float32, device=like.device).view(shape)
        inv_std = (1.0 / torch.tensor(self.config.latent_std, dtype=torch.float32, device=like.device)).view(shape)
        return mean, inv_std

    def normalize(self, mu: torch.Tensor) -> torch.Tensor:
        """Raw VAE mean -> normalised latent ``(mu - mean) / std`` (float32 math)."""
        mean, inv_std = self._stats(mu)
        return ((mu.float() - mean) * inv_std).to(mu.dtype)

    def denormalize(self, latent: torch.Tensor) -> torch.Tensor:
        """Normalised latent -> raw VAE mean."""
        mean, inv_std = self._stats(latent)
        return (latent.float() / inv_std + mean).to(latent.dtype)

    # ------------------------------------------------------------------ public
    def encode(self, video: torch.Tensor, *, tile=None, chunk: int = 1,
               progress: ProgressFn = None, cancel: CancelFn = None) -> torch.Tensor:
        """Video ``[B,3,T,H,W]`` in [-1, 1] (T = 4k+1, H, W multiples of 8) -> normalised latent."""
        return self.normalize(self.encode_raw(video, tile=tile, chunk=chunk, progress=progress, cancel=cancel))

    def decode(self, latent: torch.Tensor, *, tile=None, chunk: int = 1,
               progress: ProgressFn = None, cancel: CancelFn = None) -> torch.Tensor:
        """Normalised latent ``[B,16,t,h,w]`` -> video ``[B,3,4(t-1)+1,8h,8w]`` clamped to [-1, 1]."""
        _check_latent(latent, self.config)
        video = self.decode_raw(self.denormalize(latent), tile=tile, chunk=chunk, progress=progress, cancel=cancel)
        return video.clamp_(-1.0, 1.0)

    @torch.no_grad()
    def encode_raw(self, video: torch.Tensor, *, tile=None, chunk: int = 1,
                   progress: ProgressFn = None, cancel: CancelFn = None) -> torch.Tensor:
        """Like :meth:`encode` but returns the un-normalised mean (ComfyUI's LATENT convention).

        ``chunk`` is the number of latent frames made per encoder call after
        the first frame (1 = the official 4-frame chunks); results do not
        depend on it, memory does.
        """
        c = self.config
        _check_video(video, "video", c)
        b, _, t, h, w = video.shape
        tf, sf = c.time_factor, c.space_factor
        bounds = [(0, 1)] + [(s, min(s + tf * _chunk(chunk), t)) for s in range(1, t, tf * _chunk(chunk))]
        out_shape = (b, c.z_dim, 1 + (t - 1) // tf, h // sf, w // sf)
        return self._run(video, out_shape, bounds, 1.0 / sf, Tiling.of(tile), encode=True,
                         progress=progress, cancel=cancel)

    @torch.no_grad()
    def decode_raw(self, z: torch.Tensor, *, tile=None, chunk: int = 1,
                   progress: ProgressFn = None, cancel: CancelFn = None,
                   out: torch.Tensor | None = None) -> torch.Tensor:
        """Raw latent mean ``[B,16,t,h,w]`` -> decoded video, not clamped.

        ``chunk`` is the number of latent frames per decoder call (1 = official). ``out`` (a zeroed
        tensor or view of the output's shape, any strides) receives the chunks instead of a new tensor.
        """
        c = self.config
        _check_latent(z, c)
        b, _, t, h, w = z.shape
        sf = c.space_factor
        bounds = [(s, min(s + _chunk(chunk), t)) for s in range(0, t, _chunk(chunk))]
        out_shape = (b, 3, 1 + (t - 1) * c.time_factor, h * sf, w * sf)
        if out is not None and tuple(out.shape) != out_shape:
            raise DreamActorError(f"out: shape {tuple(out.shape)} does not match the decode's {out_shape}")
        return self._run(z, out_shape, bounds, float(sf), Tiling.of(tile), encode=False,
                         progress=progress, cancel=cancel, out=out)

    @torch.no_grad()
    def decode_frames(self, z: torch.Tensor, *, tile=None, chunk: int = 1,
                      progress: ProgressFn = None, cancel: CancelFn = None) -> torch.Tensor:
        """Raw latent mean ``[B,16,t,h,w]`` -> frames float ``[B*T,H,W,3]`` in [0, 1] on the CPU.

        Chunks are written straight into the frame layout and rescaled in place, so a long
        video's frames exist once (not as a video tensor plus its converted copy).
        """
        c = self.config
        _check_latent(z, c)
        b, _, t, h, w = z.shape
        frames = torch.zeros(b, 1 + (t - 1) * c.time_factor, h * c.space_factor, w * c.space_factor, 3)
        self.decode_raw(z.float().cpu(), tile=tile, chunk=chunk, progress=progress, cancel=cancel,
                        out=frames.permute(0, 4, 1, 2, 3))
        return frames.add_(1.0).mul_(0.5).clamp_(0.0, 1.0).reshape(-1, *frames.shape[2:])

    # ---------------------------------------------------------------- internal
    def _step(self, x: torch.Tensor, stream: Stream, encode: bool) -> torch.Tensor:
        if encode:
            return self.conv1(self.encoder(x, stream))[:, : self.config.z_dim]
        return self.decoder(self.conv2(x), stream)

    def _run(self, src: torch.Tensor, out_shape: tuple, bounds: list, scale: float, tiling: Optional[Tiling],
             *, encode: bool, progress: ProgressFn, cancel: CancelFn, out: torch.Tensor | None = None) -> torch.Tensor:
        """Stream ``src`` through the encoder or decoder chunk by chunk, per spatial tile.

        ``scale`` maps input pixels to output pixels (1/8 for encode, 8 for decode).
        Output chunks are written straight into one preallocated tensor.
        """
        param = next(self.parameters())
        if out is None:
            out = torch.zeros(out_shape, dtype=src.dtype, device=src.device)
        in_h, in_w = src.shape[-2:]
        size_y, size_x, ov = in_h, in_w, 0
        if tiling is not None:  # tile sizes are given in pixels; the decoder's input is the latent grid
            grid = 1 if scale < 1 else int(scale)
            size_y, size_x = min(tiling.size // grid, in_h), min(tiling.size // grid, in_w)
            ov = tiling.overlap // grid
        tiles_y, tiles_x = _starts(in_h, size_y, ov), _starts(in_w, size_x, ov)
        weight_sum = torch.zeros(out_shape[-2:], dtype=torch.float32, device=src.device)
        total, done = len(tiles_y) * len(tiles_x) * len(bounds), 0
        for y0 in tiles_y:
            for x0 in tiles_x:
                stream = Stream()
                oy, ox = int(y0 * scale), int(x0 * scale)
                oh, ow = int(size_y * scale), int(size_x * scale)
                o_ov = int(ov * scale)
                wy = _ramp(out_shape[-2], oy, oh, o_ov) if tiling else torch.ones(oh)
                wx = _ramp(out_shape[-1], ox, ow, o_ov) if tiling else torch.ones(ow)
                wmap = (wy[:, None] * wx[None, :]).to(src.device)
                weight_sum[oy:oy + oh, ox:ox + ow] += wmap
                t_out = 0
                for s, e in bounds:
                    check_cancel(cancel)
                    piece = src[:, :, s:e, y0:y0 + size_y, x0:x0 + size_x].to(param.device, param.dtype)
                    res = self._step(piece, stream, encode).to(out.device, out.dtype)
                    n = res.shape[2]
                    region = out[:, :, t_out:t_out + n, oy:oy + oh, ox:ox + ow]
                    if tiling is not None:
                        region.add_(res * wmap.to(out.dtype))
                    else:
                        region.copy_(res)
                    t_out += n
                    done += 1
                    report(progress, done, total)
                if t_out != out_shape[2]:
                    raise RuntimeError(f"VAE produced {t_out} frames, expected {out_shape[2]}")
        if tiling is not None:
            out /= weight_sum.to(out.dtype)
        return out


def _chunk(chunk: int) -> int:
    if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1:
        raise DreamActorError(f"chunk must be a positive int (latent frames per call), got {chunk!r}")
    return chunk


def _check_finite(x: torch.Tensor, name: str) -> None:
    if not x.is_floating_point():
        raise DreamActorError(f"{name} must be a float tensor, got {x.dtype}")
    if not torch.isfinite(x).all():
        raise DreamActorError(f"{name} contains NaN or inf values; clean the input before the VAE")


def _check_latent(z: torch.Tensor, c: VAEConfig) -> None:
    if z.ndim != 5 or z.shape[1] != c.z_dim or z.shape[2] < 1:
        raise DreamActorError(f"latent must be [B,{c.z_dim},T,H,W] with T >= 1, got {tuple(z.shape)}")
    _check_finite(z, "latent")


def _check_video(video: torch.Tensor, name: str, c: VAEConfig) -> None:
    if video.ndim != 5 or video.shape[1] != 3:
        raise DreamActorError(f"{name} must be [B,3,T,H,W] in [-1,1], got shape {tuple(video.shape)}")
    _check_finite(video, name)
    t, h, w = video.shape[2:]
    if (t - 1) % c.time_factor:
        lo = (t - 1) // c.time_factor * c.time_factor + 1
        raise DreamActorError(f"{name} has {t} frames; the Wan VAE needs 4k+1 frames (e.g. {lo} or "
                              f"{lo + c.time_factor}): trim the clip or repeat its last frame")
    if h % c.space_factor or w % c.space_factor or h < c.space_factor or w < c.space_factor:
        raise DreamActorError(f"{name} is {h}x{w}; height and width must be multiples of {c.space_factor}: "
                              "resize or crop the frames")
