"""VAE decode peak memory vs clip length: it must stay flat (chunked causal decoding).

For each frame count (default 9, 33, 81 at 256x256) a fresh child process builds a
random-weight Wan2.1 VAE, makes a latent, and measures
* peak RSS during ``decode`` minus RSS just before it (CPU), or
  ``torch.cuda.max_memory_allocated`` minus the allocation before it (CUDA);
* the same minus the size of the decoded video itself (the working memory).
The ratios 81/9 of both are printed from the same run.

Usage: python benchmarks/model_vae.py [--dim 32] [--size 256] [--frames 9 33 81] [--device cpu]
(--dim 96 is the real Wan2.1 width; on a 2-core CPU it takes many minutes, so the default is 32.)
``--stock COMFYUI_PATH --dim 96``: the VAE is made by ComfyUI's stock Load VAE code and reaches the
pack's decode as a stock VAE socket does.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> None:
    """Restart the kernel's peak-RSS count (VmHWM) from now; Linux only, harmless elsewhere."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_rss() -> int:
    """Peak RSS since the last reset (VmHWM), else the process's lifetime peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _through_stock_load_vae(vae, comfy_path: str, device: str):
    """The same weights as ComfyUI's stock Load VAE makes them (``comfy.sd.VAE``), handed to the pack's nodes
    the way a stock VAE socket reaches them (``nodes.comfy_vae.core_vae``): the decode measured is the one a
    workflow with stock Load VAE runs."""
    import types

    try:
        import torchvision  # noqa: F401  ComfyUI imports it; a wheel built for another torch cannot load
    except Exception:  # a stand-in is enough: the VAE path never uses it
        import importlib.machinery

        for name in ("torchvision", "torchvision.transforms"):
            sys.modules[name] = types.ModuleType(name)
            sys.modules[name].__spec__ = importlib.machinery.ModuleSpec(name, None)
    sys.path.append(comfy_path)  # after the repo: ComfyUI's own nodes.py must not shadow the pack's nodes/
    import comfy.cli_args

    comfy.cli_args.args.cpu = device == "cpu"  # read when ComfyUI's memory manager is imported
    import comfy.sd

    from nodes.comfy_vae import core_vae

    stock = comfy.sd.VAE(sd={k: v.clone() for k, v in vae.state_dict().items()})
    del vae
    return core_vae(stock, "benchmark")


def child(dim: int, size: int, frames: int, device: str, tile, stock: str | None = None) -> dict:
    import torch

    sys.path.insert(0, str(REPO))
    from dreamactor_core.model.vae import VAEConfig, WanVAE

    torch.manual_seed(0)
    vae = WanVAE(VAEConfig(dim=dim)).to(device).eval()
    if stock:
        vae = _through_stock_load_vae(vae, stock, device)
    lat_t = (frames - 1) // 4 + 1
    latent = torch.randn(1, 16, lat_t, size // 8, size // 8, device=device)
    out_bytes = 3 * frames * size * size * 4
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        _reset_peak_rss()  # setup (e.g. loading through ComfyUI) may have peaked higher than the decode
        before = rss_bytes()
    start = time.perf_counter()
    video = vae.decode(latent, tile=tile)
    if device == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        peak = _peak_rss() - before
    assert video.shape[2] == frames
    return {"frames": frames, "peak": peak, "work": peak - out_bytes, "out": out_bytes,
            "seconds": time.perf_counter() - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, nargs="+", default=[9, 33, 81])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tile", type=int, default=None, help="spatial tile size in pixels (default: no tiles)")
    ap.add_argument("--stock", default=None, metavar="COMFYUI_PATH",
                    help="load the VAE with ComfyUI's stock Load VAE code first (needs --dim 96, its width)")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.dim, args.size, args.child, args.device, args.tile, args.stock)))
        return
    print(f"Wan2.1 VAE decode, random weights, base width {args.dim} (real: 96), {args.size}x{args.size}, "
          f"device {args.device}, tile {args.tile}, {'stock Load VAE' if args.stock else 'pack loader'}; "
          "one child process per clip length")
    rows = []
    for f in args.frames:
        cmd = [sys.executable, __file__, "--child", str(f), "--dim", str(args.dim), "--size", str(args.size),
               "--device", args.device] + (["--tile", str(args.tile)] if args.tile else []) \
            + (["--stock", args.stock] if args.stock else [])
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        row = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"  {f:3d} frames: peak {row['peak'] / 2**20:8.1f} MiB  (output video {row['out'] / 2**20:6.1f} MiB, "
              f"working {row['work'] / 2**20:8.1f} MiB)  {row['seconds']:6.1f} s", flush=True)
    first, last = rows[0], rows[-1]
    print(f"ratio {last['frames']}/{first['frames']} frames: peak {last['peak'] / first['peak']:.2f}x, "
          f"working memory {last['work'] / first['work']:.2f}x, frames {last['frames'] / first['frames']:.1f}x")


if __name__ == "__main__":
    main()
