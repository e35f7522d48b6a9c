"""Small shared helpers: errors, progress and cancellation."""
from __future__ import annotations

from typing import Callable, Optional

ProgressFn = Optional[Callable[[int, int], None]]
CancelFn = Optional[Callable[[], bool]]
# stage name -> that stage's progress(done, total): long runs say which stage they are in
StagesFn = Optional[Callable[[str], ProgressFn]]


class DreamActorError(ValueError):
    """An input problem the user can fix; the message says which input and what to do."""


class Cancelled(RuntimeError):
    """Raised when a ``cancel`` callback asks long work to stop."""


def check_cancel(cancel: CancelFn) -> None:
    """Raise :class:`Cancelled` if ``cancel`` says so."""
    if cancel is not None and cancel():
        raise Cancelled("cancelled by the user")


def report(progress: ProgressFn, done: int, total: int) -> None:
    if progress is not None:
        progress(int(done), int(total))


def stage(stages: StagesFn, name: str) -> ProgressFn:
    """The progress callback for stage ``name`` (None when nobody listens)."""
    return None if stages is None else stages(name)
