"""Guidance render speed: milliseconds per frame for each style at 512x512.

Run: ``python benchmarks/render.py [clip]`` from the repo root. Uses the ground
truth of a synthetic clip in ../shared/data/synth (set DREAMACTOR_SHARED to
point elsewhere) as the motion, so no MediaPipe run is needed. Prints wall and
CPU time per frame (CPU time is the steadier figure on a shared machine) and
the ratio between the two styles measured in the same run.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from conftest import find_shared  # noqa: E402
from synth_motion import synth_motion  # noqa: E402

from dreamactor_core.signals.render_dreamactor import STYLES, render_guidance  # noqa: E402


def main() -> None:
    clip = sys.argv[1] if len(sys.argv) > 1 else "pub03_squat"
    shared = find_shared()
    if shared is None:
        sys.exit("shared data not found: set DREAMACTOR_SHARED to the folder holding data/synth")
    motion = synth_motion(shared / "data" / "synth", clip)
    t = motion.num_frames
    print(f"clip {clip}: {t} frames {motion.width}x{motion.height} -> 512x512 letterbox")
    cpu_ms = {}
    for style in STYLES:
        walls, cpus = [], []
        for _ in range(5):
            w0, c0 = time.perf_counter(), time.process_time()
            render_guidance(motion, 512, 512, style=style, aspect="letterbox")
            walls.append((time.perf_counter() - w0) / t * 1e3)
            cpus.append((time.process_time() - c0) / t * 1e3)
        cpu_ms[style] = min(cpus)
        print(f"{style:>10}: {min(walls):6.2f} ms/frame wall (best of 5), {min(cpus):6.2f} ms/frame CPU, "
              f"{1e3 / min(cpus):7.1f} fps on one core")
    print(f"dreamactor / openpose CPU time ratio: {cpu_ms['dreamactor'] / cpu_ms['openpose']:.2f}")


if __name__ == "__main__":
    main()
