"""Tiny LoRA files in each key format seen in the wild, and the checkpoint with the same delta merged by hand.

The formats (what ComfyUI's stock LoraLoaderModelOnly and the pack's core both read):
PEFT ``lora_A``/``lora_B`` under ``diffusion_model.``; kohya ``lora_down``/``lora_up`` with ``.alpha``
under ``lora_unet_`` with underscores; full deltas ``diff`` (weights) and ``diff_b`` (biases).
Deltas touch a self-attention, a cross-attention and an FFN linear of every block.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

FORMATS = ("peft", "kohya", "diff")
TARGETS = ("self_attn.q", "cross_attn.v", "ffn.2")


def _write(sd: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path


def write_lora_and_merged(base: Path, fmt: str, lora_path: Path, merged_path: Path, *, strength: float,
                          rank: int = 4, seed: int = 0) -> None:
    """Write a random LoRA for the DiT file ``base`` in ``fmt`` and ``base`` with ``strength`` x its delta added."""
    sd = load_file(str(base))
    g = torch.Generator().manual_seed(seed)
    blocks = sorted({int(k.split(".")[1]) for k in sd if k.startswith("blocks.")})
    lora, merged = {}, {k: v.double() for k, v in sd.items()}
    for i in blocks:
        for target in TARGETS:
            key = f"blocks.{i}.{target}"
            out_f, in_f = sd[key + ".weight"].shape
            if fmt == "diff":
                delta = torch.randn(out_f, in_f, generator=g) * 0.02
                delta_b = torch.randn(out_f, generator=g) * 0.02
                lora[f"diffusion_model.{key}.diff"], lora[f"diffusion_model.{key}.diff_b"] = delta, delta_b
                merged[key + ".bias"] += strength * delta_b.double()
            else:
                down = torch.randn(rank, in_f, generator=g) * 0.2
                up = torch.randn(out_f, rank, generator=g) * 0.2
                if fmt == "peft":
                    lora[f"diffusion_model.{key}.lora_A.weight"] = down
                    lora[f"diffusion_model.{key}.lora_B.weight"] = up
                    scale = 1.0
                else:
                    name = "lora_unet_" + key.replace(".", "_")
                    alpha = rank / 2.0
                    lora[f"{name}.lora_down.weight"], lora[f"{name}.lora_up.weight"] = down, up
                    lora[f"{name}.alpha"] = torch.tensor(alpha)
                    scale = alpha / rank
                delta = scale * (up.double() @ down.double())
            merged[key + ".weight"] += strength * delta.double()
    _write(lora, lora_path)
    _write({k: v.to(sd[k].dtype) for k, v in merged.items()}, merged_path)
