"""Reading and writing video and images, and normalising pixel arrays to RGB uint8.

Everything goes through imageio with its bundled ffmpeg (imageio-ffmpeg), so no
system ffmpeg is needed. Frames are ``uint8 [H, W, 3]`` RGB throughout.
"""
from __future__ import annotations

import logging
import os
import subprocess
from typing import Iterable, Iterator

import numpy as np

from ..utils import DreamActorError

log = logging.getLogger("dreamactor.video")


# --- pixel normalisation ----------------------------------------------------
def float_to_uint8(arr, name: str = "image") -> np.ndarray:
    """Float pixels in [0, 1] (ComfyUI's IMAGE layout) -> uint8.

    Floats that clearly hold 0..255 values (above 1.5) are divided by 255 with a warning: clipping
    them to [0, 1] would turn the picture white without a word."""
    arr = np.nan_to_num(np.asarray(arr, dtype=np.float32), nan=0.0)
    top = float(arr.max()) if arr.size else 0.0
    if top > 1.5:
        log.warning("%s: float pixels go up to %.4g, so they are read as 0..255 and divided by 255 "
                    "(give floats in 0..1, or uint8)", name, top)
        arr = arr / 255.0
    return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def as_rgb_uint8(image, name: str = "image") -> np.ndarray:
    """One image or a batch as uint8 RGB: ``[..., H, W, 3]``.

    Accepts uint8, uint16 or float in [0, 1] (numpy or torch), grayscale ``[H, W]`` /
    ``[..., H, W, 1]`` and RGBA ``[..., H, W, 4]`` (alpha is dropped, as ComfyUI's
    image loader does).
    """
    if hasattr(image, "detach"):  # torch tensor, without importing torch
        image = image.detach().cpu().numpy()
    arr = np.asarray(image)
    if arr.size == 0:
        raise DreamActorError(f"{name}: empty image data; pass at least one frame")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim < 3:
        raise DreamActorError(f"{name}: expected an image [H, W, C], got shape {arr.shape}")
    channels = arr.shape[-1]
    if channels == 1:
        arr = np.repeat(arr, 3, axis=-1)
    elif channels == 4:
        arr = arr[..., :3]
    elif channels != 3:
        raise DreamActorError(
            f"{name}: expected 1, 3 or 4 colour channels last, got shape {arr.shape}; "
            "pass images as [H, W, C] (ComfyUI IMAGE layout)"
        )
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype == np.uint16:
        return (arr >> 8).astype(np.uint8)
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        return np.clip(arr, 0, 255).astype(np.uint8)
    return float_to_uint8(arr, name)


def _check_readable(path, what: str) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DreamActorError(f"{what} '{path}': file not found")
    return path


# --- images -----------------------------------------------------------------
def load_image(path) -> np.ndarray:
    """Read an image file as uint8 RGB ``[H, W, 3]`` (grayscale and RGBA converted)."""
    import imageio.v2 as iio

    path = _check_readable(path, "image")
    try:
        img = iio.imread(path)
    except Exception as exc:  # imageio raises many types for corrupt files
        raise DreamActorError(_unreadable_image(path, exc)) from exc
    if img.ndim == 4:  # animated image: first frame
        img = img[0]
    return as_rgb_uint8(img, name=f"image '{path}'")


