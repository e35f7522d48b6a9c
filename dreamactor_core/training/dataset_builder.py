"""Build a training cache from a folder of videos, once.

For every video: extract the motion, pick reference frames by head yaw (the
most left, the most right and the middle, as the paper does), put the clip in
a multi-resolution bucket by aspect and framing, render the guidance, crop the
faces and store the VAE latents of everything, one safetensors file per
window. Unreadable or unusable videos are skipped with a reason in the summary.
A motion extracted earlier and saved next to its video as ``<name>.motion.json``
(``Motion.to_json``) is reused instead of running the extractor again.

A reference photo of the performer next to a video (``<name>.ref.png`` or
``.ref.jpg``: the same person and camera framing, in another pose, e.g. standing
still before the take) is stored with every window of that video as
``photo_latents``. Artists animate a photo taken apart from the motion, so
training on it (``TrainConfig.photo_ref``) teaches the model to move a body
from a pose unlike the driving one; reference frames picked from a short clip
are rarely that far from the window's poses. An unreadable photo is listed
with the skipped files, and its video is cached without it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ..sampling.conditioning import module_device
from ..utils import CancelFn, DreamActorError, ProgressFn, check_cancel, report

VIDEO_EXTS = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif")
# (name, width/height) buckets; sizes are scaled to the requested base area and rounded to 16.
ASPECTS = (("square", 1.0), ("portrait", 3 / 4), ("tall", 9 / 16), ("landscape", 4 / 3), ("wide", 16 / 9))
# MediaPipe pose indices used to tell the framing.
_HIPS, _KNEES, _ANKLES = (23, 24), (25, 26), (27, 28)


@dataclass
class BuildSettings:
    base: int = 64  # sqrt of the target pixel area (480 for Wan-size training)
    window: int = 9  # frames per training window (4n + 1)
    stride: int = 8
    max_windows: int = 4
    refs: int = 3
    face_size: int = 0  # 0: no face crops stored
    aspect: str = "crop"


def bucket_size(width: int, height: int, base: int) -> tuple[str, int, int]:
    """The aspect bucket nearest to ``width/height`` and its size (multiples of 16) at area base^2."""
    ratio = width / height
    name, r = min(ASPECTS, key=lambda a: abs(np.log(a[1] / ratio)))
    w = max(16, int(round(base * np.sqrt(r) / 16)) * 16)
    h = max(16, int(round(base / np.sqrt(r) / 16)) * 16)
    return name, w, h


def framing_of(motion) -> str:
    """'full', 'upper' or 'portrait' from which body landmarks lie inside the image."""
    px = motion.body_px[..., :2]
    inside = (px[..., 0] >= 0) & (px[..., 0] < motion.width) & (px[..., 1] >= 0) & (px[..., 1] < motion.height)
    frac = lambda idx: float(np.nanmean(inside[:, list(idx)]))  # noqa: E731
    if frac(_ANKLES) > 0.5:
        return "full"
    if frac(_HIPS) > 0.5:
        return "upper"
    return "portrait"


def reference_frames(yaw: np.ndarray, count: int = 3) -> list[int]:
    """Frames with the most-left, the most-right and the middle head yaw (NaN frames skipped)."""
    valid = np.nonzero(np.isfinite(yaw))[0]
    if len(valid) == 0:
        return [0] * count
    y = yaw[valid]
    picks = [valid[np.argmin(np.abs(y - np.median(y)))], valid[np.argmax(y)], valid[np.argmin(y)]]
    return [int(i) for i in picks[:count]] + [int(picks[0])] * max(0, count - 3)


def build_dataset(video_dir: str | Path, out_dir: str | Path, vae, settings: BuildSettings | None = None, *,
                  progress: ProgressFn = None, cancel: CancelFn = None) -> dict:
    """Cache every usable video of ``video_dir`` into ``out_dir``; returns the summary (also index.json)."""
    from ..signals.extract import extract_motion
    from ..signals.motion import Motion
    from ..signals.video_io import read_video

    settings = settings or BuildSettings()
    video_dir, out_dir = Path(video_dir), Path(out_dir)
    if not video_dir.is_dir():
        raise DreamActorError(f"video folder {video_dir} does not exist")
    videos = sorted(p for p in video_dir.iterdir() if p.suffix.lower() in VIDEO_EXTS)
    if not videos:
        raise DreamActorError(f"video folder {video_dir}: no videos ({', '.join(VIDEO_EXTS)})")
    out_dir.mkdir(parents=True, exist_ok=True)
    buckets: dict[str, list[str]] = {}
    skipped: list[dict] = []
    photos = 0
    for i, path in enumerate(videos):
        check_cancel(cancel)
        try:
            frames, fps = read_video(str(path))
            if len(frames) < settings.window:
                raise DreamActorError(f"only {len(frames)} frames; a window needs {settings.window}")
            saved = path.with_suffix(".motion.json")
            motion = Motion.from_json(saved.read_text()) if saved.is_file() else extract_motion(frames, fps,
                                                                                                 cancel=cancel)
            photo = _reference_photo(path, skipped)
            for name, bucket in _cache_video(path.stem, frames, motion, vae, settings, out_dir, photo):
                buckets.setdefault(bucket, []).append(name)
            photos += photo is not None
        except DreamActorError as e:
            skipped.append({"video": path.name, "reason": str(e)})
        except (OSError, RuntimeError) as e:  # unreadable or corrupt file
            skipped.append({"video": path.name, "reason": f"unreadable: {e}"})
        report(progress, i + 1, len(videos))
    summary = {"videos": len(videos), "windows": sum(map(len, buckets.values())), "buckets": buckets,
               "reference_photos": photos, "skipped": skipped, "settings": settings.__dict__}
    (out_dir / "index.json").write_text(json.dumps(summary, indent=1))
    return summary


def _reference_photo(video: Path, skipped: list[dict]) -> np.ndarray | None:
    """The video's reference photo, if it has one; an unreadable photo is skipped (and said so),
    not the video."""
    from ..signals.video_io import load_image

    for ext in (".ref.png", ".ref.jpg", ".ref.jpeg"):
        path = video.with_suffix(ext)
        if path.is_file():
            try:
                return load_image(path)
            except DreamActorError as e:
                skipped.append({"video": path.name, "reason": f"{e}; the video is cached without it"})
                return None
    return None


def _cache_video(stem: str, frames: np.ndarray, motion, vae, s: BuildSettings, out_dir: Path,
                 photo: np.ndarray | None = None):
    from ..signals.face_crops import crop_faces
    from ..signals.framing import resize_frames, transform_motion
    from ..signals.render_dreamactor import render_guidance

    h0, w0 = frames.shape[1:3]
    aspect, w, h = bucket_size(w0, h0, s.base)
    bucket = f"{aspect}_{framing_of(motion)}_{w}x{h}"
    small = resize_frames(frames, w, h, s.aspect)
    guide = render_guidance(transform_motion(motion, w, h, s.aspect), w, h, aspect="stretch")
    refs = reference_frames(motion.head_angles[:, 0], s.refs)
    ref_lat = torch.cat([_encode(vae, small[i:i + 1]) for i in refs], 2)[0]
    grey = _encode(vae, np.full((s.window, h, w, 3), 127.5, np.float32))[0]
    photo_lat = None if photo is None else _encode(vae, resize_frames(photo[None], w, h, s.aspect))[0]
    faces = crop_faces(frames, motion, size=s.face_size) if s.face_size else None
    starts = range(0, len(frames) - s.window + 1, s.stride)
    for k, start in enumerate(list(starts)[: s.max_windows]):
        sl = slice(start, start + s.window)
        sample = {"ref_latents": ref_lat.contiguous(), "latents": _encode(vae, small[sl])[0].contiguous(),
                  "pose_latents": _encode(vae, guide[sl])[0].contiguous(), "grey_latents": grey.contiguous()}
        if photo_lat is not None:
            sample["photo_latents"] = photo_lat.contiguous()
        if faces is not None:
            sample["face_pixels"] = torch.from_numpy(np.ascontiguousarray(faces[sl].transpose(3, 0, 1, 2)))
        name = f"{stem}_w{k:02d}.safetensors"
        save_file(sample, str(out_dir / name), metadata={"bucket": bucket, "refs": json.dumps(refs),
                                                         "start": str(start)})
        yield name, bucket


@torch.no_grad()
def _encode(vae, frames_u8: np.ndarray) -> torch.Tensor:
    """Frames [T, H, W, 3] (0..255) -> latent [1, 16, t, h, w] on the CPU, encoded where the VAE is."""
    video = torch.from_numpy(np.ascontiguousarray(frames_u8)).float().div(127.5).sub(1.0)
    return vae.encode(video.permute(3, 0, 1, 2).unsqueeze(0).to(module_device(vae))).float().cpu()
