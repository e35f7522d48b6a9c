"""End-to-end pipeline figures: seconds per frame and the split between stages, seconds per step, and peak
memory per window count.

CPU (always): a tiny random Wan2.2-Animate-layout DiT (dim 32, 5 layers) and Wan2.1 VAE (base width 8)
animate 17 frames of the bundled driving sample at 128x128 (two windows of 9 frames). Seconds per step at
cfg 1 (one model call per step, as the distilled preset) against cfg 2 (two calls). The rise of resident
memory while the windows run (polled every 5 ms) is measured in fresh processes for 1, 2 and 4 windows of
5 frames; it should stay flat.
With COMFYUI_PATH set: seconds per step of the pack's sampler against stock WanAnimateToVideo + KSampler on
the same file (a Wan2.2-Animate DiT that stock Load Diffusion Model reads: width 128, 10 blocks, bf16), the
same CPU and one window, as a ratio from one run.
GPU (when torch.cuda.is_available()): one 77-frame window at 480x832 with the 14B shape (random bf16
weights), 20 steps: seconds and peak GPU memory.

Run: python benchmarks/pipeline.py [--frames 17] [--steps 4] [--memory-only] [--skip-gpu]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def _models(folder):
    from sampling_fakes import tiny_checkpoints

    from dreamactor_core.model.loader import load_dit, load_vae

    dit_path, vae_path = tiny_checkpoints(folder)
    return load_dit(dit_path), load_vae(vae_path)


def cpu_pipeline(frames: int, size: int, steps: int) -> None:
    import numpy as np
    import torch

    from dreamactor_core.__main__ import SAMPLE_DRIVING, SAMPLE_REFERENCE
    from dreamactor_core.sampling.pipeline import AnimateSettings, animate
    from dreamactor_core.signals.video_io import load_image, read_video

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        dit, vae = _models(tmp)
    driving, fps = read_video(SAMPLE_DRIVING, max_frames=frames)
    ref = load_image(SAMPLE_REFERENCE)
    runs = {}
    for detail in (0.0, 1.0):  # reference detail adds one still-video encode + decode and a per-pixel blend
        settings = AnimateSettings(width=size, height=size, steps=steps, window=9, refert=1, seed=0,
                                   reference_detail=detail)
        t0 = time.perf_counter()
        out = animate(ref, driving, fps, dit, vae, text=torch.randn(8, 4096), clip_fea=torch.randn(257, 1280),
                      settings=settings)
        runs[detail] = (time.perf_counter() - t0, out.timings)
        assert out.frames.shape[0] == out.num_frames and np.isfinite(out.frames).all()
    n = out.num_frames
    total, t = runs[0.0]
    print(f"CPU tiny model, {n} frames {size}x{size}, {steps} steps, window 9/refert 1: "
          f"{total:.2f} s total, {total / n:.3f} s/frame")
    for k in ("extraction", "guidance", "encode", "face", "sampling", "decode"):
        v = t.get(k, 0.0)
        print(f"  {k:<10} {v:7.2f} s  {v / n:.3f} s/frame  {100 * v / total:5.1f} %")
    total_d, t_d = runs[1.0]
    print(f"  with reference_detail 1: decode {t_d['decode']:.2f} s ({t_d['decode'] / t['decode']:.2f}x), "
          f"total {total_d:.2f} s ({total_d / total:.2f}x)")


def _step_seconds(dit, vae, size: int, frames: int, steps: int, cfg: float, solver: str = "euler",
                  window_work: bool = False) -> float:
    """Seconds per denoising step of one window through the sampler node's path (latents only); the per-window
    work before the steps (face tokens, the context cache) is left out unless ``window_work``: for a tiny DiT
    it dwarfs the steps, but a stock KSampler run does it too (inside every step), so that comparison keeps it."""
    import numpy as np
    import torch

    from dreamactor_core.sampling.guidance import GuidanceSettings
    from dreamactor_core.sampling.pipeline import AnimateSettings, animate_guidance

    rng = np.random.default_rng(0)
    ref = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    guide = rng.integers(0, 255, (frames, size, size, 3), dtype=np.uint8)
    faces = rng.integers(0, 255, (frames, 512, 512, 3), dtype=np.uint8)
    settings = AnimateSettings(steps=steps, solver=solver, window=frames, refert=1,
                               guidance=GuidanceSettings(cfg=cfg))
    text = torch.randn(8, 4096)
    best = float("inf")
    for _ in range(2):  # the first run pays one-off costs (allocator, lazy imports)
        out = animate_guidance(ref, guide, faces, dit, vae, text=text, text_null=torch.zeros(1, 4096),
                               clip_fea=torch.randn(257, 1280), settings=settings, latent_sink=lambda lat: None,
                               frames_out=False)
        spent = out.timings["sampling"] + (out.timings.get("face", 0.0) if window_work else 0.0)
        best = min(best, spent / steps)
    return best


def cfg_one_vs_two(size: int, frames: int = 9, steps: int = 4) -> None:
    import torch

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        dit, vae = _models(tmp)
    one, two = (_step_seconds(dit, vae, size, frames, steps, cfg) for cfg in (1.0, 2.0))
    print(f"seconds per step, tiny model, {frames} frames {size}x{size}, {steps} euler steps: cfg 1 {one:.3f} s, "
          f"cfg 2 {two:.3f} s (cfg 2 / cfg 1 = {two / one:.2f}x)")


def _torchvision_stand_in() -> None:
    """ComfyUI's nodes import torchvision for models this benchmark never runs. Where it cannot import (absent,
    or PyPI's wheel beside a CPU torch), put the real-host harness's importable, unusable stand-in in its place."""
    import importlib.machinery
    import types

    sys.path.insert(0, str(REPO / "tests"))
    from host_harness import _torchvision_imports

    if _torchvision_imports():
        return
    for name in ("torchvision", "torchvision.transforms"):
        sys.modules.pop(name, None)
        stand_in = types.ModuleType(name)
        stand_in.__path__ = []  # a package, so "import torchvision.transforms" resolves to the second one
        stand_in.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)  # find_spec asks for it
        sys.modules[name] = stand_in
    sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]


def pack_vs_stock(size: int = 128, frames: int = 9, steps: int = 4) -> None:
    """The pack's sampler path against stock WanAnimateToVideo + KSampler, same DiT file and CPU, one window."""
    import os

    root = os.environ.get("COMFYUI_PATH")
    if not root:
        print("pack vs stock sampler skipped (set COMFYUI_PATH to a ComfyUI checkout)")
        return
    import numpy as np
    import torch

    sys.path.insert(0, str(REPO / "benchmarks"))
    from dit_vs_core import import_core_model  # sets ComfyUI up for the CPU (its argument parsing)

    import_core_model()
    _torchvision_stand_in()
    sys.path.insert(0, root)  # ComfyUI's nodes.py ahead of this pack's nodes/ folder
    sys.modules.pop("nodes", None)
    try:
        import comfy.clip_vision
        import comfy.sd
        import comfy.utils
        import nodes as comfy_nodes
        from comfy_extras.nodes_wan import WanAnimateToVideo
    except Exception as err:  # e.g. a torchvision build that does not match torch
        print(f"pack vs stock sampler skipped: ComfyUI's nodes do not import in this process ({err})")
        return
    from host_models import stock_dit, stock_vae

    from dreamactor_core.model.loader import load_dit, load_vae

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        dit_path, vae_path = stock_dit(Path(tmp) / "dit.safetensors"), stock_vae(Path(tmp) / "vae.safetensors")
        ours, our_vae = load_dit(dit_path), load_vae(vae_path)
        stock = comfy.sd.load_diffusion_model(str(dit_path))
        stock_vae_obj = comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(vae_path)))
    pack = _step_seconds(ours, our_vae, size, frames, steps, 1.0, window_work=True)

    rng = np.random.default_rng(0)
    image = lambda n, s: torch.from_numpy(rng.random((n, s, s, 3), dtype=np.float32))  # noqa: E731
    text = [[torch.randn(1, 8, 4096), {}]]
    vision = comfy.clip_vision.Output()
    vision.penultimate_hidden_states = torch.randn(1, 257, 1280)
    pos, neg, latent = WanAnimateToVideo.execute(
        positive=text, negative=[[torch.zeros(1, 1, 4096), {}]], vae=stock_vae_obj, width=size, height=size,
        length=frames, batch_size=1, continue_motion_max_frames=5, video_frame_offset=0,
        reference_image=image(1, size), clip_vision_output=vision, face_video=image(frames, 512),
        pose_video=image(frames, size)).args[:3]
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        comfy_nodes.common_ksampler(stock, 0, steps, 1.0, "euler", "simple", pos, neg, latent)
        best = min(best, (time.perf_counter() - t0) / steps)
    print(f"seconds per step, one {frames}-frame window at {size}x{size}, {steps} euler steps, cfg 1, stock-loadable "
          f"DiT (width 128, 10 blocks, bf16 file), 512 px face video: pack sampler {pack:.3f} s, stock "
          f"WanAnimateToVideo + KSampler {best:.3f} s (pack / stock = {pack / best:.2f}x, the pack's per-window face and text work spread over the steps; compute dtype pack "
          f"{ours.compute_dtype}, stock {stock.model.get_dtype()})")