def _unreadable_image(path: str, exc: Exception) -> str:
    """Why an image did not load, in words a user can act on. imageio's own message for a file that
    is no image at all suggests installing a plugin, which would not help."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            kind = img.format
    except UnidentifiedImageError:
        return f"image '{path}': is not an image file (its content is no known image format); give a PNG or JPEG file"
    except OSError as err:
        return f"image '{path}': cannot be read ({err}); give a PNG or JPEG file"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"image '{path}': this {kind} file cannot be decoded ({first}); save it again as PNG or JPEG"


def write_image(path, image: np.ndarray) -> str:
    """Write a uint8 RGB image ``[H, W, 3]`` (the format follows the file name, e.g. PNG)."""
    import imageio.v2 as iio

    iio.imwrite(str(path), as_rgb_uint8(image))
    return str(path)


# --- video reading ------------------------------------------------------------
def _decoder_words(exc: Exception, keep: int = 2) -> str:
    """The gist of a reader error: imageio quotes ffmpeg's whole stderr (banner and build flags
    included); its last lines say what was wrong with the file."""
    text = str(exc)
    if "=== stderr ===" not in text:
        return text
    head, tail = text.split("=== stderr ===", 1)
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip() and not ln.startswith(" ")]
    return "; ".join([head.strip(), *lines[-keep:]]) if lines else head.strip()


def _open_reader(path):
    import imageio.v2 as iio

    path = _check_readable(path, "video")
    try:
        reader = iio.get_reader(path, format="ffmpeg")
        meta = reader.get_meta_data()
    except Exception as exc:
        raise DreamActorError(
            f"video '{path}': cannot be read ({_decoder_words(exc)}); use a video ffmpeg can decode (e.g. mp4)"
        ) from exc
    fps = float(meta.get("fps") or 0.0)
    if not fps > 0:
        fps = 25.0  # some containers carry no rate; 25 is the common default
    return reader, fps


def iter_video(path, max_frames: int | None = None, start: int = 0) -> tuple[Iterator[np.ndarray], float]:
    """Stream frames of a video: ``(iterator of uint8 [H, W, 3] RGB, fps)``.

    Memory stays flat however long the video is; the reader closes when the
    iterator is exhausted or garbage-collected.
    """
    if start < 0:
        raise DreamActorError(f"video '{path}': start must be >= 0, got {start}")
    reader, fps = _open_reader(path)

    def frames() -> Iterator[np.ndarray]:
        try:
            count = 0
            for index, frame in enumerate(reader):
                if index < start:
                    continue
                if max_frames is not None and count >= max_frames:
                    break
                count += 1
                yield as_rgb_uint8(frame)
        finally:
            reader.close()

    return frames(), fps


def read_video(path, max_frames: int | None = None, start: int = 0) -> tuple[np.ndarray, float]:
    """Read a video into memory: ``(frames uint8 [T, H, W, 3] RGB, fps)``."""
    it, fps = iter_video(path, max_frames=max_frames, start=start)
    frames = list(it)
    if not frames:
        raise DreamActorError(f"video '{path}': no frames (start={start}, max_frames={max_frames})")
    return np.stack(frames), fps


def resample_fps(frames: np.ndarray, fps: float, target: float) -> np.ndarray:
    """``frames`` at ``fps`` shown at ``target`` fps: output frame j is the source frame on screen at
    time j / target (frames are dropped or repeated, none blended), over the clip's whole duration."""
    if not fps > 0 or not target > 0:
        raise DreamActorError(f"fps: frame rates must be positive, got {fps} -> {target}")
    n = len(frames)
    count = max(1, int(np.floor(n * target / fps + 1e-6)))
    # the small epsilon keeps an exact ratio (e.g. 60 -> 30) from landing a hair before a frame
    idx = np.minimum(np.floor(np.arange(count) * (fps / target) + 1e-6).astype(np.int64), n - 1)
    return frames[idx]


# --- video writing ------------------------------------------------------------
def write_video(path, frames: Iterable[np.ndarray] | np.ndarray, fps: float, audio_from=None, crf: int = 18) -> str:
    """Write frames to an mp4 (H.264, yuv420p) and return the path.

    ``frames`` may be an array ``[T, H, W, 3]`` or any iterable of frames (streamed,
    so memory stays flat). With ``audio_from`` (a video or audio file) its audio
    track is copied in, cut to the video's length; a source without audio is fine.
    """
    import imageio.v2 as iio

    if not fps > 0:
        raise DreamActorError(f"write_video: fps must be positive, got {fps}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    target = path
    if audio_from is not None:  # video first, beside the output (hidden), then muxed with the sound
        audio_from = _check_readable(audio_from, "audio source")
        target = os.path.join(folder, f".{os.path.basename(path)}.video-only.mp4")
    # macro_block_size=2: yuv420p needs even sizes; larger blocks would rescale needlessly.
    writer = iio.get_writer(
        target, format="ffmpeg", fps=float(fps), codec="libx264", pixelformat="yuv420p",
        macro_block_size=2, output_params=["-crf", str(int(crf))], ffmpeg_log_level="error",
    )
    count = 0
    try:
        try:
            for frame in frames:
                writer.append_data(as_rgb_uint8(frame, name="write_video frame"))
                count += 1
        finally:
            writer.close()
        if count == 0:
            raise DreamActorError("write_video: no frames to write")
        if audio_from is not None:
            mux_audio(target, audio_from, path)
    except BaseException:  # an error or Ctrl-C: a half-written video must not look finished
        for leftover in {target, path}:
            if os.path.exists(leftover):
                os.remove(leftover)
        raise
    return path


def mux_audio(video: str, audio_from: str, path: str, seconds: float | None = None) -> None:
    """``video`` plus the first audio stream of ``audio_from`` (if any) -> ``path``; ``video`` is consumed.

    The sound is cut to ``seconds`` (else to the shorter stream; ``-shortest`` can drop the last frames of
    a short clip, so streaming writers pass the video's length). When ffmpeg fails, the frames are
    kept without sound and a warning says so: the frames are the work of the whole run."""
    import imageio_ffmpeg

    cut = ["-shortest"] if seconds is None else ["-t", f"{seconds:.6f}"]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", os.fspath(video), "-i",
           os.fspath(audio_from), "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "copy", "-c:a", "aac", *cut,
           os.fspath(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if done.returncode == 0:
        os.remove(video)
        return
    os.replace(video, path)
    words = (done.stderr.strip().splitlines() or ["no message"])[-1]
    log.warning("the audio of '%s' could not be added (%s); %s has no sound", audio_from, words, path)
