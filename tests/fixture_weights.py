"""Rebuild the full state dict of a conformance fixture.

The fixtures store small tensors and describe large ones by the "splitmix-u24"
generator in ../shared/conformance/README.md (section 1). This module
regenerates the missing tensors, merges them with the stored ones and checks
every tensor's SHA-256, so tests load exactly the official weights.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix_u24(seed64: int, numel: int) -> np.ndarray:
    """Values u in (-1, 1) for elements 1..numel of the SplitMix64 stream at ``seed64``."""
    with np.errstate(over="ignore"):
        i = np.arange(1, numel + 1, dtype=np.uint64)
        z = np.uint64(seed64) + i * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
    k = (z >> np.uint64(40)).astype(np.float64)
    return ((2.0 * k + 1.0 - 2.0**24) / 2.0**24).astype(np.float32)


def generate(key: str, spec: dict, fixture_seed: int) -> torch.Tensor:
    """Regenerate one tensor from its manifest entry."""
    seed64 = (fixture_seed << 32) | zlib.crc32(key.encode("utf-8"))
    numel = int(np.prod(spec["shape"])) if spec["shape"] else 1
    u = splitmix_u24(seed64, numel).astype(np.float64)
    value = np.float32(spec["center"]) + np.float64(2.0 ** spec["scale_log2"]) * u
    return torch.from_numpy(value.astype(np.float32).reshape(spec["shape"]))


def sha256_f32(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()).hexdigest()


def full_state_dict(fixture_dir: Path) -> dict[str, torch.Tensor]:
    """Stored + regenerated tensors of a fixture, each verified against its SHA-256."""
    fixture_dir = Path(fixture_dir)
    name = fixture_dir.name
    manifest = json.loads((fixture_dir / f"{name}.manifest.json").read_text())
    seed = int(manifest["weight_generator"]["fixture_seed"])
    stored = load_file(str(fixture_dir / f"{name}.weights.safetensors"))
    out = {}
    for key, spec in manifest["weights"].items():
        t = stored[key] if key in stored else generate(key, spec, seed)
        if sha256_f32(t) != spec["sha256_f32le"]:
            raise AssertionError(f"fixture tensor {key} does not match its SHA-256")
        out[key] = t
    return out


def write_full_checkpoint(fixture_dir: Path, path: Path, prefix: str = "", metadata: dict | None = None) -> Path:
    """Write the fixture's full state dict as one safetensors file (optionally with a key prefix and metadata)."""
    sd = {prefix + k: v.contiguous() for k, v in full_state_dict(fixture_dir).items()}
    save_file(sd, str(path), metadata=metadata)
    return path
