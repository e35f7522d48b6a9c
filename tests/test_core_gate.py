"""CoreGate: the main thread keeps a core, workers share the rest, and a lent core is used."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from dreamactor_core.signals.core_gate import CoreGate, usable_cores


def _started_tasks(gate: CoreGate, n: int, pool: ThreadPoolExecutor):
    """Submit n tasks that record their start and then block until released."""
    started = [threading.Event() for _ in range(n)]
    release = threading.Event()

    def task(i):
        started[i].set()
        release.wait(5)
        return i

    futures = [pool.submit(gate.run, task, i) for i in range(n)]
    return started, release, futures


def _count_within(events, want: int, seconds: float) -> int:
    """How many events are set once ``want`` of them are, or after ``seconds``."""
    end = time.monotonic() + seconds
    while sum(e.is_set() for e in events) < want and time.monotonic() < end:
        time.sleep(0.01)
    return sum(e.is_set() for e in events)


def test_workers_leave_the_main_thread_its_core():
    gate = CoreGate(cores=2)
    with ThreadPoolExecutor(max_workers=3) as pool, gate.main():
        started, release, futures = _started_tasks(gate, 3, pool)
        assert _count_within(started, 1, 2.0) == 1
        # One core is the main thread's: only one of the three workers may run.
        assert _count_within(started, 2, 0.3) == 1
        with gate.lend():  # the main thread waits: a second worker takes its core
            assert _count_within(started, 2, 2.0) == 2
            release.set()
            assert sorted(f.result(2) for f in futures) == [0, 1, 2]


def test_one_core_runs_workers_only_while_the_main_thread_waits():
    gate = CoreGate(cores=1)
    with ThreadPoolExecutor(max_workers=1) as pool, gate.main():
        started, release, futures = _started_tasks(gate, 1, pool)
        assert not started[0].wait(0.3)
        with gate.lend():
            assert started[0].wait(2)
            release.set()
            assert futures[0].result(2) == 0


def test_enough_cores_hold_nothing_back():
    gate = CoreGate(cores=4)
    with ThreadPoolExecutor(max_workers=3) as pool, gate.main():
        started, release, futures = _started_tasks(gate, 3, pool)
        assert all(e.wait(2) for e in started)
        release.set()
        assert [f.result(2) for f in futures] == [0, 1, 2]


def test_a_failing_task_frees_its_core():
    gate = CoreGate(cores=1)

    def boom():
        raise ValueError("task failed")

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(gate.run, boom)
        assert isinstance(future.exception(2), ValueError)
        assert pool.submit(gate.run, lambda: 7).result(2) == 7


def test_usable_cores_is_positive():
    assert usable_cores() >= 1
