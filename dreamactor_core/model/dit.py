"""AnimateDiT: the Wan-family video DiT with hybrid guidance (pose, face motion, references).

Token layout: the latent grid [T, H/2, W/2] flattened time-major; the first ``num_refs``
latent frames are reference slots, the rest video frames. Module names equal the official
Wan2.2-Animate checkpoint keys, so its state dict loads as is.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from dreamactor_core.model.attention import get_attention
from dreamactor_core.model.blocks import Block, Head
from dreamactor_core.model.config import POSE_CHANNELS, ModelConfig
from dreamactor_core.model.context_cache import ContextCache
from dreamactor_core.model.contract import ConditionedModel, ModelContract
from dreamactor_core.model.entries import Conditioning, Lazy
from dreamactor_core.model.embeddings import (
    ClipProjection, pad_text, patch_embedding, sinusoidal_embedding, text_embedding, time_embedding,
    time_projection)
from dreamactor_core.model.face_encoder import FaceAdapter, FaceEncoder
from dreamactor_core.model.layers import Linear
from dreamactor_core.model.motion_encoder import MotionEncoder, blur_kernel
from dreamactor_core.model.rope import rope_angles, rope_table
from dreamactor_core.utils import DreamActorError


def unpatchify(tokens: torch.Tensor, grid: tuple[int, int, int], patch: tuple[int, int, int]) -> torch.Tensor:
    """Tokens [B, L, pt*ph*pw*C] (values ordered p_t, p_h, p_w, c with c fastest) -> [B, C, T, H, W]."""
    (t, h, w), (pt, ph, pw) = grid, patch
    x = tokens.unflatten(1, (t, h, w)).unflatten(-1, (pt, ph, pw, -1))  # B t h w pt ph pw C
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.reshape(x.shape[0], x.shape[1], t * pt, h * ph, w * pw)


def face_steps(frames: int) -> int:
    """Face-token steps for ``frames`` face crops (two causal stride-2 convs): 4n + 1 -> n + 1."""
    n = frames
    for _ in range(2):
        n = (n - 1) // 2 + 1
    return n


class AnimateDiT(ConditionedModel, nn.Module):
    """Video DiT built from a :class:`ModelConfig` (see DEVELOPERS.md for the forward contract)."""

    def __init__(self, config: ModelConfig, attention: str = "sdpa"):
        super().__init__()
        self.config = cfg = config
        d = cfg.dim
        self.patch_embedding = patch_embedding(cfg.in_dim, d, cfg.patch)
        if cfg.pose_mode == "add":
            self.pose_patch_embedding = patch_embedding(POSE_CHANNELS, d, cfg.patch)
        self.text_embedding = text_embedding(cfg.text_dim, d)
        self.time_embedding = time_embedding(cfg.freq_dim, d)
        self.time_projection = time_projection(d)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.head = Head(d, math.prod(cfg.patch) * cfg.out_dim, cfg.eps)
        if cfg.has_clip:
            self.img_emb = ClipProjection(cfg.clip_dim, d)
        if cfg.has_face:
            self.motion_encoder = MotionEncoder(cfg)
            self.face_encoder = FaceEncoder(cfg)
            self.face_adapter = FaceAdapter(cfg)
        self.compute_dtype = torch.float32
        self.block_swap = None  # a BlockSwap handle while enable_block_swap streams blocks
        self.set_attention(attention)
        self._rope_cache: dict = {}

    # -- settings ------------------------------------------------------------------------------
    def set_attention(self, name: str) -> "AnimateDiT":
        """Choose the attention backend ("sdpa", "sage", "flash")."""
        self.attention_name, self._attn = name, get_attention(name)
        return self

    def to_compute_dtype(self, dtype: torch.dtype, cast_weights: bool = False) -> "AnimateDiT":
        """Run activations in ``dtype``; weights stay in their storage dtype (upcast per layer)
        unless ``cast_weights`` converts them too."""
        self.compute_dtype = dtype
        if cast_weights:
            for t in list(self.parameters()) + list(self.buffers()):
                if t.is_floating_point():
                    t.data = t.data.to(dtype)
        return self

    # -- contract and per-window conditioning --------------------------------------------------
    @property
    def contract(self) -> ModelContract:
        """What this model takes, read from its config (see :mod:`.contract`)."""
        cfg = self.config
        consumes = {"context", "context_cache"} | ({"y"} if cfg.y_dim else set())
        consumes |= {"clip_fea"} if cfg.has_clip else set()
        consumes |= {"pose_latents"} if cfg.pose_mode != "none" else set()
        consumes |= {"face_pixels", "face_tokens"} if cfg.has_face else set()
        consumes |= {"ref_latents"} if cfg.ref_attn else set()
        return ModelContract(num_refs=cfg.num_refs, face_path="tokens" if cfg.has_face else "none",
                             face_size=cfg.face_size, pose_injection=cfg.pose_mode, text_len=cfg.text_len,
                             has_clip=cfg.has_clip, ref_fill=cfg.ref_fill, consumes=frozenset(consumes))

    @torch.no_grad()
    def prepare_conditioning(self, cond: Conditioning, cache: dict) -> Conditioning:
        """A window's conditioning as every call of that window reads it: face crops become motion
        tokens (the ~23M-parameter motion encoder runs once per window, the negative branch's black
        face once per window length, kept in ``cache``), text and CLIP their context cache (the
        negative branch's made at its first call, never at CFG 1), and the DreamActor-M1 variant
        gets the clean reference latents of ``y``'s reference slots."""
        cfg = self.config
        if cfg.has_face and ("face_pixels" in cond or "face_tokens" in cond):
            pixels = cond["face_pixels"] if "face_pixels" in cond else None
            if pixels is not None:
                shape, device = tuple(pixels.shape), pixels.device
            else:  # the negative branch still needs black crops of the window's length
                tokens = cond["face_tokens"]
                shape = (tokens.shape[0], 3, 4 * (tokens.shape[1] - 1) + 1, cfg.face_size, cfg.face_size)
                device = tokens.device
            key = ("negative_face", shape, str(device))
            if key not in cache:  # the same for every window of this length
                cache[key] = self.negative_face_tokens(shape, device)
            pos = self.encode_face(pixels) if pixels is not None else cond["face_tokens"]
            cond.drop("face_pixels").set("face_tokens", pos, negative=cache[key])
        if "context" in cond:
            clip = cond["clip_fea"] if "clip_fea" in cond else None
            null = cond.negatives["context"]
            cond.set("context_cache", self.prepare_context(cond["context"], clip),
                     negative=Lazy(lambda: self.prepare_context(null, clip)))
        if cfg.ref_attn and "y" in cond:
            cond.set("ref_latents", cond["y"][:, 4:, :cfg.num_refs])
        return cond

    @torch.no_grad()
    def negative_face_tokens(self, shape: tuple[int, ...], device) -> torch.Tensor:
        """Face tokens of an all -1 (black) clip of face crops ``shape`` [B, 3, F, S, S].

        The motion encoder sees each frame on its own, so one frame is encoded and repeated
        before the (temporal) face encoder: F - 1 fewer passes at 512x512 per window length.
        """
        b, _, f, s, _ = shape
        one = torch.full((1, 3, s, s), -1.0, device=device, dtype=self.compute_dtype)
        motion = self.motion_encoder(one)
        return self.face_encoder(motion.reshape(1, 1, -1).expand(b, f, -1))

    def inject_signals(self, h: torch.Tensor, signals: dict) -> torch.Tensor:
        """Add further conditioning entries to the patch-embedded input ``h`` [B, D, T, H', W']
        (reference slots first). The base model consumes none; a variant that reads a new
        signal overrides this and lists the entry in its contract."""
        raise DreamActorError(f"this model does not consume the conditioning entries {sorted(signals)}; "
                              "use a model variant whose contract lists them")

    # -- face path -----------------------------------------------------------------------------
    def encode_face(self, face_pixels: torch.Tensor, chunk: int = 8) -> torch.Tensor:
        """Face crops [B, 3, F, S, S] in [-1, 1] -> face tokens [B, lat_t, groups + 1, D]."""
        if not self.config.has_face:
            raise DreamActorError("encode_face: this model has no face path (face_every = 0)")
        s = self.config.face_size
        if face_pixels.ndim != 5 or face_pixels.shape[1] != 3 or tuple(face_pixels.shape[3:]) != (s, s):
            raise DreamActorError(f"face_pixels must be [B, 3, F, {s}, {s}] in [-1, 1], got "
                                  f"{list(face_pixels.shape)}; crop and resize faces to {s}x{s}")
        b, f = face_pixels.shape[0], face_pixels.shape[2]
        frames = face_pixels.transpose(1, 2).flatten(0, 1).to(self.compute_dtype)
        motion = self.motion_encoder(frames, chunk=chunk).unflatten(0, (b, f))
        return self.face_encoder(motion)

    # -- forward -------------------------------------------------------------------------------
    @torch.no_grad()
    def prepare_context(self, context, clip_fea=None) -> ContextCache:
        """Text (and CLIP) tokens embedded and every block's cross-attention K/V, for all the calls of
        one window's branch (``forward(..., context_cache=)``); see :mod:`.context_cache`."""
        text = self.text_embedding(pad_text(context, self.config.text_len).to(dtype=self.compute_dtype))
        img = self._clip(clip_fea)
        return ContextCache(text, img, tuple(block.cross_attn.kv(text, img) for block in self.blocks))

    def forward(self, x, t, context, clip_fea=None, y=None, pose_latents=None, face_pixels=None,
                face_tokens=None, ref_latents=None, context_cache: ContextCache | None = None,
                **signals) -> torch.Tensor:
        """One denoiser call; returns the flow prediction [B, out_dim, T, H, W] (reference slots included).

        ``ref_latents`` [B, C, num_refs, H, W], when given, replaces the reference slots of ``x``
        with clean reference latents (DreamActor-M1 style). Without face pixels or tokens the
        Face Attn layers are skipped. ``context_cache`` (from :meth:`prepare_context`) stands for
        ``context`` and ``clip_fea``, which are then not read. Further keyword entries go to
        :meth:`inject_signals` (a variant's own signals).
        """
        cfg, cdt = self.config, self.compute_dtype
        b, _, frames, hh, ww = self._check_latent(x)
        r = cfg.num_refs
        if ref_latents is not None:
            x = torch.cat([ref_latents.to(x.dtype), x[:, :, r:]], dim=2)
        h = self.patch_embedding(self._model_input(x, y, pose_latents).to(cdt))
        if cfg.pose_mode == "add" and pose_latents is not None:
            pose = self.pose_patch_embedding(pose_latents.to(cdt))
            h = torch.cat([h[:, :, :r], h[:, :, r:] + pose], dim=2)
        if signals:
            h = self.inject_signals(h, signals)
        grid = tuple(h.shape[2:])
        tokens = h.flatten(2).transpose(1, 2).float()

        t = torch.as_tensor(t, device=x.device).reshape(-1)
        if t.numel() not in (1, b):
            raise DreamActorError(f"t must hold one timestep per batch item ({b}), got {t.numel()}")
        t = t.expand(b)
        e = self.time_embedding(sinusoidal_embedding(t, cfg.freq_dim).to(cdt))
        e0 = self.time_projection(e).unflatten(1, (6, -1))
        if context_cache is None:
            text = self.text_embedding(pad_text(context, cfg.text_len).to(device=x.device, dtype=cdt))
            img, kvs = self._clip(clip_fea), [None] * len(self.blocks)
        else:
            context_cache.check(b, len(self.blocks), x.device)
            text, img, kvs = context_cache.text, context_cache.img, context_cache.kv
        face = self._face_tokens(face_pixels, face_tokens, b, frames - r)
        rope = self._rope(grid, x.device)
        ref_tokens = r * grid[1] * grid[2]

        for i, block in enumerate(self.blocks):
            tokens = block(tokens, e0, text, img, rope, self._attn, ref_tokens, kvs[i])
            j = cfg.face_block_index(i)
            if j is not None and face is not None:
                tokens = tokens + self.face_adapter.fuser_blocks[j](tokens.to(cdt), face, self._attn).float()
        out = self.head(tokens, e, cdt)
        return unpatchify(out, grid, cfg.patch).to(x.dtype)

    def _check_latent(self, x: torch.Tensor):
        cfg = self.config
        if x.ndim != 5 or x.shape[1] != cfg.out_dim:
            raise DreamActorError(f"x must be a latent [B, {cfg.out_dim}, T, H, W], got {list(x.shape)}")
        if x.shape[2] <= cfg.num_refs:
            raise DreamActorError(f"x has {x.shape[2]} latent frames; it needs {cfg.num_refs} reference "
                                  "slot(s) followed by at least one video frame")
        _, ph, pw = cfg.patch
        if x.shape[3] % ph or x.shape[4] % pw:
            raise DreamActorError(f"latent size {x.shape[3]}x{x.shape[4]} must be divisible by the patch "
                                  f"{ph}x{pw}; use image sizes that are multiples of {8 * ph}")
        return x.shape

    def _model_input(self, x, y, pose_latents) -> torch.Tensor:
        """cat(x, y[, pose]) along channels; concat-mode pose gets zero reference slots."""
        cfg = self.config
        parts = [x]
        if cfg.y_dim:
            if y is None or tuple(y.shape) != (x.shape[0], cfg.y_dim, *x.shape[2:]):
                got = None if y is None else list(y.shape)
                raise DreamActorError(f"y must be [B, {cfg.y_dim}, T, H, W] matching x {list(x.shape)}, got {got}")
            parts.append(y.to(x.dtype))
        if pose_latents is not None:
            want = (x.shape[0], POSE_CHANNELS, x.shape[2] - cfg.num_refs, *x.shape[3:])
            if tuple(pose_latents.shape) != want:
                raise DreamActorError(f"pose_latents must be {list(want)} (video frames only, no reference "
                                      f"slots), got {list(pose_latents.shape)}")
        if cfg.pose_mode == "concat":
            pose = pose_latents if pose_latents is not None else x.new_zeros(
                x.shape[0], POSE_CHANNELS, x.shape[2] - cfg.num_refs, *x.shape[3:])
            parts.append(F.pad(pose.to(x.dtype), (0, 0, 0, 0, cfg.num_refs, 0)))
        return torch.cat(parts, dim=1)

    def _clip(self, clip_fea):
        if not self.config.has_clip:
            return None
        if clip_fea is None:
            raise DreamActorError("clip_fea [B, 257, 1280] (CLIP vision penultimate tokens of the reference) "
                                  "is required by this image-to-video model")
        return self.img_emb(clip_fea.to(self.compute_dtype))

    def _face_tokens(self, face_pixels, face_tokens, b: int, lat_t: int):
        cfg = self.config
        if not cfg.has_face or (face_pixels is None and face_tokens is None):
            return None
        if face_tokens is None:
            face_tokens = self.encode_face(face_pixels)
        want = (b, lat_t, cfg.face_groups + 1, cfg.dim)
        if tuple(face_tokens.shape) != want:
            hint = f"pass {4 * (lat_t - 1) + 1} face frames" if face_pixels is not None else f"expected {list(want)}"
            raise DreamActorError(f"face tokens have shape {list(face_tokens.shape)} but the latent has "
                                  f"{lat_t} video frames: {hint}")
        # reference slots get all-zero face tokens
        return F.pad(face_tokens.to(self.compute_dtype), (0, 0, 0, 0, cfg.num_refs, 0))

    def _rope(self, grid, device):
        key = (grid, str(device))
        if key not in self._rope_cache:
            self._rope_cache = {key: rope_table(*rope_angles(grid, self.config.head_dim, device=device))}
        return self._rope_cache[key]

    # -- loading -------------------------------------------------------------------------------
    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load an official-layout state dict (no key prefixes).

        Accepts files with or without the constant blur-kernel buffers, and fp8 "scaled"
        files: ``<linear>.scale_weight`` scalars are attached to their linear layers and
        multiplied into the upcast weight at run time (``scale_input`` and the ``scaled_fp8``
        marker are ignored). With ``strict`` a mismatch raises a DreamActorError listing
        samples of the missing, unexpected and wrongly shaped keys.
        """
        sd = dict(state_dict)
        sd.pop("scaled_fp8", None)
        for k in [k for k in sd if k.endswith(".scale_input")]:
            del sd[k]
        modules = dict(self.named_modules())
        for k in [k for k in sd if k.endswith(".scale_weight")]:
            mod = modules.get(k.rsplit(".", 1)[0])
            if isinstance(mod, Linear):  # otherwise left for the key check to report
                sd[k] = sd[k].float().reshape(())
                mod.scale_weight = torch.ones((), device=mod.weight.device)
        own = self.state_dict(keep_vars=True)
        device = next(iter(sd.values())).device if sd else "cpu"
        for name in own:
            if name.endswith(".kernel") and name not in sd:
                sd[name] = blur_kernel().to(device)
        if strict:
            _check_keys(own, sd)
        return super().load_state_dict(sd, strict=strict, assign=assign)


def _check_keys(own: dict, sd: dict) -> None:
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shape = sorted(k for k in set(own) & set(sd) if tuple(own[k].shape) != tuple(sd[k].shape))
    if not (missing or unexpected or shape):
        return
    lines = ["state dict does not match the AnimateDiT built from its config:"]
    for label, keys in (("missing", missing), ("unexpected", unexpected)):
        if keys:
            lines.append(f"  {len(keys)} {label} keys, e.g. {', '.join(keys[:5])}")
    if shape:
        ex = ", ".join(f"{k} {list(sd[k].shape)} vs {list(own[k].shape)}" for k in shape[:5])
        lines.append(f"  {len(shape)} keys with other shapes (file vs model), e.g. {ex}")
    raise DreamActorError("\n".join(lines))
