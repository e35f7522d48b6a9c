"""Configuration of the Animate DiT, read from checkpoint key shapes or built from presets.

One dataclass describes both the open Wan2.2-Animate-14B checkpoint and the
DreamActor-M1 variant that our trainer trains (channel-concat pose, Face Attn in
every block, Ref Attn, several reference frames).
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from dreamactor_core.utils import DreamActorError

POSE_MODES = ("add", "concat", "none")
POSE_CHANNELS = 16  # pose video latents come from the same 16-channel VAE


@dataclass
class ModelConfig:
    """Every size and switch of :class:`~dreamactor_core.model.dit.AnimateDiT`.

    ``in_dim`` counts all channels of the patch-embedded input: 16 noisy latent
    channels, the conditioning ``y`` channels (4 mask + 16 latents for Wan
    image-to-video) and, when ``pose_mode == "concat"``, 16 pose latent channels.
    """

    dim: int = 5120
    ffn_dim: int = 13824
    num_heads: int = 40
    num_layers: int = 40
    in_dim: int = 36
    out_dim: int = 16
    text_dim: int = 4096
    freq_dim: int = 256
    text_len: int = 512
    patch: tuple[int, int, int] = (1, 2, 2)
    eps: float = 1e-6
    has_clip: bool = True
    clip_dim: int = 1280
    pose_mode: str = "add"
    face_every: int = 5
    ref_attn: bool = False
    num_refs: int = 1
    # y of video latent frames that hold no carried frame: the reference latent (spatially
    # aligned appearance to copy from) instead of a grey video's latent as in Wan2.2-Animate
    ref_fill: bool = False
    motion_dim: int = 512
    # Face motion encoder / face encoder sizes (fixed in the official model).
    face_size: int = 512
    motion_channels_max: int = 512
    motion_directions: int = 20
    face_hidden: int = 1024
    face_groups: int = 4
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.patch = tuple(int(p) for p in self.patch)
        if self.dim % self.num_heads:
            raise DreamActorError(f"ModelConfig: dim {self.dim} is not divisible by num_heads {self.num_heads}")
        if self.head_dim % 2:
            raise DreamActorError(f"ModelConfig: head_dim {self.head_dim} must be even for rotary embedding")
        if self.pose_mode not in POSE_MODES:
            raise DreamActorError(f"ModelConfig: pose_mode {self.pose_mode!r} must be one of {POSE_MODES}")
        if self.face_every < 0 or (self.face_every and self.num_layers % self.face_every):
            raise DreamActorError(
                f"ModelConfig: num_layers {self.num_layers} must be a multiple of face_every {self.face_every}")
        if self.num_refs < 1:
            raise DreamActorError("ModelConfig: num_refs must be at least 1 (the reference slot)")
        if self.y_dim < 0:
            raise DreamActorError(f"ModelConfig: in_dim {self.in_dim} is too small for out_dim {self.out_dim} "
                                  f"and pose_mode {self.pose_mode!r}")
        if 2 ** int(math.log2(self.face_size)) != self.face_size or self.face_size < 8:
            raise DreamActorError(f"ModelConfig: face_size {self.face_size} must be a power of two >= 8")

    # -- derived sizes -------------------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @property
    def y_dim(self) -> int:
        """Channels of the conditioning tensor ``y`` (20 for Wan image-to-video)."""
        return self.in_dim - self.out_dim - (POSE_CHANNELS if self.pose_mode == "concat" else 0)

    @property
    def num_face_blocks(self) -> int:
        return self.num_layers // self.face_every if self.face_every else 0

    @property
    def has_face(self) -> bool:
        return self.face_every > 0

    def face_block_index(self, layer: int) -> int | None:
        """Index of the face adapter applied after block ``layer``, or None."""
        if not self.face_every or layer % self.face_every:
            return None
        return layer // self.face_every

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    # -- presets -------------------------------------------------------------------------------
    @classmethod
    def wan22_animate_14b(cls, **overrides) -> "ModelConfig":
        """The open Wan2.2-Animate-14B checkpoint."""
        return cls(**overrides)

    @classmethod
    def dreamactor_m1(cls, **overrides) -> "ModelConfig":
        """DreamActor-M1 variant: pose concatenated with the noisy latent, Face Attn after
        every block, Ref Attn and three reference frames, on the 14B backbone by default."""
        base = dict(pose_mode="concat", in_dim=36 + POSE_CHANNELS, face_every=1, ref_attn=True, num_refs=3)
        base.update(overrides)
        if "in_dim" not in overrides and base["pose_mode"] != "concat":
            base["in_dim"] = 36
        return cls(**base)

    # -- from a checkpoint ---------------------------------------------------------------------
    @classmethod
    def from_shapes(cls, shapes: Mapping[str, Sequence[int]], **overrides) -> "ModelConfig":
        """Read the configuration from a checkpoint's key -> shape table (prefixes already stripped).

        ``text_len`` and ``num_refs`` carry no weights; pass them in ``overrides`` if they
        differ from the defaults (512, 1). The head count is read from the face adapter's
        per-head norms; models without a face path are assumed to have head_dim 128 unless
        ``num_heads`` is given (files written by our trainer record it in their metadata).
        """
        shapes = {k: tuple(int(s) for s in v) for k, v in shapes.items()}
        _require(shapes, "patch_embedding.weight", "head.head.weight", "blocks.0.ffn.0.weight",
                 "text_embedding.0.weight", "time_embedding.0.weight")
        pe = shapes["patch_embedding.weight"]
        dim, in_dim, patch = pe[0], pe[1], pe[2:]
        out_dim = shapes["head.head.weight"][0] // math.prod(patch)
        layers = {int(m.group(1)) for k in shapes if (m := re.match(r"blocks\.(\d+)\.", k))}
        num_layers = max(layers) + 1
        fusers = {int(m.group(1)) for k in shapes if (m := re.match(r"face_adapter\.fuser_blocks\.(\d+)\.", k))}
        qn = shapes.get("face_adapter.fuser_blocks.0.q_norm.weight")  # per-head norm: [head_dim]
        head_dim = qn[0] if qn else min(128, dim)  # Wan models use head_dim 128
        has_pose_embed = "pose_patch_embedding.weight" in shapes
        if has_pose_embed:
            pose_mode = "add"
        elif in_dim - out_dim - 20 == POSE_CHANNELS or in_dim - out_dim == POSE_CHANNELS:
            pose_mode = "concat"
        else:
            pose_mode = "none"
        cfg = dict(
            dim=dim, in_dim=in_dim, out_dim=out_dim, patch=patch, num_layers=num_layers,
            ffn_dim=shapes["blocks.0.ffn.0.weight"][0], num_heads=dim // head_dim,
            text_dim=shapes["text_embedding.0.weight"][1], freq_dim=shapes["time_embedding.0.weight"][1],
            has_clip="img_emb.proj.1.weight" in shapes, pose_mode=pose_mode,
            face_every=num_layers // len(fusers) if fusers else 0,
            ref_attn="blocks.0.ref_attn.q.weight" in shapes,
        )
        if "img_emb.proj.1.weight" in shapes:
            cfg["clip_dim"] = shapes["img_emb.proj.1.weight"][1]
        if fusers:
            cfg.update(_face_shapes(shapes))
        cfg.update(overrides)
        return cls(**cfg)


def _require(shapes: Mapping[str, tuple], *keys: str) -> None:
    missing = [k for k in keys if k not in shapes]
    if missing:
        sample = ", ".join(sorted(shapes)[:5])
        raise DreamActorError(
            f"checkpoint is not a Wan-family DiT: missing {', '.join(missing)} (first keys: {sample}). "
            "Pick a Wan2.2-Animate or DreamActor diffusion model file.")


def _face_shapes(shapes: Mapping[str, tuple]) -> dict:
    """Sizes of the motion encoder and face encoder."""
    me = "motion_encoder.enc."
    _require(shapes, me + "net_app.convs.0.0.weight", me + "fc.4.weight", "face_encoder.conv1_local.conv.weight",
             "face_encoder.conv2.conv.weight")
    n_res = len({int(m.group(1)) for k in shapes if (m := re.match(r"motion_encoder\.enc\.net_app\.convs\.(\d+)\.conv1", k))})
    last = shapes[f"{me}net_app.convs.{n_res + 1}.weight"]
    conv1 = shapes["face_encoder.conv1_local.conv.weight"]
    hidden = shapes["face_encoder.conv2.conv.weight"][0]
    return dict(
        face_size=2 ** (n_res + 2), motion_dim=last[0], motion_channels_max=last[1],
        motion_directions=shapes[me + "fc.4.weight"][0], face_hidden=hidden, face_groups=conv1[0] // hidden,
    )
