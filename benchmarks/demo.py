"""The demo as a newcomer runs it: ``python -m dreamactor_core animate`` with no arguments.

Prints the wall time, the CPU time it used (user + system, the command and its ffmpeg children), the
machine (cores, load average before the run) and the split between the stages the pipeline times
(extraction, encode, sampling, decode, ...); what is left is start-up (imports), model loading and
writing. A CPU-time to wall-time ratio well under the core count means the machine was shared or the
work was serial; the README quotes both so the figure can be compared.

Run: python benchmarks/demo.py [--runs 1] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_demo(threads: int | None) -> dict:
    """One demo run in a fresh process; returns wall, cpu and the stage seconds it printed."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "dreamactor_core", "animate", "--out", "demo.mp4"],
                              cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"the demo failed:\n{done.stderr}")
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("wrote "))
    stages = {k: float(v) for k, v in re.findall(r"([a-z]+) ([0-9.]+)s", line.split(";", 1)[1])}
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "stages": stages}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for the run (default: unset)")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
          f"load average {load:.1f} before the first run, OMP_NUM_THREADS={args.threads or os.environ.get('OMP_NUM_THREADS', 'unset')}")
    for i in range(args.runs):
        r = run_demo(args.threads)
        timed = sum(r["stages"].values())
        print(f"run {i + 1}: wall {r['wall']:.1f} s, CPU {r['cpu']:.1f} s (CPU/wall {r['cpu'] / r['wall']:.2f})")
        for name, sec in [*r["stages"].items(), ("start-up, loading, writing", r["wall"] - timed)]:
            print(f"  {name:<28} {sec:6.1f} s  {100 * sec / r['wall']:5.1f} %")


if __name__ == "__main__":
    main()