class _RssPeak:
    """Highest resident set size seen by a 5 ms polling thread between start() and stop(), in MiB."""

    def __init__(self):
        import os
        import threading

        self._page = os.sysconf("SC_PAGE_SIZE")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.peak = 0.0

    def now(self) -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page / 2**20

    def _poll(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            self._stop.wait(0.005)

    def start(self):
        self.peak = self.now()
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.now())


def _peak_child(windows: int, size: int, folder: str) -> None:
    """Run animate_guidance over `windows` windows; print the RSS rise during the windows as JSON."""
    import numpy as np
    import torch

    from dreamactor_core.model.loader import load_dit, load_vae
    from dreamactor_core.sampling.pipeline import AnimateSettings, animate_guidance

    torch.set_num_threads(2)
    dit = load_dit(Path(folder) / "tiny_animate_dit.safetensors")
    vae = load_vae(Path(folder) / "tiny_wan21_vae.safetensors")
    window, refert = 5, 1
    n = window + (window - refert) * (windows - 1)
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    guide = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    faces = rng.integers(0, 255, (n, 512, 512, 3), dtype=np.uint8)
    settings = AnimateSettings(steps=2, window=window, refert=refert)
    written = []
    rss = _RssPeak().start()
    before = rss.peak
    t0 = time.perf_counter()
    animate_guidance(ref, guide, faces, dit, vae, text=torch.randn(8, 4096), clip_fea=torch.randn(257, 1280),
                     settings=settings, sink=lambda f: written.append(len(f)))
    seconds = time.perf_counter() - t0
    peak = rss.stop()
    print(json.dumps({"windows": windows, "frames": sum(written), "seconds": seconds, "before_mib": before,
                      "peak_mib": peak, "rise_mib": peak - before}))


