"""Model benchmarks: DiT forward cost vs frame count (CPU) and the 14B-shape forward (GPU).

    python benchmarks/model.py            # CPU sweep; plus the 14B GPU run when CUDA is available
    python benchmarks/model.py --frames 1 2 4 8
    python benchmarks/model.py --skip-vae  # without the VAE decode memory run (benchmarks/model_vae.py)
    python benchmarks/model.py --skip-cpu --stock-vae /path/to/ComfyUI  # decode memory, stock Load VAE

CPU: a small random-weight config, forward time and peak resident memory of the forward for
several latent frame counts (each in a fresh process so peaks do not mix), with ratios to the
smallest run, to show how cost grows with tokens (linear parts ~L, attention ~L^2).
GPU: Wan2.2-Animate-14B shapes with random bf16 weights and a random rank-64 LoRA merged in, at
480x832, 77 frames, model FLOP utilisation against the GPU's dense bf16 peak, and peak memory with
0, 20 and 40 swapped blocks, then once more with the block linears stored in fp8.
"""
from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dreamactor_core.model.block_swap import apply_block_swap  # noqa: E402
from dreamactor_core.model.config import ModelConfig  # noqa: E402
from dreamactor_core.model.dit import AnimateDiT  # noqa: E402
from dreamactor_core.model.layers import Linear  # noqa: E402
from dreamactor_core.model.lora import apply_loras  # noqa: E402
from dreamactor_core.model.motion_encoder import blur_kernel  # noqa: E402

SMALL = dict(dim=512, ffn_dim=1536, num_heads=4, num_layers=5, text_len=64)
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "4090": 165e12}


def dit_inputs(cfg: ModelConfig, lat_t: int, h: int, w: int, device="cpu", dtype=torch.float32) -> dict:
    """Random inputs for one denoiser call; face tokens precomputed (the DiT itself is measured)."""
    t_all = cfg.num_refs + lat_t
    r = lambda *s: torch.randn(*s, device=device, dtype=dtype)  # noqa: E731
    return dict(x=r(1, 16, t_all, h, w), t=torch.tensor([500.0], device=device), context=r(1, cfg.text_len, 4096),
                clip_fea=r(1, 257, 1280), y=r(1, cfg.y_dim, t_all, h, w), pose_latents=r(1, 16, lat_t, h, w),
                face_tokens=r(1, lat_t, cfg.face_groups + 1, cfg.dim))


