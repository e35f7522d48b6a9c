"""Where the clip benchmarks get their clips and raw extractions: ``DIR ... [--raw RAWDIR ... | --cache DIR]``.

DIRs hold clips with ground truth (``NAME.mp4`` + ``NAME.json``; the shared synthetic set by default). A clip's
raw extraction (``extract_motion(frames, fps, smoothing=0.0)``) is made with MediaPipe, read from
``RAWDIR/NAME.json`` with ``--raw`` (saved motion JSON, one folder per DIR), or from saved extractions made once
per clip with ``--cache`` (:mod:`dreamactor_core.signals.raw_cache`, ``CACHE/<DIR's name>``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from conftest import find_shared  # noqa: E402
from dreamactor_core.signals.extract import extract_motion  # noqa: E402
from dreamactor_core.signals.motion import Motion  # noqa: E402
from dreamactor_core.signals.raw_cache import raw_extraction  # noqa: E402
from dreamactor_core.signals.video_io import read_video  # noqa: E402


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The clip folders and where their raw extractions come from."""
    ap.add_argument("dirs", nargs="*", type=Path)
    ap.add_argument("--raw", nargs="*", type=Path, default=None, help="saved raw extractions, one folder per DIR")
    ap.add_argument("--cache", type=Path, default=None,
                    help="folder of saved raw extractions, made once per clip and replayed after")


def folders(args: argparse.Namespace) -> list[tuple[Path, Path | None]]:
    """``(clip folder, its saved raw extractions or None)`` pairs; exits with a message on a wrong combination."""
    if args.raw and args.cache:
        sys.exit("--raw and --cache: give one of them")
    dirs = args.dirs or [find_shared() / "data" / "synth"]
    raws = args.raw or [None] * len(dirs)
    if len(raws) != len(dirs):
        sys.exit(f"--raw: give one folder per DIR ({len(dirs)}), got {len(raws)}")
    return list(zip(dirs, raws))


def raw_motion(video: Path, raw_dir: Path | None, cache: Path | None = None) -> Motion:
    """``video``'s raw extraction: from ``raw_dir``'s JSON, from ``cache``, or made now."""
    if raw_dir is not None:
        return Motion.from_json((raw_dir / f"{video.stem}.json").read_text())
    if cache is not None:
        return raw_extraction(video, cache / video.parent.name)[0]
    frames, fps = read_video(video)
    return extract_motion(frames, fps, smoothing=0.0)
