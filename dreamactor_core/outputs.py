"""Output files that appear only when complete and never replace a user's file by accident.

Every file the command line writes goes first to a hidden temporary name in the same
folder (``.NAME.partial.EXT``: the same file system, so the final rename is atomic, and the
extension stays so ffmpeg still knows the container). Only after the whole run succeeded are
the temporaries renamed into place, all together; a failed or interrupted run removes them,
so nothing that looks finished is left behind. An existing output is kept unless the user
asked to overwrite it: a free numbered name (``out-1.mp4``) is used instead.
"""
from __future__ import annotations

import os
from pathlib import Path

from .utils import DreamActorError


def _probe_folder(folder: Path, what: str) -> None:
    """Create ``folder`` (and parents) and prove a file can be made there, before any heavy work.
    A real probe file, not ``os.access``: permissions say nothing for root or a read-only mount."""
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise DreamActorError(f"{what}: '{parent}' is a file, so the folder '{folder}' cannot be made; "
                                      "choose another path")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".dreamactor-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DreamActorError(f"{what}: cannot write in the folder '{folder}' ({exc.strerror or exc}); "
                              "choose a folder you can write to") from exc


def numbered(path: Path, n: int) -> Path:
    """``out.mp4`` -> ``out-N.mp4`` (a folder ``runs`` -> ``runs-N``)."""
    return path.with_name(f"{path.stem}-{n}{path.suffix}") if path.suffix else path.with_name(f"{path.name}-{n}")


class Outputs:
    """The files one run will write: claim them up front, write to :meth:`temp`, then :meth:`commit`.

    Use as a context manager: leaving it with an exception removes every temporary."""

    def __init__(self, overwrite: bool = False, say=None):
        self.overwrite = bool(overwrite)
        self.say = say or (lambda line: None)  # told at once when an output gets a numbered name
        self._temps: dict[Path, Path] = {}  # final path -> temporary path

    @property
    def claimed(self) -> bool:
        """Whether outputs are pending (claimed and not yet committed)."""
        return bool(self._temps)

    def _taken(self, path: Path) -> bool:
        return path.exists() or path in self._temps

    def claim_file(self, path, what: str, suffixes: tuple[str, ...] = ()) -> Path:
        """Check that ``path`` can be written and return where it will be written (a numbered name
        when it exists and overwriting was not asked for)."""
        path = Path(path)
        if suffixes and path.suffix.lower() not in suffixes:
            raise DreamActorError(f"{what}: '{path}' must end in {' or '.join(suffixes)} (the file format follows "
                                  f"the name); for example {path.with_suffix(suffixes[0]).name}")
        if path.is_dir():
            example = path / ("out" + (suffixes[0] if suffixes else ""))
            raise DreamActorError(f"{what}: '{path}' is a folder; give a file name, e.g. {example}")
        _probe_folder(path.parent, what)
        final = path
        if self._taken(path) and not (self.overwrite and path not in self._temps):
            final = next(numbered(path, n) for n in range(1, 10_000) if not self._taken(numbered(path, n)))
            self.say(f"{path} exists: writing {final} instead (--overwrite replaces it)")
        self._temps[final] = final.with_name(f".{final.stem}.partial{final.suffix}")
        return final

    def claim_folder(self, folder, names: tuple[str, ...], what: str) -> Path:
        """A folder that will receive ``names``; when one of them exists there and overwriting was not
        asked for, a free numbered folder is used instead. Returns the folder."""
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise DreamActorError(f"{what}: '{folder}' is a file, not a folder; give a folder name")
        _probe_folder(folder.parent if not folder.exists() else folder, what)

        def busy(d: Path) -> bool:
            return d.exists() and (not d.is_dir() or any((d / n).exists() for n in names))

        final = folder
        if busy(folder) and not self.overwrite:
            final = next(numbered(folder, n) for n in range(1, 10_000) if not busy(numbered(folder, n)))
            self.say(f"{folder} already holds {', '.join(n for n in names if (folder / n).exists())}: "
                              f"writing into {final} instead (--overwrite replaces them)")
        for name in names:
            self._temps[final / name] = final / f".{Path(name).stem}.partial{Path(name).suffix}"
        return final

    def temp(self, final) -> Path:
        """The temporary path to write ``final`` to (its folder is made)."""
        path = self._temps[Path(final)]
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def commit(self) -> list[Path]:
        """Rename every written temporary into place; returns the finished paths."""
        done = []
        for final, temp in self._temps.items():
            if temp.exists():
                os.replace(temp, final)
                done.append(final)
        self._temps.clear()
        return done

    def discard(self) -> None:
        """Remove every temporary (and the leftovers of a writer that was stopped half way)."""
        for temp in self._temps.values():
            for leftover in (temp, *temp.parent.glob(f"{temp.stem}.*")) if temp.parent.is_dir() else ():
                leftover.unlink(missing_ok=True)
        self._temps.clear()

    def __enter__(self) -> "Outputs":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()
