"""What the terminal shows during a command-line run: one progress line per stage with an ETA,
and no native library log noise.

A CPU run of the demo takes minutes; a line that does not move for half a minute looks hung,
so every stage (extraction, encode, each window's sampling, decode, writing) reports.
MediaPipe's C++ side (TFLite, absl) writes straight to file descriptor 2, bypassing Python;
the only way to keep the terminal readable is to point that descriptor elsewhere while our own
Python-level messages keep the real terminal.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(round(max(seconds, 0.0)))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds}s"


class StageProgress:
    """``stages(name)`` -> ``progress(done, total)`` printing ``name done/total, elapsed, ETA``.

    Lines of one stage overwrite each other (``\\r``) on a terminal; a stage ends with a newline. The
    ETA is the stage's elapsed time scaled by the work left: crude, but it moves."""

    def __init__(self, stream=None, min_interval: float = 0.2):
        self.stream = stream or sys.stdout
        self.min_interval = float(min_interval)  # at most five updates a second
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, name: str):
        start: list[float] = []  # the clock starts at the stage's first report, not when it is named
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.perf_counter()
            if not start:
                start.append(now)
            finished = total > 0 and done >= total
            if not finished and not self.tty and done > 0:
                return  # a log file gets the start and the end of each stage, not every step
            if not finished and done > 0 and now - last[0] < self.min_interval:
                return
            last[0] = now
            spent = now - start[0]
            text = f"{name} {done}/{total}, {_clock(spent)}"
            if 0 < done < total:
                text += f", ETA {_clock(spent * (total - done) / done)}"
            end = "\n" if finished or not self.tty else ""
            self.stream.write(("\r" if self.tty else "") + text.ljust(60 if self.tty else 0) + end)
            self.stream.flush()

        return progress


@contextlib.contextmanager
def native_logs_hidden(enabled: bool = True):
    """Send whatever native code writes to file descriptor 2 to the void, while ``sys.stderr``
    (our messages, warnings, tracebacks) and the logging handlers keep the real terminal."""
    try:
        real = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a captured stream (tests): nothing to do
        real = False
    if not enabled or not real:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    original = sys.stderr
    terminal = open(saved, "w", buffering=1, encoding=original.encoding, errors="replace", closefd=False)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    os.environ.setdefault("GLOG_minloglevel", "2")  # for native code that does read it
    sys.stderr = terminal
    handlers = [h for h in logging.getLogger().handlers if getattr(h, "stream", None) is original]
    for h in handlers:
        h.setStream(terminal)
    try:
        yield
    finally:
        terminal.flush()
        os.dup2(saved, 2)
        os.close(saved)
        sys.stderr = original
        for h in handlers:
            h.setStream(original)
