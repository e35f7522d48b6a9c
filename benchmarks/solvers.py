"""Solver accuracy per model call: Euler, DPM++ 2M and UniPC on a real velocity field.

    python benchmarks/solvers.py [--steps 4 8 12 20] [--reference-steps 1000]

The field is the embedded demo DiT on one window of the bundled sample (reference image and
driving clip through the public pipeline's conditioning). For each solver and step count the
final latent is compared with a 1000-step Euler solution from the same noise (whose own error
is about 1/50 of Euler's at 20 steps): the relative L2 error, and each solver's error as a
ratio of Euler's at the same number of model calls.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    from dreamactor_core.model.loader import load_dit, load_vae
    from dreamactor_core.sampling import schedule, solvers
    from dreamactor_core.sampling.conditioning import Encoder, build_window, prepare_text
    from dreamactor_core.sampling.guidance import GuidanceSettings, GuidedDenoiser
    from dreamactor_core.sampling.frames import extract_guidance, fit_frames
    from dreamactor_core.signals.video_io import read_video
    from dreamactor_core.training import demo

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, nargs="+", default=[4, 8, 12, 20])
    p.add_argument("--reference-steps", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    import numpy as np
    from PIL import Image

    assets = Path(demo.__file__).resolve().parent.parent / "assets"
    dit, vae = load_dit(demo.demo_paths()[0]), load_vae(demo.demo_paths()[1])
    s = demo.DEMO_SAMPLING
    reference = np.asarray(Image.open(assets / "reference.png").convert("RGB"))
    driving, fps = read_video(str(assets / "driving_arm_wave.mp4"))
    _, _, guide, _ = extract_guidance(reference, driving[: s["window"]], fps, s["width"], s["height"],
                                      aspect="letterbox")
    encoder = Encoder(vae)
    ref_image = fit_frames(reference[None], s["width"], s["height"], "letterbox")[0]
    ref_lat = encoder.references([ref_image] * dit.config.num_refs)
    text = prepare_text(dit.contract)
    cond = build_window(encoder, ref_lat, np.asarray(guide[0:s["window"]]), None, text,
                        ref_fill=dit.config.ref_fill)
    noise = torch.randn(cond.latent_shape, generator=torch.Generator().manual_seed(0))

    def solve(n: int, solver: str) -> torch.Tensor:
        fn = GuidedDenoiser(dit, cond, GuidanceSettings(), n)
        with torch.no_grad():
            return solvers.sample(fn, noise.clone(), schedule.flow_sigmas(n, s["shift"]), solver)

    t0 = time.perf_counter()
    truth = solve(args.reference_steps, "euler")
    print(f"reference: {args.reference_steps} Euler steps in {time.perf_counter() - t0:.1f}s")
    print(f"{'steps':>6}" + "".join(f"{n:>14}" for n in solvers.SOLVERS) + "   error / Euler's")
    for n in args.steps:
        err = {name: float((solve(n, name) - truth).norm() / truth.norm()) for name in solvers.SOLVERS}
        ratios = "  ".join(f"{name} {err[name] / err['euler']:.2f}" for name in solvers.SOLVERS if name != "euler")
        print(f"{n:>6}" + "".join(f"{err[name]:>14.4f}" for name in solvers.SOLVERS) + f"   {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
