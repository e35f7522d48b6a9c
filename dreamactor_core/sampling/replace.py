"""Replacement mode: the new person is generated inside the driver's mask, the scene is kept.

Wan2.2-Animate's replacement conditioning differs from animation mode only in the
video part of ``y`` (the reference slot is the same):

* the "temporal guidance" video is the **background video** (the driving frames with
  the character's region blacked out) instead of grey, with the carried frames of the
  previous window in front of it as usual;
* its 4 mask channels hold, per pixel frame, ``1 - character_mask`` sampled at the latent
  grid (nearest: the top-left pixel of each 8x8 cell), i.e. 1 on the known background
  and 0 where the character is generated; carried frames are all 1. The first pixel
  frame stands for 4, then every 4 pixel frames fill the 4 channels of a latent frame,
  exactly as in animation mode.

Masks here are float ``[T, H, W]`` in [0, 1] with 1 on the character (ComfyUI's MASK).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..utils import DreamActorError


@dataclass
class Replacement:
    """The scene to keep: ``background`` uint8 ``[T, H, W, 3]`` and ``mask`` float32 ``[T, H, W]`` (1 = character)."""

    background: np.ndarray
    mask: np.ndarray
    keep_scene: bool = True  # put the scene's latent back outside the mask after sampling (see keep_scene)


def as_mask(mask, name: str = "character mask") -> np.ndarray:
    """A MASK-like input (numpy/torch ``[T, H, W]``, ``[T, H, W, 1]`` or one ``[H, W]``) as float32 ``[T, H, W]``."""
    m = mask.detach().float().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if m.dtype == np.uint8:
        m = m.astype(np.float32) / 255.0
    m = m.astype(np.float32)
    if m.ndim == 4 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3:
        raise DreamActorError(f"{name}: expected a MASK batch [frames, height, width], got shape {m.shape}")
    if not np.isfinite(m).all() or m.min() < 0 or m.max() > 1:
        raise DreamActorError(f"{name}: values must lie in [0, 1] (1 on the character)")
    return m


def check_replacement(background, mask, frames: int, width: int, height: int, *,
                      names: tuple[str, str] = ("background video", "character mask")) -> Replacement:
    """Check a background video and character mask against the driving video (``frames`` of ``width`` x ``height``).

    Raises before any heavy work when the counts or sizes differ, when the mask is empty (nothing
    would be replaced) or when it covers every pixel of every frame (no scene would be kept).
    """
    bg_name, mask_name = names
    bg = np.asarray(background)
    if bg.ndim != 4 or bg.shape[-1] != 3:
        raise DreamActorError(f"{bg_name}: expected frames [T, H, W, 3], got shape {bg.shape}")
    if bg.dtype != np.uint8:
        bg = (np.clip(bg.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    m = as_mask(mask, mask_name)
    for name, arr in ((bg_name, bg), (mask_name, m)):
        if arr.shape[0] != frames:
            raise DreamActorError(f"{name}: {arr.shape[0]} frames but the driving video has {frames}; "
                                  f"give one per driving frame (the same clip)")
        if arr.shape[1:3] != (height, width):
            raise DreamActorError(f"{name}: {arr.shape[2]}x{arr.shape[1]} px but the driving video is "
                                  f"{width}x{height}; make it from the same frames, at the same size")
    on = m >= 0.5
    if not on.any():
        raise DreamActorError(f"{mask_name}: it is empty (no pixel marks the character), so nothing would be "
                              f"replaced; give a mask of the person to replace (e.g. from DreamActor Character Mask)")
    if on.all():
        raise DreamActorError(f"{mask_name}: it covers every pixel of every frame, so no scene is left to keep; "
                              f"use animation mode, or a mask of the person only")
    return Replacement(bg, m)


def keep_scene(latent: torch.Tensor, y: torch.Tensor, mask: np.ndarray, carried: int, num_refs: int) -> torch.Tensor:
    """``latent`` with every latent cell the character never touches replaced by the scene's latent from ``y``.

    A cell (8x8 px over the 4 frames of a latent frame; the first latent frame is frame 0
    alone) is kept when the mask is 0 on all its pixels, so the generated person and its
    soft edge are never overwritten; carried frames are known whole. Outside the mask the
    output then differs from the driving video only by the VAE's round trip (and, next to
    the mask, by the decoder's mixing of neighbouring cells). Wan2.2-Animate relies on the
    model alone to copy the scene; a small or partly trained model drifts there.
    """
    m = torch.from_numpy(np.ascontiguousarray(mask, np.float32))
    touched = F.max_pool2d(m[:, None], 8)[:, 0]  # [F, h, w]
    touched[:carried] = 0.0
    touched = torch.cat([touched[:1].expand(4, *touched.shape[1:]), touched[1:]])
    touched = touched.view(-1, 4, *touched.shape[1:]).amax(1)  # [lat_t, h, w]
    known = (touched <= 1e-3).to(latent.dtype).to(latent.device)
    out = latent.clone()
    r = num_refs
    out[:, :, r:] = known * y[:, 4:, r:].to(latent.dtype) + (1 - known) * latent[:, :, r:]
    return out


def blackout(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The background video: ``frames`` (uint8 ``[T,H,W,3]``) blacked out where ``mask`` is on (soft edges scale)."""
    keep = 1.0 - np.asarray(mask, np.float32)[..., None]
    return (frames.astype(np.float32) * keep + 0.5).astype(np.uint8)


