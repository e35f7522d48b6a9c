"""Training speed and memory: the demo config and a larger one on this CPU; a 14B-shape step on a GPU.

    python benchmarks/train.py [--steps 6] [--threads 1]

CPU: optimiser steps per second (flow-matching loss, backward, AdamW, as ``trainer.train``
does them) and the peak resident memory of a fresh process per config, on random
tensors shaped like the demo's cached windows. GPU (only when ``torch.cuda.is_available()``):
one FSDP (``fully_shard``, bf16 compute, gradient checkpointing) step of the DreamActor-M1
variant with Wan2.2-Animate-14B block shapes (dim 5120, ffn 13824, 40 heads) at 480p x
21 latent frames, with as many of the 40 blocks as fit, printing seconds, peak memory and
model FLOP utilisation (MFU) against the GPU's dense bf16 peak.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# name -> (model overrides of the demo config, data shape: latent frames, h, w, batch)
CPU_CONFIGS = {
    "demo (128x128, 9 frames)": ({}, (3, 16, 16, 4)),
    "larger (dim 256, 8 blocks, 128x128)": (dict(dim=256, ffn_dim=1024, num_heads=4, num_layers=8), (3, 16, 16, 2)),
}
BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40": 181.0, "4090": 165.0}


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _step_fn(model, optim, data, batch: int, shift: float):
    import torch

    from dreamactor_core.training.trainer import step_generator, training_loss

    def step(i: int) -> float:
        loss = training_loss(model, data.batch(i, 0, 1, batch), step_generator(0, i), shift, False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        optim.zero_grad(set_to_none=True)
        return float(loss.detach())

    return step


def run_cpu_config(name: str, steps: int) -> dict:
    """Time ``steps`` optimiser steps of one CPU config (after one warm-up step)."""
    import torch

    from dreamactor_core.model.config import ModelConfig
    from dreamactor_core.model.dit import AnimateDiT
    from dreamactor_core.training.dataset import RandomClips
    from dreamactor_core.training.demo import DIT_CONFIG

    overrides, (t, h, w, batch) = CPU_CONFIGS[name]
    cfg = ModelConfig(**{**DIT_CONFIG, **overrides})
    torch.manual_seed(0)
    model = AnimateDiT(cfg).train()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    data = RandomClips(frames=t, height=h, width=w, refs=cfg.num_refs, text_len=cfg.text_len)
    step = _step_fn(model, optim, data, batch, shift=3.0)
    step(0)
    t0 = time.perf_counter()
    for i in range(1, steps + 1):
        step(i)
    sec = (time.perf_counter() - t0) / steps
    params = sum(p.numel() for p in model.parameters())
    tokens = batch * (t + cfg.num_refs) * h * w // (cfg.patch[1] * cfg.patch[2])
    return {"config": name, "params_M": params / 1e6, "tokens_per_step": tokens, "steps_per_s": 1.0 / sec,
            "peak_rss_MB": _peak_rss_mb()}


def gpu_fsdp_step(max_blocks: int = 40, frames: int = 21, height: int = 60, width: int = 104) -> dict:
    """One FSDP training step of the 14B-shape variant with as many blocks as fit (GPU only)."""
    import os

    import torch
    import torch.distributed as dist
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    from dreamactor_core.model.config import ModelConfig
    from dreamactor_core.model.dit import AnimateDiT
    from dreamactor_core.training.trainer import shard

    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    if not dist.is_initialized():
        dist.init_process_group("nccl", rank=0, world_size=1)
    dev = torch.device("cuda", 0)
    free = torch.cuda.mem_get_info()[0]
    probe = ModelConfig.dreamactor_m1(num_layers=1, face_every=0, has_clip=True)
    with torch.device("meta"):
        per_block = sum(p.numel() for p in AnimateDiT(probe).blocks[0].parameters())
    # fp32 master weights + grads + 2 Adam moments = 16 bytes/param; keep ~40% for activations
    blocks = max(1, min(max_blocks, int(0.6 * free / (16 * per_block))))
    cfg = ModelConfig.dreamactor_m1(num_layers=blocks, face_every=0, has_clip=True)
    torch.manual_seed(0)
    with torch.device(dev):
        model = AnimateDiT(cfg)
    model = shard(model, dev, mixed_precision=True, grad_checkpointing=True)
    if dist.get_world_size() == 1:  # shard() only wraps under torchrun; wrap here so the step is an FSDP one
        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        for block in model.blocks:
            fully_shard(block, mp_policy=mp)
        fully_shard(model, mp_policy=mp)
    model.to_compute_dtype(torch.bfloat16)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-5)
    r = cfg.num_refs
    x = torch.randn(1, 16, r + frames, height, width, device=dev)
    y = torch.randn(1, 20, r + frames, height, width, device=dev)
    pose = torch.randn(1, 16, frames, height, width, device=dev)
    ctx = torch.randn(1, 512, 4096, device=dev)
    clip = torch.randn(1, 257, 1280, device=dev)
    torch.cuda.reset_peak_memory_stats()

    def one() -> float:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model(x, torch.tensor([500.0], device=dev), ctx, clip_fea=clip, y=y, pose_latents=pose)
        out[:, :, r:].float().square().mean().backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        return time.perf_counter() - t0

    one()  # warm-up (allocations, kernels)
    sec = one()
    tokens = (r + frames) * height * width // 4
    n_block = per_block * blocks
    # 6 FLOPs per parameter per token (fwd + bwd) + recompute of the forward (+2) under checkpointing,
    # plus attention scores: 4 * L * d per token per block forward, x4 with backward and recompute
    flops = 8 * n_block * tokens + 16 * blocks * tokens * tokens * cfg.dim
    name = torch.cuda.get_device_name(0)
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
    return {"gpu": name, "blocks": blocks, "of": 40, "tokens": tokens, "seconds": sec,
            "peak_mem_GiB": torch.cuda.max_memory_allocated() / 2 ** 30, "TFLOPs": flops / sec / 1e12,
            "MFU": None if peak is None else flops / sec / 1e12 / peak}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one CPU config
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.one:
        print(json.dumps(run_cpu_config(args.one, args.steps)))
        return 0
    print(f"CPU training steps ({args.threads} thread(s), {args.steps} timed steps, fresh process per config)")
    print(f"{'config':<38}{'params M':>10}{'tokens':>8}{'steps/s':>10}{'peak RSS MB':>13}")
    results = []
    for name in CPU_CONFIGS:  # a fresh process each, so the peak memory is that config's own
        out = subprocess.run([sys.executable, __file__, "--one", name, "--steps", str(args.steps), "--threads",
                              str(args.threads)], capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            print(f"{name}: failed\n{out.stderr[-2000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{r['config']:<38}{r['params_M']:>10.2f}{r['tokens_per_step']:>8}{r['steps_per_s']:>10.2f}"
              f"{r['peak_rss_MB']:>13.0f}")
    if len(results) == 2:
        print(f"demo / larger speed ratio: {results[0]['steps_per_s'] / results[1]['steps_per_s']:.1f}x")
    if torch.cuda.is_available():
        r = gpu_fsdp_step()
        mfu = "n/a (unknown GPU peak)" if r["MFU"] is None else f"{r['MFU']:.1%}"
        print(f"\nGPU {r['gpu']}: 14B-shape FSDP step, {r['blocks']}/{r['of']} blocks, {r['tokens']} tokens: "
              f"{r['seconds']:.2f}s, peak {r['peak_mem_GiB']:.1f} GiB, {r['TFLOPs']:.0f} TFLOP/s, MFU {mfu}")
    else:
        print("\nno CUDA GPU: the 14B-shape FSDP step is skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
