"""How well the demo DiT fits its own training windows: is it short of capacity/training, or of data?

    python benchmarks/demo_fit.py --cache runs/demo/cache [--windows 8] [--steps 12] [--solver euler]

``--cache`` is the folder the demo recipe builds (``python -m dreamactor_core.training.demo
dataset``). For a few cached training windows this samples the DiT from noise with the exact
conditioning it was trained on (reference latents, pose latents, grey continuation), decodes,
and prints PSNR against the window's own latents decoded by the same VAE (so the VAE's loss is
left out), next to two references measured the same way: the first reference slot repeated
("copy the reference", taken from the same clip) and the model's output with the pose
replaced by the sampler's "no pose" latent (an all-black video).
If the DiT is below copying even here, more held-out data cannot help: the model itself is short.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two videos in [-1, 1]."""
    return float(10 * np.log10(4.0 / max(np.mean((a - b) ** 2), 1e-12)))


@torch.no_grad()
def sample(dit, batch: dict, steps: int, shift: float, solver: str, seed: int, pose_null=None) -> torch.Tensor:
    """Denoise one cached window from seeded noise with its training conditioning
    (``pose_null``: the latent to put in place of the pose, as the sampler's pose strength 0 does)."""
    from dreamactor_core.sampling import schedule, solvers
    from dreamactor_core.training.dataset import model_inputs

    kwargs = model_inputs(batch, dit.contract, off=("face",))
    if pose_null is not None:
        kwargs["pose_latents"] = pose_null.expand_as(kwargs["pose_latents"])
    noise = torch.randn(batch["x0"].shape, generator=torch.Generator().manual_seed(seed))

    def velocity(x, sigma, _i):
        return dit(x, torch.full((x.shape[0],), sigma * 1000.0), **kwargs)

    return solvers.sample(velocity, noise, schedule.flow_sigmas(steps, shift), solver)


def main(argv=None) -> int:
    from dreamactor_core.model.loader import load_dit, load_vae
    from dreamactor_core.sampling.conditioning import Encoder
    from dreamactor_core.training import demo
    from dreamactor_core.training.dataset import CachedClips, assemble

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--windows", type=int, default=8)
    p.add_argument("--dit", type=Path, default=demo.demo_paths()[0])
    p.add_argument("--vae", type=Path, default=demo.demo_paths()[1])
    p.add_argument("--steps", type=int, default=demo.DEMO_SAMPLING["steps"])
    p.add_argument("--solver", default=demo.DEMO_SAMPLING["solver"])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    dit, vae = load_dit(args.dit), load_vae(args.vae)
    data = CachedClips(args.cache, text_len=dit.config.text_len)
    files = sorted(f for name in data.names for f in data.buckets[name])
    picks = np.linspace(0, len(files) - 1, args.windows).round().astype(int)
    r = dit.config.num_refs
    encoder = Encoder(vae)
    rows = []
    for i in picks:
        batch = assemble([data.load(files[i])], dit.config.text_len, ref_fill=dit.config.ref_fill)
        lat_t, h, w = batch["x0"].shape[2] - r, batch["x0"].shape[3], batch["x0"].shape[4]
        black = encoder.constant(-1.0, 4 * (lat_t - 1) + 1, 8 * h, 8 * w)  # the sampler's "no pose" latent
        decode = lambda lat: vae.decode(lat[:, :, r:])[0].clamp(-1, 1).numpy()  # noqa: E731
        with torch.no_grad():
            truth = decode(batch["x0"])
            ref = vae.decode(batch["x0"][:, :, :1])[0].clamp(-1, 1).numpy()
        gen = decode(sample(dit, batch, args.steps, demo.DEMO_SAMPLING["shift"], args.solver, int(i)))
        no_pose = decode(sample(dit, batch, args.steps, demo.DEMO_SAMPLING["shift"], args.solver, int(i), black))
        rows.append((psnr(gen, truth), psnr(no_pose, truth), psnr(np.repeat(ref, truth.shape[1], 1), truth)))
        print(f"{files[i]}: DiT {rows[-1][0]:.2f}  no pose {rows[-1][1]:.2f}  copy ref {rows[-1][2]:.2f} dB", flush=True)
    mean = np.mean(rows, 0)
    print(f"\n{len(rows)} training windows, {args.steps} {args.solver} steps, {time.perf_counter() - t0:.0f}s")
    print(f"PSNR against the VAE-decoded window: DiT {mean[0]:.2f} dB, no pose {mean[1]:.2f} dB, "
          f"copy ref {mean[2]:.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
