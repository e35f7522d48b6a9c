"""The pack's DiT against ComfyUI core's Wan-Animate model in bf16, same weights, same CPU, one run.

    COMFYUI_PATH=/path/to/ComfyUI python benchmarks/dit_vs_core.py [--dim 512 --layers 5 --frames 4 --size 32]

Both models get the same random weights (the official key layout both read) stored in bf16 and
compute in bf16; ComfyUI's uses its plain operations (no per-layer casting, as a bf16 file loads)
and PyTorch SDPA attention, as ours. The face path is left out of both (no face input), so the
blocks, embeddings and head are what is compared. Printed: seconds per forward (best of
``--repeat``), the ratio pack / core (< 1: the pack is faster), the relative error of each
against a float32 forward of the pack's DiT (ours keeps a float32 residual stream), and the
cost of text/CLIP embedding plus cross-attention K/V that a per-window context cache saves.
ComfyUI is imported here only: the core never imports it.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dreamactor_core.model.config import ModelConfig  # noqa: E402
from dreamactor_core.model.dit import AnimateDiT  # noqa: E402


def import_core_model():
    """ComfyUI's AnimateWanModel and plain ops, with PyTorch attention on the CPU."""
    root = os.environ.get("COMFYUI_PATH")
    if not root or not Path(root, "comfy").is_dir():
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout (the folder that holds comfy/)")
    sys.path.insert(0, root)
    import comfy.options

    comfy.options.enable_args_parsing()
    argv, sys.argv = sys.argv, [sys.argv[0], "--cpu", "--use-pytorch-cross-attention"]
    try:
        import comfy.ldm.modules.attention as attention
        import comfy.ops
        from comfy.ldm.wan.model_animate import AnimateWanModel
    finally:
        sys.argv = argv
    return AnimateWanModel, comfy.ops.disable_weight_init, attention.optimized_attention.__name__


def random_weights(cfg: ModelConfig, seed: int = 0) -> dict:
    """Random weights of a sensible scale for every parameter (official keys)."""
    torch.manual_seed(seed)
    model = AnimateDiT(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.normal_(0, p[0].numel() ** -0.5)
            elif "norm" in name:
                p.fill_(1.0)
            else:
                p.normal_(0, 0.02)
    return model.state_dict()


def best_times(fns: list, repeat: int) -> list[float]:
    """Best time of each function over ``repeat`` rounds, the functions taking turns within a round,
    so that load from other processes on a shared CPU falls on all of them alike."""
    for fn in fns:
        fn()  # warm-up
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--frames", type=int, default=4, help="latent video frames (plus one reference slot)")
    ap.add_argument("--size", type=int, default=32, help="latent height and width")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    AnimateWanModel, ops, attn_name = import_core_model()
    cfg = ModelConfig(dim=args.dim, ffn_dim=3 * args.dim, num_heads=args.heads, num_layers=args.layers, text_len=512)
    sd = random_weights(cfg)
    bf16 = {k: v.to(torch.bfloat16) for k, v in sd.items()}

    ours = AnimateDiT(cfg).eval()
    ours.load_state_dict(bf16, assign=True)  # stored in bf16, as load_dit keeps a bf16 file
    ours.to_compute_dtype(torch.bfloat16)
    reference = AnimateDiT(cfg).eval()
    reference.load_state_dict(bf16, assign=True)  # the same bf16 weights, computed in float32

    core = AnimateWanModel(patch_size=cfg.patch, text_len=cfg.text_len, in_dim=cfg.in_dim, dim=cfg.dim,
                           ffn_dim=cfg.ffn_dim, freq_dim=cfg.freq_dim, text_dim=cfg.text_dim, out_dim=cfg.out_dim,
                           num_heads=cfg.num_heads, num_layers=cfg.num_layers, eps=cfg.eps, image_model="wan2.1",
                           dtype=torch.bfloat16, device="cpu", operations=ops).eval()
    missing, unexpected = core.load_state_dict(bf16, strict=False)
    missing = [k for k in missing if not k.endswith(".kernel")]
    if missing or unexpected:
        sys.exit(f"the core model does not take the official keys: missing {missing[:5]}, unexpected {unexpected[:5]}")

    g = torch.Generator().manual_seed(1)
    t_all, s = 1 + args.frames, args.size
    r = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    x, y = r(1, 16, t_all, s, s), r(1, cfg.y_dim, t_all, s, s)
    context, clip_fea, pose = r(1, cfg.text_len, 4096), r(1, 257, 1280), r(1, 16, args.frames, s, s)
    t = torch.tensor([700.0])
    tokens = t_all * (s // 2) ** 2

    def run_ours(model, dtype, cache=None):
        with torch.no_grad():
            return model(x.to(dtype), t, context.to(dtype), clip_fea=clip_fea.to(dtype), y=y.to(dtype),
                         pose_latents=pose.to(dtype), context_cache=cache)

    def run_core():
        with torch.no_grad():
            xin = torch.cat([x, y], dim=1).to(torch.bfloat16)
            return core(xin, t, context.to(torch.bfloat16), clip_fea=clip_fea.to(torch.bfloat16),
                        pose_latents=pose.to(torch.bfloat16))

    want = run_ours(reference, torch.float32).float()
    got_ours, got_core = run_ours(ours, torch.bfloat16).float(), run_core().float()
    rel = lambda a: ((a - want).norm() / want.norm()).item()  # noqa: E731
    with torch.no_grad():
        cache = ours.prepare_context(context.to(torch.bfloat16), clip_fea.to(torch.bfloat16))
    t_core, t_ours, t_cached = best_times([run_core, lambda: run_ours(ours, torch.bfloat16),
                                           lambda: run_ours(ours, torch.bfloat16, cache)], args.repeat)
    print(f"config: dim {cfg.dim}, {cfg.num_heads} heads, {cfg.num_layers} blocks, {tokens} video tokens, "
          f"text {cfg.text_len} + CLIP 257 tokens; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"core attention: {attn_name}")
    print(f"bf16 forward, core (ComfyUI AnimateWanModel): {t_core:.3f} s")
    print(f"bf16 forward, pack (AnimateDiT):              {t_ours:.3f} s   ratio pack/core {t_ours / t_core:.3f}")
    print(f"bf16 forward, pack with the window's context cache: {t_cached:.3f} s   ratio pack/core "
          f"{t_cached / t_core:.3f} (saves {100 * (1 - t_cached / t_ours):.1f}% per call)")
    print(f"relative error against the float32 forward: pack {rel(got_ours):.2e}, core {rel(got_core):.2e}")


if __name__ == "__main__":
    main()
