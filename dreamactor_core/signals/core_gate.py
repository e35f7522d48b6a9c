"""Keep a CPU core for the body stage of extraction while its worker threads share the rest.

Each frame's face and hand work starts from that frame's body landmarks, so the main
thread's Pose calls are the critical path; the workers can only use what Pose leaves.
Left to the operating system's fair share, three busy threads (Pose, face, hands) on two
cores give Pose two thirds of a core: the workers then run out of frames and wait while
Pose runs alone. A processor-sharing simulation with pub01's per-frame CPU (Pose 30.5 ms,
hands 9 + 9 with the lite landmark model, face 7.7; ``benchmarks/core_share.py``) gives
34.5 ms per frame with 1.63 cores busy; with Pose always given a core, 30.6 ms (Pose alone
takes 30.5).

:class:`CoreGate` does that: the main thread holds one core while it runs (never waiting
for it) and lends it while it waits on the workers; a worker's task waits until a core is
free. With at least as many cores as threads it never holds anything back. It only orders
the work in time: each MediaPipe graph still sees its frames in order, so results are the same.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class CoreGate:
    """Counts the cores in use by the main thread and the gated workers (see the module's docstring)."""

    def __init__(self, cores: int | None = None):
        self.cores = usable_cores() if cores is None else max(1, int(cores))
        self._busy = 0
        self._cond = threading.Condition()

    def _take(self, wait: bool) -> None:
        with self._cond:
            if wait:
                self._cond.wait_for(lambda: self._busy < self.cores)
            self._busy += 1

    def _give(self) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify()

    @contextmanager
    def main(self):
        """The main thread's core, held for the whole block without waiting for it."""
        self._take(wait=False)
        try:
            yield
        finally:
            self._give()

    @contextmanager
    def lend(self):
        """Inside :meth:`main`: the main thread is about to block on the workers, so they may use its core."""
        self._give()
        try:
            yield
        finally:
            self._take(wait=False)

    def run(self, fn, *args):
        """Call ``fn(*args)`` (a worker's task) once a core is free."""
        self._take(wait=True)
        try:
            return fn(*args)
        finally:
            self._give()