def known_video(background: np.ndarray, refert: torch.Tensor | None, frames: int) -> torch.Tensor:
    """The temporal guidance video ``[1, 3, F, H, W]`` in [-1, 1]: carried frames, then the background."""
    video = torch.from_numpy(np.ascontiguousarray(background[:frames])).float().div(127.5).sub(1.0)
    video = video.permute(3, 0, 1, 2).unsqueeze(0).contiguous()
    if refert is not None and refert.shape[0]:
        n = min(int(refert.shape[0]), frames)
        video[:, :, :n] = refert[:n].permute(3, 0, 1, 2).unsqueeze(0).float()
    return video


def replace_mask(mask: np.ndarray, carried: int, h: int, w: int) -> torch.Tensor:
    """The 4 mask channels of the video latent frames in replacement mode: ``[1, 4, lat_t, h, w]``."""
    frames = mask.shape[0]
    if (frames - 1) % 4:
        raise DreamActorError(f"character mask: a window of {frames} frames is not 4n+1")
    known = 1.0 - torch.from_numpy(np.ascontiguousarray(mask, np.float32))
    known = F.interpolate(known[:, None], size=(h, w), mode="nearest")[:, 0]  # [F, h, w]
    known[:carried] = 1.0
    known = torch.cat([known[:1].expand(4, h, w), known[1:]])  # the first frame stands for 4
    return known.view(-1, 4, h, w).transpose(0, 1).unsqueeze(0).contiguous()


def fit_replacement(background, mask, width: int, height: int, mode: str = "letterbox", *,
                    frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Background (uint8 ``[T,H,W,3]``) and mask (``[T,H,W]``) cut to ``frames`` and framed at
    ``width`` x ``height`` with the guidance's framing rule, so they line up with it pixel for pixel."""
    from ..signals.framing import resize_frames

    bg, m = np.asarray(background), as_mask(mask)
    if bg.ndim == 4 and m.shape[1:3] != bg.shape[1:3]:
        # Both are framed alike below; a mask of another size (or aspect) would land on the wrong pixels.
        raise DreamActorError(f"character mask: {m.shape[2]}x{m.shape[1]} px but the background video is "
                              f"{bg.shape[2]}x{bg.shape[1]}; make the mask from the same frames, at the same size")
    if frames:
        bg, m = bg[:frames], m[:frames]
    if bg.ndim == 4 and bg.shape[1:3] != (height, width):
        bg = np.asarray(resize_frames(bg, width, height, mode))
    if m.shape[1:3] != (height, width):
        m = np.clip(np.asarray(resize_frames(m[..., None], width, height, mode))[..., 0], 0.0, 1.0)
    return bg, m


def replacement_for(driving: np.ndarray, drive_motion, new_motion, width: int, height: int, aspect: str,
                    mask_settings) -> Replacement:
    """Background and mask for replacing the driver of ``driving`` by the body of ``new_motion``.

    The mask is the driver's character mask united with a generous cover of the new body
    (the retargeted motion, in the driving video's pixels), so no trace of the driver is
    left where the new person is smaller, and the new person has room where it is larger.
    Both are framed at ``width`` x ``height`` like the guidance.
    """
    from ..signals.character_mask import character_masks

    masks = character_masks(driving, drive_motion, mask_settings, name="driving video")
    masks = cover_new_body(masks, new_motion, mask_settings)
    # Checked here, not only by check_replacement, to say which setting to change. (An empty mask cannot
    # happen here: extraction already refuses a video where no person is found.)
    if (masks >= 0.5).all():
        raise DreamActorError("mask grow: the mask covers every pixel of every frame, so no scene is left to keep; "
                              "lower the grow, or use the segmentation shape")
    bg, m = fit_replacement(blackout(driving, masks), masks, width, height, aspect)
    return Replacement(bg, m)


def cover_new_body(masks: np.ndarray, new_motion, mask_settings) -> np.ndarray:
    """``masks`` (float ``[T, H, W]``, the driver's) united with a generous cover of the body ``new_motion``
    describes (the retargeted motion, in the same video's pixels), shaped like the masks.

    The new person has no pixels to segment yet; where it is smaller than the driver the
    driver's mask still hides the driver, where it is larger the cover gives it room.
    """
    from ..signals.character_mask import apply_shape
    from ..signals.character_pose import body_cover

    if new_motion.num_frames != len(masks):
        raise DreamActorError(f"new body: the motion has {new_motion.num_frames} frames but the mask has "
                              f"{len(masks)}; retarget the motion extracted from these frames")
    out = np.array(masks, np.float32, copy=True)
    h, w = out.shape[1:]
    for t in range(len(out)):
        cover = body_cover(new_motion, t, h, w)
        if cover.any():
            out[t] = np.maximum(out[t], apply_shape(cover, mask_settings))
    return out
