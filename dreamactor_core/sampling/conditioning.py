"""Model inputs for one window, laid out as Wan2.2-Animate expects them.

For a window of ``F = 4n + 1`` video frames there are ``lat_t = n + 1`` video
latent frames, and the DiT works on ``T = R + lat_t`` latent frames where the
first ``R`` (1 for Wan2.2-Animate) hold reference images:

* ``y`` [1, 20, T, h, w]: per reference slot 4 mask channels of ones and the
  reference's VAE latent; per video latent frame 4 mask channels and the latent
  of the "temporal guidance" video: the last ``refert`` generated frames of the
  previous window followed by zeros (mid-grey), or all zeros in the first window.
  The mask is built per pixel frame (first ``refert`` flags 1), the first flag
  repeated 4 times, then grouped by 4 into the 4 channels of each latent frame.
* ``pose_latents`` [1, 16, lat_t, h, w]: VAE latents of the rendered guidance
  video (no reference slot); ``pose_null`` the latents of a black video.
* ``face_pixels`` [1, 3, F, S, S] in [-1, 1]: one face crop per video frame, or
  ``face_tokens`` [1, lat_t, K, D]: face motion tokens the caller already made
  (e.g. an artist's edited tokens); at most one of the two is set.
* ``context`` / ``context_null`` [1, L, 4096] umT5 embeddings; ``clip_fea``
  [1, 257, 1280] CLIP vision tokens of the reference (or None when the
  checkpoint has no CLIP branch).

These are the built-in entries of the window's :class:`~dreamactor_core.model.entries.Conditioning`
(negative text and black-video pose latents ride along as the negative of ``context`` and the
absent value of ``pose_latents``); the sampler passes them to the model by name.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..model.contract import ModelContract
from ..model.entries import Conditioning, entry
from ..utils import DreamActorError
from .replace import known_video, replace_mask
from .windows import Window, take, take_latents

log = logging.getLogger("dreamactor.sampling")
LATENT_CHANNELS = 16


def latent_frames(frames: int) -> int:
    """Video latent frames for ``frames`` pixel frames (which must be 4n + 1)."""
    if frames < 1 or (frames - 1) % 4:
        lo = max(1, (frames - 1) // 4 * 4 + 1)
        raise DreamActorError(f"frames per window: {frames} is not of the form 4n+1 (the VAE packs 4 frames "
                              f"per latent after the first); use {lo} or {lo + 4}")
    return (frames - 1) // 4 + 1


def to_model_video(frames) -> torch.Tensor:
    """uint8 [T,H,W,3] (numpy or torch) or float [T,H,W,3] in [0,1] -> float [1,3,T,H,W] in [-1,1]."""
    t = torch.as_tensor(np.asarray(frames)) if isinstance(frames, np.ndarray) else frames
    if t.dtype == torch.uint8:
        t = t.float() / 127.5 - 1.0
    else:
        t = t.float() * 2.0 - 1.0
    return t.permute(3, 0, 1, 2).unsqueeze(0).contiguous()


def frame_mask(frames: int, mask_len: int, h: int, w: int) -> torch.Tensor:
    """The 4 mask channels of the video latent frames: [1, 4, lat_t, h, w]."""
    lat_t = latent_frames(frames)
    flags = torch.zeros(frames)
    flags[:mask_len] = 1.0
    flags = torch.cat([flags[:1].repeat(4), flags[1:]])  # first frame stands for 4
    groups = flags.view(lat_t, 4).t()  # [4, lat_t]: channel c of latent j = flag 4j + c
    return groups[None, :, :, None, None].expand(1, 4, lat_t, h, w).contiguous()


def fill_reference(temporal: torch.Tensor, reference: torch.Tensor, mask_len: int = 0) -> torch.Tensor:
    """``temporal`` [B,16,T,h,w] with every latent frame that holds none of the first ``mask_len``
    (carried) pixel frames replaced by ``reference`` [B,16,1,h,w] (checkpoints with ``ref_fill``)."""
    carried = 0 if mask_len <= 0 else 1 + (mask_len - 1 + 3) // 4  # latent j >= 1 covers frames 4j-3..4j
    out = temporal.clone()
    out[:, :, carried:] = reference.to(out.dtype)
    return out


def module_device(module) -> torch.device:
    """Device of a module's first parameter (CPU for parameter-free stand-ins)."""
    try:
        return next(module.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


@dataclass
class TextInputs:
    """Text and CLIP-vision conditioning shared by every window."""

    context: torch.Tensor
    context_null: torch.Tensor
    clip_fea: torch.Tensor | None


def _as_context(value, name: str) -> torch.Tensor:
    t = torch.as_tensor(value).float()
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3 or t.shape[0] != 1 or t.shape[-1] != 4096:
        raise DreamActorError(f"{name}: expected umT5 embeddings [L, 4096] (or [1, L, 4096]), got {tuple(t.shape)}")
    return t


def prepare_text(contract: ModelContract | None, text=None, text_null=None, clip_fea=None, *,
                 strict: bool = False) -> TextInputs:
    """Check and shape text/CLIP inputs for a model's ``contract`` (None: before any model is
    chosen, Wan2.2-Animate's text length 512 and CLIP branch).

    Missing text becomes zeros with a logged warning (zeros are what the model
    sees for padding, so any zero length is equivalent). Missing CLIP features
    where the checkpoint has a CLIP branch become zeros with a warning, or an
    error when ``strict``.
    """
    if text is None:
        log.warning("no text embeddings given: using zeros (give umT5 embeddings for the prompt to steer the result)")
        context = torch.zeros(1, 1, 4096)
    else:
        context = _as_context(text, "text")
    context_null = torch.zeros(1, 1, 4096) if text_null is None else _as_context(text_null, "negative text")
    contract = contract or ModelContract(has_clip=True)
    text_len = contract.text_len
    for name, c in (("text", context), ("negative text", context_null)):
        if c.shape[1] > text_len:
            raise DreamActorError(f"{name}: {c.shape[1]} tokens, more than the checkpoint's text_len {text_len}")
    if not contract.has_clip:
        clip = None
    elif clip_fea is None:
        msg = ("clip_fea: this checkpoint has a CLIP image branch but no CLIP vision features were given; "
               "encode the reference with CLIP ViT-H/14 (penultimate hidden states, [257, 1280])")
        if strict:
            raise DreamActorError(msg)
        log.warning(msg + "; using zeros")
        clip = torch.zeros(1, 257, 1280)
    else:
        clip = torch.as_tensor(clip_fea).float()
        if clip.dim() == 2:
            clip = clip.unsqueeze(0)
        if clip.shape[-2:] != (257, 1280):
            raise DreamActorError(f"clip_fea: expected [257, 1280] CLIP vision tokens, got {tuple(clip.shape)}")
    return TextInputs(context, context_null, clip)


@dataclass
class WindowConditioning:
    """One window's conditioning entries (batch 1, on the model's device), its reference slots and
    video frames."""

    entries: Conditioning
    num_refs: int
    frames: int

    @classmethod
    def standard(cls, *, y, context, context_null, clip_fea=None, pose_latents=None, pose_null=None,
                 face_pixels=None, face_tokens=None, num_refs: int = 1, frames: int) -> "WindowConditioning":
        """The built-in entries: ``y``, text (``context_null`` its negative), CLIP features, pose
        latents (``pose_null`` what pose strength 0 gives), face crops or face tokens."""
        c = Conditioning().set("y", y).set("context", context, negative=context_null)
        if clip_fea is not None:
            c.set("clip_fea", clip_fea)
        if pose_latents is not None:
            c.set("pose_latents", pose_latents, absent=pose_null)
        if face_pixels is not None:
            c.set("face_pixels", face_pixels)
        if face_tokens is not None:  # its negative (black-face tokens) is the model's to make
            c.set("face_tokens", face_tokens)
        return cls(c, int(num_refs), int(frames))

    @property
    def y(self) -> torch.Tensor:
        return self.entries["y"]

    @property
    def latent_shape(self) -> tuple[int, ...]:
        _, _, t, h, w = self.y.shape
        return (1, LATENT_CHANNELS, t, h, w)

    def to(self, device) -> "WindowConditioning":
        return WindowConditioning(self.entries.to(device), self.num_refs, self.frames)


class Encoder:
    """VAE encoding with a cache for the constant videos every window reuses."""

    def __init__(self, vae):
        self.vae = vae
        self.device = module_device(vae)
        self._cache: dict = {}

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(video.to(self.device)).float()

    def constant(self, value: float, frames: int, height: int, width: int) -> torch.Tensor:
        """Latent of a constant video (-1 black, 0 grey), computed once per size."""
        key = (value, frames, height, width)
        if key not in self._cache:
            self._cache[key] = self.encode(torch.full((1, 3, frames, height, width), value))
        return self._cache[key]

    def references(self, images) -> torch.Tensor:
        """Each reference image [H,W,3] encoded alone as one latent frame -> [1, 16, R, h, w]."""
        return torch.cat([self.encode(to_model_video(np.asarray(im)[None])) for im in images], dim=2)


def face_pixels(crops, size: int = 512) -> torch.Tensor:
    """Face crops uint8 [F,S,S,3] -> [1, 3, F, size, size] in [-1, 1] (resized when S != size)."""
    video = to_model_video(crops)
    if video.shape[-2:] != (size, size):
        t = video[0].permute(1, 0, 2, 3)
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        video = t.permute(1, 0, 2, 3).unsqueeze(0)
    return video


def build_window(encoder: Encoder, ref_latents: torch.Tensor, guidance, faces, text: TextInputs,
                 refert=None, *, face_size: int = 512, pose: bool = True, pose_null: bool = True,
                 pose_latents=None, face_tokens=None, ref_fill: bool = False,
                 replacement=None) -> WindowConditioning:
    """Conditioning for one window.

    ``guidance`` uint8 [F,H,W,3] rendered pose video, ``faces`` uint8 [F,S,S,3]
    face crops (or None), ``refert`` float [r,H,W,3] in [-1,1] carried frames
    from the previous window (or None in the first one). ``pose`` False leaves
    the pose out; ``pose_null`` False skips the black-video latents (only needed
    for pose strength != 1). Precomputed signals replace their source:
    ``pose_latents`` (normalized [1,16,lat_t,h,w]) stands for ``guidance``
    (which may then be None; F = 4 (lat_t - 1) + 1), and ``face_tokens``
    [1,lat_t,K,D] for ``faces``. ``ref_fill`` (from the checkpoint's config) puts the first
    reference's latent in the temporal guidance of every latent frame with no carried frame.
    ``replacement`` (a :class:`.replace.Replacement` cut to this window) switches to
    replacement mode: the temporal guidance is the background video after the carried
    frames, and its mask channels are 1 on the background, 0 on the character.
    """
    if pose_latents is not None:
        if guidance is not None:
            raise DreamActorError("pose: give guidance frames or pose latents, not both")
        lat_t, h, w = (int(v) for v in pose_latents.shape[2:])
        frames, height, width = 4 * (lat_t - 1) + 1, h * 8, w * 8
    elif guidance is None:
        raise DreamActorError("guidance: a pose/guidance video (or its pose latents) is required for every window")
    else:
        frames, height, width = int(guidance.shape[0]), int(guidance.shape[1]), int(guidance.shape[2])
        lat_t = latent_frames(frames)
        h, w = height // 8, width // 8
    if ref_latents.shape[-2:] != (h, w):
        raise DreamActorError(f"reference: latent size {tuple(ref_latents.shape[-2:])} does not match the "
                              f"guidance's {h}x{w} (frame {width}x{height}); frame the reference at the same size")
    if faces is not None and face_tokens is not None:
        raise DreamActorError("face: give face crops or face tokens, not both")
    if faces is not None and int(faces.shape[0]) != frames:
        raise DreamActorError(f"face crops: {faces.shape[0]} frames but the pose guidance has {frames}; "
                              "give one face crop per guidance frame")
    if face_tokens is not None and int(face_tokens.shape[1]) != lat_t:
        raise DreamActorError(f"face tokens: {face_tokens.shape[1]} token frames but the pose has {lat_t} latent "
                              "frames; make both from the same clip")
    r = ref_latents.shape[2]
    mask_len = 0 if refert is None else int(refert.shape[0])
    videos = []
    if replacement is not None:
        if replacement.background.shape[:3] != (frames, height, width):
            raise DreamActorError(f"background video: window of {replacement.background.shape[0]} frames of "
                                  f"{replacement.background.shape[2]}x{replacement.background.shape[1]} px, "
                                  f"but the guidance has {frames} of {width}x{height}")
        videos.append(known_video(replacement.background, refert, frames))
    elif mask_len:
        known = torch.zeros(1, 3, frames, height, width)
        known[:, :, :mask_len] = refert[:frames].permute(3, 0, 1, 2).unsqueeze(0).float()
        videos.append(known)
    encode_pose = pose and pose_latents is None
    if encode_pose:
        videos.append(to_model_video(guidance))
    # one batched VAE call for the known-frames video and the pose video
    encoded = list(encoder.encode(torch.cat(videos)).split(1)) if videos else []
    temporal = encoded.pop(0) if (mask_len or replacement is not None) else encoder.constant(0.0, frames, height, width)
    dev = temporal.device
    if ref_fill and replacement is None:  # the background already shows the scene at every frame
        temporal = fill_reference(temporal, ref_latents[:, :, :1].to(dev), mask_len)
    pose_lat = None
    if pose:
        pose_lat = encoded.pop(0) if encode_pose else pose_latents.to(dev).float()
    ref_part = torch.cat([torch.ones(1, 4, r, h, w, device=dev), ref_latents.to(dev)], dim=1)
    vmask = frame_mask(frames, mask_len, h, w) if replacement is None else replace_mask(replacement.mask, mask_len, h, w)
    vid_part = torch.cat([vmask.to(dev), temporal], dim=1)
    y = torch.cat([ref_part, vid_part], dim=2)
    null = encoder.constant(-1.0, frames, height, width) if (pose and pose_null) else None
    assert pose_lat is None or pose_lat.shape[2] == lat_t
    face = None if faces is None else face_pixels(faces, face_size).to(dev)
    return WindowConditioning.standard(
        y=y, pose_latents=pose_lat, pose_null=null, face_pixels=face,
        context=text.context.to(dev), context_null=text.context_null.to(dev),
        clip_fea=None if text.clip_fea is None else text.clip_fea.to(dev), num_refs=r, frames=frames,
        face_tokens=None if face_tokens is None else face_tokens.to(dev))


def check_precomputed(pose_latents, face_tokens, guidance, faces) -> tuple[int | None, int | None, int | None]:
    """Check precomputed pose latents / face tokens; returns (total frames, width, height) from the latents."""
    total = gw = gh = None
    if pose_latents is not None:
        if guidance is not None:
            raise DreamActorError("pose latents: give guidance frames or pose latents, not both")
        if pose_latents.ndim != 5 or pose_latents.shape[:2] != (1, 16) or pose_latents.shape[2] == 0:
            raise DreamActorError(f"pose latents: expected a normalized video latent [1, 16, T, h, w], got "
                                  f"{tuple(pose_latents.shape)}")
        lat_t, lh, lw = (int(v) for v in pose_latents.shape[2:])
        if lh % 2 or lw % 2:
            raise DreamActorError(f"pose latents: latent size {lh}x{lw} must be even (frames a multiple of 16 "
                                  "pixels); encode guidance rendered at such a size")
        total, gw, gh = 4 * (lat_t - 1) + 1, lw * 8, lh * 8
    if face_tokens is not None:
        if faces is not None:
            raise DreamActorError("face tokens: give face crops or face tokens, not both")
        if face_tokens.ndim != 4 or face_tokens.shape[0] != 1:
            raise DreamActorError(f"face tokens: expected [1, T, K, D] from Face Motion Encode, got "
                                  f"{tuple(face_tokens.shape)}")
    return total, gw, gh


def check_signals(signals, contract: ModelContract, total: int) -> dict:
    """Check whole-clip conditioning entries given by name (a new signal's tensors) against the
    model's contract and the video's ``total`` frames, before any heavy work."""
    out = {}
    for name, t in (signals or {}).items():
        spec = entry(name)
        if name not in contract.consumes:
            raise DreamActorError(f"{name}: this model does not consume it (it takes {', '.join(sorted(contract.consumes))}); "
                                  "load a model variant that reads it, or leave it out")
        if spec.negative == "given":
            raise DreamActorError(f"{name}: its negative branch value is made with it; give it per window")
        t = torch.as_tensor(t).float()
        if t.dim() < 1 or t.shape[0] != 1:
            raise DreamActorError(f"{name}: expected batch 1 (a leading axis of 1), got {tuple(t.shape)}")
        if spec.time_axis is not None:
            have = int(t.shape[spec.time_axis])
            need = total if spec.rate == "pixel" else (total - 1) // 4 + 1
            if have != need:
                raise DreamActorError(f"{name}: {have} {spec.rate} frames on axis {spec.time_axis}, but the "
                                      f"{total}-frame guidance needs {need}; make it from the same clip")
        out[name] = t
    return out


def cut_entry(name: str, t: torch.Tensor, win: Window, pad: str = "reflect") -> torch.Tensor:
    """Window ``win`` of a whole-clip entry, cut as its spec says (time axis, latent or pixel rate).

    Past the clip's end pixel-rate entries continue as :func:`.windows.take` ``pad`` says; latent
    ones repeat their last latent frame (a latent cannot be reflected frame by frame).
    """
    spec = entry(name)
    if spec.time_axis is None:
        return t
    if spec.rate == "latent":
        return take_latents(t, win, spec.time_axis)
    return take(t.movedim(spec.time_axis, 0), win.start, win.length, pad).movedim(0, spec.time_axis)
