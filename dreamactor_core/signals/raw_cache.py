"""Raw MediaPipe extractions saved once per clip and replayed, for re-scoring sets of clips.

Everything downstream of MediaPipe (smoothing, head, body size, retargeting, the scorecard) runs in
seconds, MediaPipe in minutes: a set re-scored after a change downstream need not run it again. An
entry is MediaPipe's part of ``extract_motion(frames, fps, smoothing=0.0)`` (``head=False``), named by
what decides it: the video file's content hash, MediaPipe's version and
:data:`extract.EXTRACTION_VERSION`. An entry made from another file, another MediaPipe or extraction
code of another version is never read: it is made again, and the clip's stale entries are removed.
The head and body-size steps (:func:`extract.finish_motion`) run on every load, with the code in hand.
Entries keep the arrays as extracted (``.npz``), not the motion JSON's 5 decimals, so a replayed
extraction is the extraction itself, bit for bit.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from .extract import EXTRACTION_VERSION, extract_motion, finish_motion
from .motion import ARRAY_FIELDS, Motion
from .video_io import read_video


def mediapipe_version() -> str:
    """The installed MediaPipe's version: part of every entry's key."""
    import mediapipe as mp

    return mp.__version__


def entry_name(video: Path, mediapipe: str | None = None) -> str:
    """The file name of ``video``'s entry: its stem, then the key (content hash, MediaPipe, extraction)."""
    # The whole file is hashed on every load, not keyed by its size and modification time: a clip rewritten
    # with the same size inside the file system's timestamp tick would otherwise replay the old extraction.
    # It costs ~0.1 ms per 80 kB clip (the hard and public sets), against ~440 ms of finish_motion per load.
    digest = hashlib.sha256(Path(video).read_bytes()).hexdigest()[:16]
    return f"{Path(video).stem}.{digest}.mediapipe-{mediapipe or mediapipe_version()}.x{EXTRACTION_VERSION}.npz"


def raw_extraction(video: Path, cache: Path) -> tuple[Motion, str]:
    """``extract_motion(frames, fps, smoothing=0.0)`` of ``video``, its MediaPipe part read from ``cache``
    when an entry with the same key is there, else extracted and saved. Returns the motion and what was
    done: ``"reused"``, ``"made"`` or ``"made again (stale: NAMES)"``."""
    video, cache = Path(video), Path(cache)
    entry = cache / entry_name(video)
    if entry.exists():
        return finish_motion(_load(entry)), "reused"
    frames, fps = read_video(video)
    raw = extract_motion(frames, fps, smoothing=0.0, head=False)
    mine = re.compile(re.escape(video.stem) + r"\.[0-9a-f]{16}\.mediapipe-.+\.x\d+\.npz")
    stale = sorted(p.name for p in cache.glob("*.npz") if mine.fullmatch(p.name) and p.name != entry.name)
    for name in stale:
        (cache / name).unlink()
    cache.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: an interrupted run leaves no half entry that a later one would read.
    part = entry.with_suffix(".part")
    with part.open("wb") as f:
        _save(raw, f)
    part.replace(entry)
    return finish_motion(raw), f"made again (stale: {', '.join(stale)})" if stale else "made"


def _save(motion: Motion, file) -> None:
    arrays = {name: getattr(motion, name) for name in ARRAY_FIELDS if getattr(motion, name) is not None}
    header = {"fps": motion.fps, "width": motion.width, "height": motion.height, "meta": motion.meta}
    np.savez_compressed(file, header=np.array(json.dumps(header)), **arrays)


def _load(path: Path) -> Motion:
    with np.load(path) as entry:
        header = json.loads(str(entry["header"]))
        arrays = {name: entry[name] for name in entry.files if name != "header"}
    return Motion(fps=header["fps"], width=header["width"], height=header["height"], meta=header["meta"], **arrays)