def memory_flatness(size: int) -> None:
    from sampling_fakes import tiny_checkpoints

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tiny_checkpoints(tmp)
        for w in (1, 2, 4):
            out = subprocess.run([sys.executable, __file__, "--child", str(w), "--size", str(size), "--folder", tmp],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"resident memory during the windows ({size}x{size}, window 5, refert 1, 2 steps, 512x512 face crops; "
          "fresh process each, models loaded before):")
    for r in rows:
        print(f"  {r['windows']} window(s), {r['frames']:3d} frames: rise {r['rise_mib']:7.1f} MiB over "
              f"{r['before_mib']:.0f} MiB (x{r['rise_mib'] / rows[0]['rise_mib']:.2f} of 1 window), "
              f"{r['seconds']:.1f} s")


def gpu_14b(steps: int = 20, frames: int = 77, width: int = 832, height: int = 480) -> None:
    import torch

    from dreamactor_core.model.config import ModelConfig
    from dreamactor_core.model.dit import AnimateDiT
    from dreamactor_core.sampling.conditioning import LATENT_CHANNELS, WindowConditioning, latent_frames
    from dreamactor_core.sampling.guidance import GuidanceSettings
    from dreamactor_core.sampling.noise import WindowNoise
    from dreamactor_core.sampling.pipeline import AnimateSettings, sample_window

    dev = torch.device("cuda")
    with torch.device("meta"):
        model = AnimateDiT(ModelConfig.wan22_animate_14b())
    model = model.to_empty(device=dev).to(torch.bfloat16)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.01)
    lat_t, h, w = latent_frames(frames), height // 8, width // 8
    t = lat_t + 1
    cond = WindowConditioning.standard(
        y=torch.randn(1, 20, t, h, w, device=dev),
        pose_latents=torch.randn(1, LATENT_CHANNELS, lat_t, h, w, device=dev),
        pose_null=torch.zeros(1, LATENT_CHANNELS, lat_t, h, w, device=dev),
        face_pixels=torch.rand(1, 3, frames, 512, 512, device=dev) * 2 - 1,
        context=torch.randn(1, 64, 4096, device=dev), context_null=torch.zeros(1, 1, 4096, device=dev),
        clip_fea=torch.randn(1, 257, 1280, device=dev), num_refs=1, frames=frames)
    settings = AnimateSettings(steps=steps, guidance=GuidanceSettings(cfg=1.0))
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = sample_window(model, cond, settings, WindowNoise(0).draw(0, cond.latent_shape))
    torch.cuda.synchronize()
    sec = time.perf_counter() - t0
    print(f"GPU {torch.cuda.get_device_name()}: 14B shape, {width}x{height}, {frames} frames, {steps} steps, cfg 1: "
          f"{sec:.1f} s ({sec / steps:.2f} s/step, {sec / frames:.2f} s/frame), "
          f"peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB, finite={bool(torch.isfinite(out).all())}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--skip-gpu", action="store_true")
    p.add_argument("--memory-only", action="store_true")
    p.add_argument("--child", type=int, default=None)
    p.add_argument("--folder", default=None)
    args = p.parse_args()
    if args.child:
        _peak_child(args.child, args.size, args.folder)
        return
    if not args.memory_only:
        cpu_pipeline(args.frames, args.size, args.steps)
        cfg_one_vs_two(args.size)
        pack_vs_stock(args.size)
    memory_flatness(args.size)
    import torch

    if torch.cuda.is_available() and not args.skip_gpu:
        gpu_14b()
    else:
        print("GPU 14B-shape run skipped (no CUDA device)")


if __name__ == "__main__":
    main()
