"""How extraction's threads share two cores: a processor-sharing simulation of the frame pipeline.

    python benchmarks/core_share.py [--pose 30.5 --hands 9 9 --face 7.7] [--cores 2] [--in-flight 4]

The main thread runs Pose on frame t+1 while worker threads run the face and hand graphs on
frame t (at most ``--in-flight`` frames ahead). Each thread's work is CPU time per frame (the
defaults: pub01's MediaPipe calls plus our Python around them, in ms). The simulation shares the
cores equally among the threads that have work, as the operating system does, at most one core
per thread; "gated" gives Pose a core whenever it has work and the workers the rest
(:class:`dreamactor_core.signals.core_gate.CoreGate`). Wall time on a shared machine says little,
so this is how thread layouts were compared; it leaves out start-up, the tail and the GIL.
"""
from __future__ import annotations

import argparse

STEP = 0.05  # ms of simulated time per step


def simulate(pose: float, workers: list[list[float]], cores: float, in_flight: int, gated: bool,
             frames: int = 200) -> tuple[float, float]:
    """(ms per frame, mean cores busy) for ``workers``: one list of per-frame costs per thread."""
    done_pose, left_pose = 0, pose
    done = [0] * len(workers)
    left = [sum(w) for w in workers]
    clock = busy = 0.0
    while min(done) < frames:
        pose_ready = done_pose < frames and done_pose - min(done) < in_flight
        ready = [i for i in range(len(workers)) if done[i] < done_pose]
        share = {}
        if gated and pose_ready:
            share["pose"] = 1.0
            share.update({i: min(1.0, (cores - 1.0) / len(ready)) for i in ready})
        else:
            runners = (["pose"] if pose_ready else []) + ready
            share = {k: min(1.0, cores / len(runners)) for k in runners}
        busy += sum(share.values()) * STEP
        clock += STEP
        for k, s in share.items():
            if k == "pose":
                left_pose -= s * STEP
                if left_pose <= 0:
                    done_pose, left_pose = done_pose + 1, pose
            else:
                left[k] -= s * STEP
                if left[k] <= 0:
                    done[k], left[k] = done[k] + 1, sum(workers[k])
    return clock / frames, busy / clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pose", type=float, default=30.5)
    parser.add_argument("--hands", type=float, nargs=2, default=(9.0, 9.0))
    parser.add_argument("--face", type=float, default=7.7)
    parser.add_argument("--cores", type=float, default=2.0)
    parser.add_argument("--in-flight", type=int, default=4)
    args = parser.parse_args()
    left, right = args.hands
    layouts = {"both hands in one thread": [[left, right], [args.face]],
               "one thread per hand": [[left], [right], [args.face]]}
    bound = (args.pose + left + right + args.face) / args.cores
    print(f"Pose {args.pose}, hands {left} + {right}, face {args.face} ms/frame on {args.cores:g} cores; "
          f"the work allows {bound:.1f} ms/frame")
    for name, workers in layouts.items():
        for gated in (False, True):
            ms, cores = simulate(args.pose, workers, args.cores, args.in_flight, gated)
            print(f"  {name:25s} {'gated' if gated else 'fair share':10s} {ms:5.1f} ms/frame "
                  f"({1000 / ms:4.1f} fps), {cores:.2f} cores busy")


if __name__ == "__main__":
    main()
