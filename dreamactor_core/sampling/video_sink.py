"""A streaming mp4 writer that frames are pushed into, window by window.

The pipeline hands finished frames to a sink as each window completes; writing
them straight to ffmpeg keeps memory flat however long the video is. The audio
track of ``audio_from`` (the driving video) is muxed in and cut to the video.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np

from ..utils import DreamActorError


def _ffmpeg_lists_audio(path) -> bool:
    """Ask the bundled ffmpeg (always installed with imageio-ffmpeg) whether ``path`` has an audio stream."""
    import imageio_ffmpeg

    done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", os.fspath(path)],
                          capture_output=True, text=True, errors="replace")
    return re.search(r"Stream #\S+.*: Audio:", done.stderr) is not None


def has_audio(path) -> bool:
    """Whether a media file has an audio stream (False when it cannot be read).

    PyAV answers when it is installed; without it the bundled ffmpeg is asked, so a missing
    optional package never drops the driving video's sound."""
    try:
        import av
    except ImportError:
        return _ffmpeg_lists_audio(path)
    try:
        with av.open(os.fspath(path)) as container:
            return any(s.type == "audio" for s in container.streams)
    except Exception:  # unreadable or not a media file: there is no audio to keep
        return False


class Mp4Sink:
    """``sink(frames uint8 [n,H,W,3])`` appends to an H.264 mp4; use as a context manager."""

    def __init__(self, path, fps: float, *, audio_from=None, crf: int = 18):
        if not fps > 0:
            raise DreamActorError(f"fps: must be positive, got {fps}")
        self.path = Path(path)
        self.fps = float(fps)
        self.audio = os.fspath(audio_from) if audio_from is not None and has_audio(audio_from) else None
        self.crf = int(crf)
        self.count = 0
        self._gen = None
        self._size = None

    def _start(self, width: int, height: int) -> None:
        import imageio_ffmpeg

        self.path.parent.mkdir(parents=True, exist_ok=True)
        # with audio, video goes to a temporary file first and is muxed on close, cut to the
        # video's length (ffmpeg's -shortest can drop the last frames of a short clip)
        self._video_path = self.path.with_name(self.path.stem + ".video-only.mp4") if self.audio else self.path
        self._gen = imageio_ffmpeg.write_frames(
            str(self._video_path), (width, height), fps=self.fps, codec="libx264", macro_block_size=2,
            quality=None, output_params=["-crf", str(self.crf)], ffmpeg_log_level="error")
        self._gen.send(None)
        self._size = (height, width)

    def _mux_audio(self) -> None:
        from ..signals.video_io import mux_audio

        mux_audio(self._video_path, self.audio, self.path, seconds=self.count / self.fps)

    def __call__(self, frames: np.ndarray) -> None:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise DreamActorError(f"video sink: expected uint8 frames [n,H,W,3], got {frames.dtype} {frames.shape}")
        if self._gen is None:
            self._start(frames.shape[2], frames.shape[1])
        if frames.shape[1:3] != self._size:
            raise DreamActorError(f"video sink: frame size changed from {self._size} to {frames.shape[1:3]}")
        for f in frames:
            self._gen.send(np.ascontiguousarray(f))
            self.count += 1

    def close(self) -> None:
        """Finish the file (and mux the audio in)."""
        if self._gen is not None:
            self._gen.close()
            self._gen = None
            if self.audio:
                self._mux_audio()

    def __enter__(self) -> "Mp4Sink":
        return self

    def abort(self) -> None:
        """Stop writing and remove what was written: a half video must not look like a finished one."""
        if self._gen is not None:
            try:
                self._gen.close()
            except Exception:  # ffmpeg may already have died with the interrupt; the files go anyway
                pass
            self._gen = None
        for path in {self.path, getattr(self, "_video_path", self.path)}:
            path.unlink(missing_ok=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
