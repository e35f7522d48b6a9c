"""Classifier-free guidance and per-signal strengths for one denoiser call per step.

The negative branch is the one Wan2.2-Animate builds: the negative text and face
crops that are all -1 (a black face, i.e. "no expression"), with the same pose,
reference, mask and CLIP features as the positive branch.

Pose and face strengths each act only inside a window ``[start, end]`` of the
schedule (percent 0 = first step, 1 = end; see :mod:`.schedule`). A strength
``s`` blends between the signal's "absent" value and its real value:
``absent + s * (real - absent)``. Absent pose is the latent of a black pose video
(what the pose branch sees when there is nobody to follow); absent face is the
negative branch's face tokens. So ``s = 0`` switches a signal off without
feeding the model anything it never saw in training, and ``s = 1`` is the
official behaviour.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..utils import DreamActorError
from .conditioning import WindowConditioning


@dataclass
class StrengthWindow:
    """A signal strength applied from ``start`` to ``end`` percent of the schedule."""

    strength: float = 1.0
    start: float = 0.0
    end: float = 1.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.start <= self.end <= 1.0):
            raise DreamActorError(
                f"strength window: need 0 <= start <= end <= 1, got start={self.start}, end={self.end}")
        if not -10.0 <= self.strength <= 10.0:
            raise DreamActorError(f"strength: {self.strength} is out of range [-10, 10]")

    def at(self, percent: float) -> float:
        """Strength at schedule ``percent`` (0 outside the window)."""
        return float(self.strength) if self.start <= percent <= self.end else 0.0


@dataclass
class GuidanceSettings:
    """CFG scale plus pose and face strength windows (cfg 1 = one model call per step)."""

    cfg: float = 1.0
    pose: StrengthWindow = field(default_factory=StrengthWindow)
    face: StrengthWindow = field(default_factory=StrengthWindow)

    @property
    def pose_always_full(self) -> bool:
        """True when the pose strength is 1 over the whole schedule (no "absent pose" needed)."""
        p = self.pose
        return p.strength == 1.0 and p.start == 0.0 and p.end == 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.cfg <= 30.0:
            raise DreamActorError(f"cfg: {self.cfg} is out of range [0, 30]; Wan2.2-Animate uses 1.0")


def _blend(absent: torch.Tensor, real: torch.Tensor, s: float) -> torch.Tensor:
    if s == 1.0:
        return real
    if s == 0.0:
        return absent
    return absent + s * (real - absent)


@torch.no_grad()
def negative_face_tokens(model, shape: tuple[int, ...], device) -> torch.Tensor:
    """Face tokens of the negative branch (every face pixel -1) for face crops of ``shape`` [B,3,F,S,S].

    The motion encoder sees each frame on its own, so for a constant black clip one
    frame is encoded and repeated before the (temporal) face encoder; that saves
    F - 1 passes of the ~23M-parameter encoder at 512x512 per window.
    """
    b, _, f, s, _ = shape
    if hasattr(model, "motion_encoder") and hasattr(model, "face_encoder"):
        dtype = getattr(model, "compute_dtype", torch.float32)
        one = torch.full((1, 3, s, s), -1.0, device=device, dtype=dtype)
        motion = model.motion_encoder(one)
        return model.face_encoder(motion.reshape(1, 1, -1).expand(b, f, -1))
    return model.encode_face(torch.full(tuple(shape), -1.0, device=device))


class GuidedDenoiser:
    """Velocity function ``(x, sigma, step) -> v`` for :func:`.solvers.sample`.

    Face tokens for both branches are computed once per window (the motion
    encoder is large and its input does not change between steps).
    """

    def __init__(self, model, cond: WindowConditioning, settings: GuidanceSettings, steps: int,
                 cache: dict | None = None):
        self.model = model
        self.cond = cond
        self.settings = settings
        self.steps = int(steps)
        self.calls = 0
        self.face_pos, self.face_neg = self._face_tokens({} if cache is None else cache)
        # text/CLIP embeddings and every block's cross-attention K/V: once per window and branch
        self.context_pos, self._context_neg = self._context(cond.context), None

    @torch.no_grad()
    def _face_tokens(self, cache: dict):
        c = self.cond
        if c.face_pixels is None and c.face_tokens is None:
            return None, None
        if not hasattr(self.model, "encode_face"):
            if c.face_tokens is not None:
                raise DreamActorError("face tokens: this model takes face crops, not precomputed tokens")
            return c.face_pixels, torch.full_like(c.face_pixels, -1.0)  # model takes pixels directly
        if c.face_pixels is not None:
            shape, device = tuple(c.face_pixels.shape), c.face_pixels.device
        else:  # the negative branch still needs black crops of the window's length
            size = int(getattr(getattr(self.model, "config", None), "face_size", 512))
            shape, device = (c.face_tokens.shape[0], 3, c.frames, size, size), c.face_tokens.device
        key = ("negative_face", shape, str(device))
        if key not in cache:  # the same for every window of this length
            cache[key] = negative_face_tokens(self.model, shape, device)
        pos = c.face_tokens if c.face_tokens is not None else self.model.encode_face(c.face_pixels)
        return pos, cache[key]

    def _context(self, context):
        """The model's per-window context cache (model/context_cache.py), for models that make one."""
        if not hasattr(self.model, "prepare_context"):
            return None
        with torch.no_grad():
            return self.model.prepare_context(context, self.cond.clip_fea)

    @property
    def context_neg(self):
        """The negative branch's cache, made at its first call (never at CFG 1)."""
        if self._context_neg is None:
            self._context_neg = self._context(self.cond.context_null)
        return self._context_neg

    def _face_kw(self, tokens):
        if tokens is None:
            return {}
        key = "face_tokens" if hasattr(self.model, "encode_face") else "face_pixels"
        return {key: tokens}

    def _call(self, x, t, context, pose, face, context_cache=None):
        self.calls += 1
        c = self.cond
        kw = self._face_kw(face)
        if context_cache is not None:
            kw["context_cache"] = context_cache
        if getattr(getattr(self.model, "config", None), "ref_attn", False):
            # DreamActor-M1 variant: the reference slots hold the clean reference latents
            kw["ref_latents"] = c.y[:, 4:, :c.num_refs]
        return self.model(x, t, context, clip_fea=c.clip_fea, y=c.y, pose_latents=pose, **kw)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, sigma: float, step: int) -> torch.Tensor:
        c = self.cond
        percent = step / self.steps
        t = torch.full((x.shape[0],), sigma * 1000.0, dtype=torch.float32, device=x.device)
        pose = None
        if c.pose_latents is not None:
            s = self.settings.pose.at(percent)
            if c.pose_null is None and s != 1.0:
                raise DreamActorError("pose strength != 1 needs the black-video pose latents (pose_null)")
            pose = _blend(c.pose_null, c.pose_latents, s)
        face_s = self.settings.face.at(percent)
        face = None if self.face_pos is None else _blend(self.face_neg, self.face_pos, face_s)
        v = self._call(x, t, c.context, pose, face, self.context_pos).float()
        cfg = self.settings.cfg
        if cfg != 1.0:
            v_neg = self._call(x, t, c.context_null, pose, self.face_neg, self.context_neg).float()
            v = v_neg + cfg * (v - v_neg)
        if not torch.isfinite(v).all():
            raise FloatingPointError(f"the model returned NaN/inf at step {step} (sigma {sigma:.4f}); "
                                     "try compute dtype float32 or bfloat16 instead of float16")
        return v