def dit_flops(cfg: ModelConfig, lat_t: int, h: int, w: int, face_frames: int = 0) -> float:
    """Matmul FLOPs of one forward (2 per multiply-add); norms and elementwise ops excluded."""
    tokens_per_frame = (h // cfg.patch[1]) * (w // cfg.patch[2])
    t_all = cfg.num_refs + lat_t
    n, d, f, lt, li = t_all * tokens_per_frame, cfg.dim, cfg.ffn_dim, cfg.text_len, 257
    block = (2 * n * d * d * 4 + 4 * n * n * d  # self-attention
             + 2 * n * d * d * 2 + 2 * (lt + li * cfg.has_clip) * d * d * 2 + 4 * n * (lt + li) * d  # cross
             + 2 * n * d * f * 2)  # FFN
    face = 2 * n * d * d * 2 + 2 * t_all * 5 * d * 2 * d + 4 * n * 5 * d
    embed = 2 * n * d * (cfg.in_dim + 16) * math.prod(cfg.patch) + 2 * lt * d * (4096 + d) + 2 * li * 1280 * (1280 + d)
    motion = face_frames * 37.0e9  # StyleGAN encoder at 512x512: ~37 GFLOP per face crop
    return cfg.num_layers * block + cfg.num_face_blocks * face + embed + motion


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def _cpu_child(lat_t: int, hw: int, q):
    torch.manual_seed(0)
    cfg = ModelConfig(**SMALL)
    model = AnimateDiT(cfg).eval()
    inp = dit_inputs(cfg, lat_t, hw, hw)
    before = _rss_mb()
    with torch.no_grad():
        model(**inp)  # warm-up (also builds the rotary table)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            model(**inp)
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q.put((min(times), max(peak - before, 0.0), dit_flops(cfg, lat_t, hw, hw)))


def bench_dit_cpu(frames=(1, 2, 4, 8), hw: int = 32) -> None:
    cfg = ModelConfig(**SMALL)
    print(f"DiT forward on CPU ({torch.get_num_threads()} threads), random weights dim {cfg.dim}, "
          f"{cfg.num_layers} layers, {cfg.num_heads} heads, latent {hw}x{hw} (+1 reference frame)")
    print(f"{'lat_t':>5} {'tokens':>7} {'time s':>8} {'t/t0':>6} {'tok/tok0':>8} {'GFLOP':>8} {'GFLOP/s':>8} "
          f"{'peak MB':>8} {'mem/mem0':>8}")
    ctx = mp.get_context("spawn")
    base = None
    for lat_t in frames:
        q = ctx.Queue()
        p = ctx.Process(target=_cpu_child, args=(lat_t, hw, q))
        p.start()
        sec, mem, flops = q.get()
        p.join()
        tokens = (cfg.num_refs + lat_t) * (hw // 2) ** 2
        base = base or (sec, tokens, mem)
        print(f"{lat_t:>5} {tokens:>7} {sec:>8.3f} {sec / base[0]:>6.2f} {tokens / base[1]:>8.2f} "
              f"{flops / 1e9:>8.1f} {flops / sec / 1e9:>8.1f} {mem:>8.0f} {mem / max(base[2], 1e-9):>8.2f}")


def random_model(cfg: ModelConfig, device) -> AnimateDiT:
    """A model with random bf16 weights, materialised tensor by tensor on ``device``."""
    with torch.device("meta"):
        model = AnimateDiT(cfg)
    g = torch.Generator(device=device).manual_seed(0)
    sd = {}
    for k, v in model.state_dict().items():
        if k.endswith(".kernel"):  # the constant blur filter
            sd[k] = blur_kernel().to(device)
            continue
        t = torch.empty(v.shape, device=device, dtype=torch.bfloat16)
        fan_in = math.prod(v.shape[1:]) if v.ndim > 1 else 1
        t.normal_(1.0 if "norm" in k else 0.0, 1.0 if "motion_encoder" in k else fan_in ** -0.5, generator=g)
        sd[k] = t
    model.load_state_dict(sd, assign=True)
    return model.to_compute_dtype(torch.bfloat16).eval()


LORA_LAYERS = ("self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "cross_attn.q", "cross_attn.k",
               "cross_attn.v", "cross_attn.o", "cross_attn.k_img", "cross_attn.v_img", "ffn.0", "ffn.2")


def write_random_lora(model: AnimateDiT, rank: int, path: Path) -> Path:
    """A PEFT-format LoRA of ``rank`` on every block's linear layers (as step-distill LoRAs are), bf16."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(2)
    sd = {}
    for i, block in enumerate(model.blocks):
        for name in LORA_LAYERS:
            w = block.get_submodule(name).weight
            base = f"diffusion_model.blocks.{i}.{name}"
            sd[base + ".lora_A.weight"] = (torch.randn(rank, w.shape[1], generator=g) * w.shape[1] ** -0.5).bfloat16()
            sd[base + ".lora_B.weight"] = (torch.randn(w.shape[0], rank, generator=g) * 1e-3).bfloat16()
    save_file(sd, str(path))
    return path


def to_fp8_storage(model: AnimateDiT) -> None:
    """Store every block linear weight in fp8 e4m3 with one scale each (as fp8 "scaled" files load)."""
    top = torch.finfo(torch.float8_e4m3fn).max
    for block in model.blocks:
        for m in block.modules():
            if isinstance(m, Linear):
                w = m.weight.data.float()
                scale = w.abs().max().clamp(min=1e-12) / top
                m.weight.data = (w / scale).to(torch.float8_e4m3fn)
                m.scale_weight = scale.reshape(())


def bench_dit_gpu(swaps=(0, 20, 40), width: int = 832, height: int = 480, frames: int = 77,
                  lora_rank: int = 64) -> None:
    device = torch.device("cuda")
    name = torch.cuda.get_device_name(device)
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    lat_t, h, w = (frames - 1) // 4 + 1, height // 8, width // 8
    print(f"\n14B-shape forward on {name}: bf16 weights and compute, {width}x{height}, {frames} frames "
          f"(latent {lat_t}+1 x {h} x {w}), face crops through the motion encoder")
    model = random_model(ModelConfig.wan22_animate_14b(), device)
    cfg = model.config
    flops = dit_flops(cfg, lat_t, h, w, face_frames=frames)
    inp = dit_inputs(cfg, lat_t, h, w, device=device, dtype=torch.bfloat16)
    inp.pop("face_tokens")
    inp["face_pixels"] = torch.rand(1, 3, frames, 512, 512, device=device, dtype=torch.bfloat16) * 2 - 1
    if lora_rank:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_random_lora(model, lora_rank, Path(tmp) / "lora.safetensors")
            t0 = time.perf_counter()
            rep = apply_loras(model, [(path, 1.0)])
            torch.cuda.synchronize()
        print(f"rank-{lora_rank} LoRA merged into {rep.changed} tensors in {time.perf_counter() - t0:.1f} s")
    runs = [(n, "bf16") for n in swaps] + [(0, "fp8")]
    print(f"{'swapped':>7} {'time s':>8} {'TFLOP':>7} {'TFLOP/s':>8} {'MFU':>6} {'weights GB':>10} {'peak GB':>8} "
          "storage")
    for n, storage in runs:
        if storage == "fp8":
            to_fp8_storage(model)
        swap = apply_block_swap(model, n, device)
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        resident = torch.cuda.memory_allocated(device) / 2**30
        with torch.no_grad():
            model(**inp)  # warm-up
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(**inp)
            torch.cuda.synchronize()
        sec = time.perf_counter() - t0
        mfu = f"{flops / sec / peak:6.1%}" if peak else "   n/a"
        print(f"{n:>7} {sec:>8.2f} {flops / 1e12:>7.1f} {flops / sec / 1e12:>8.1f} {mfu} {resident:>10.1f} "
              f"{torch.cuda.max_memory_allocated(device) / 2**30:>8.1f} {storage}")
        if swap is not None:
            swap.remove()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, nargs="+", default=[1, 2, 4, 8], help="latent video frames (CPU sweep)")
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--skip-vae", action="store_true", help="skip the VAE decode memory run (model_vae.py)")
    ap.add_argument("--stock-vae", default=None, metavar="COMFYUI_PATH",
                    help="VAE decode run with the VAE made by ComfyUI's stock Load VAE (real width 96, 64x64)")
    args = ap.parse_args()
    if not args.skip_cpu:
        bench_dit_cpu(tuple(args.frames))
    if not args.skip_vae:
        # VAE decode memory for 9, 33 and 81 frames at 256x256: it must stay flat
        print(flush=True)
        vae_args = ["--stock", args.stock_vae, "--dim", "96", "--size", "64"] if args.stock_vae else []
        subprocess.run([sys.executable, str(Path(__file__).with_name("model_vae.py")), *vae_args], check=True)
    if torch.cuda.is_available():
        bench_dit_gpu()
    else:
        print("\nno CUDA device: the 14B-shape GPU benchmark was skipped")


if __name__ == "__main__":
    main()
