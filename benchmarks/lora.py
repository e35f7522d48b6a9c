"""Memory and time of merging a LoRA into a loaded DiT (CPU), each case in a fresh process.

    python benchmarks/lora.py [--dim 1024 --layers 10 --rank 64]

A model of random weights is written to a temporary safetensors file (bf16, or with fp8-stored
block linears), loaded with ``load_dit`` and merged with a rank-``--rank`` LoRA on every block
linear layer (``apply_loras``). Printed per case: the weights' size, the time of the merge and
how much the process's peak resident memory grew during it, as a share of the weights. A merge
that made a second copy of the model would grow it by 100% or more; block-by-block merging
keeps it to a few layer-sized buffers, whatever the model's size. For fp8 storage the patched
layers become the compute dtype (bf16, 2x an fp8 weight): the model grows by them, and the
process's peak by about their new size (the freed fp8 buffers stay with the allocator for reuse).

Measured on the shared 2-core CPU (rank 64, dim 1024): bf16, 10 blocks (477 MB): +65 MB (13.7%);
20 blocks (853 MB): +91 MB (10.6%). fp8, 10 blocks (297 -> 477 MB): +499 MB; 20 blocks
(493 -> 853 MB): +903 MB.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dreamactor_core.model.config import ModelConfig  # noqa: E402


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        line = next(ln for ln in fh if ln.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _child(model_path: str, lora_path: str, q) -> None:
    from dreamactor_core.model.loader import load_dit
    from dreamactor_core.model.lora import apply_loras

    dit = load_dit(model_path, compute_dtype=torch.bfloat16)
    weights = sum(p.numel() * p.element_size() for p in dit.parameters()) / 2**20
    for p in dit.parameters():  # read every weight once: file pages not yet resident would count as growth
        p.data.float().sum()
    with open("/proc/self/clear_refs", "w") as fh:  # start the peak (VmHWM) afresh: loading is not measured
        fh.write("5")
    before = _status_mb("VmRSS")
    t0 = time.perf_counter()
    rep = apply_loras(dit, [(lora_path, 1.0)])
    sec = time.perf_counter() - t0
    after = sum(p.numel() * p.element_size() for p in dit.parameters()) / 2**20
    q.put((weights, after, sec, max(_status_mb("VmHWM") - before, 0.0), rep.changed))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--rank", type=int, default=64)
    args = ap.parse_args()
    from safetensors.torch import save_file

    from model import random_model, to_fp8_storage, write_random_lora

    cfg = ModelConfig(dim=args.dim, ffn_dim=4 * args.dim, num_heads=args.dim // 128, num_layers=args.layers,
                      text_len=64)
    ctx = mp.get_context("spawn")
    print(f"LoRA merge on CPU: dim {cfg.dim}, {cfg.num_layers} blocks, rank {args.rank} on every block linear")
    print(f"{'storage':>8} {'weights MB':>10} {'after MB':>9} {'tensors':>7} {'merge s':>8} {'peak +MB':>9} "
          f"{'peak/weights':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        model = random_model(cfg, "cpu")
        lora = write_random_lora(model, args.rank, Path(tmp) / "lora.safetensors")
        files = {"bf16": Path(tmp) / "bf16.safetensors", "fp8": Path(tmp) / "fp8.safetensors"}
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(files["bf16"]))
        to_fp8_storage(model)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(files["fp8"]))
        del model
        for storage, path in files.items():
            q = ctx.Queue()
            p = ctx.Process(target=_child, args=(str(path), str(lora), q))
            p.start()
            weights, after, sec, grew, changed = q.get()
            p.join()
            print(f"{storage:>8} {weights:>10.0f} {after:>9.0f} {changed:>7} {sec:>8.2f} {grew:>9.0f} "
                  f"{grew / weights:>12.1%}")


if __name__ == "__main__":
    main()
