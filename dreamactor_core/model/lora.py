"""Reading LoRA files and merging them into an :class:`AnimateDiT`'s weights.

Key formats and their mapping onto the official Wan2.2-Animate keys are in
:mod:`dreamactor_core.model.lora_keys`. Everything that can be checked from the file's header
(a key that names no module, an up matrix without its down, shapes that do not fit) is checked
for every file before any weight changes.

Merging goes one module group at a time (each transformer block, then the other top-level
modules), reading only that group's LoRA tensors from the memory-mapped file and building one
delta at a time, so the extra memory is one layer's delta, never a second copy of the model.
Weights stored in fp8 are dequantized (with their scale), patched and kept in the model's
compute dtype; other weights keep their storage dtype. Blocks held in host memory by block swap
are patched there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple, Sequence

import torch
import torch.nn as nn

from dreamactor_core.model.checkpoint import FP8_DTYPES, open_safetensors
from dreamactor_core.model.layers import Linear
from dreamactor_core.model.lora_keys import LoraError, ModelNames, Target, match_keys
from dreamactor_core.utils import ProgressFn, report

__all__ = ["LoraError", "LoraPatch", "LoraReport", "apply_loras", "check_loras", "lora_patches",
           "merge_into_state_dict", "parse_lora_arg"]


class LoraPatch(NamedTuple):
    """One model tensor's patch: ``kind`` "lora" with ``tensors`` (up, down) or "diff" with
    ``(delta,)``; ``scale`` is alpha / rank for a LoRA that stores an alpha, else 1.0. The change
    at strength s is ``s * scale * up @ down`` (or ``s * delta``)."""

    kind: str
    tensors: tuple
    scale: float


class LoraFile:
    """An open LoRA ``.safetensors`` file, read lazily (memory-mapped)."""

    def __init__(self, path):
        self.path = Path(path)
        self._file = open_safetensors(self.path)
        self.keys = list(self._file.keys())

    @property
    def name(self) -> str:
        return self.path.name

    def shape(self, key: str) -> tuple:
        return tuple(self._file.get_slice(key).get_shape())

    def tensor(self, key: str, device="cpu") -> torch.Tensor:
        """A tensor upcast to float32 (LoRAs are stored in bf16, fp16, fp32, sometimes fp8)."""
        return self._file.get_tensor(key).to(device=device, dtype=torch.float32)

    def patch(self, target: Target, device="cpu") -> LoraPatch:
        tensors = tuple(self.tensor(k, device) for k in target.keys)
        scale = 1.0
        if target.alpha_key is not None:
            scale = float(self.tensor(target.alpha_key).reshape(-1)[0]) / tensors[1].shape[0]
        return LoraPatch(target.kind, tensors, scale)

    def close(self) -> None:
        self._file = None

    def __enter__(self) -> "LoraFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def parse_lora_arg(text: str) -> tuple[str, float]:
    """``FILE[:STRENGTH]`` -> (file, strength); strength 1.0 when absent. A colon whose tail is no
    number belongs to the path (Windows drive letters)."""
    path, sep, tail = text.rpartition(":")
    if sep and path:
        try:
            return path, float(tail)
        except ValueError:
            pass
    return text, 1.0


def _delta_shape(f: LoraFile, target: Target) -> tuple[int, ...]:
    if target.kind == "diff":
        return f.shape(target.keys[0])
    up, down = f.shape(target.keys[0]), f.shape(target.keys[1])
    if len(up) < 2 or len(down) < 2 or up[1] != down[0]:
        raise LoraError(f"LoRA '{f.name}': up {target.keys[0]} {list(up)} and down {target.keys[1]} "
                        f"{list(down)} do not multiply (their rank differs); the file is damaged")
    return (up[0], *down[1:])


def match_file(f: LoraFile, shapes: Mapping[str, tuple]):
    """Map ``f`` onto a model with these official keys and shapes; errors for no match and for shapes
    that do not fit (a LoRA for another model size)."""
    found = match_keys(f.keys, ModelNames(shapes), f.name)
    if not found.targets:
        sample = ", ".join(f.keys[:3]) or "(the file is empty)"
        hint = ("none of its keys has a LoRA suffix (.lora_A/.lora_B.weight, .lora_down/.lora_up.weight, "
                ".diff, .diff_b)" if not found.left_out else
                f"it names modules this model lacks: {', '.join(sorted(found.left_out)[:4])}")
        raise LoraError(f"LoRA '{f.name}' matches no tensor of this model ({len(f.keys)} keys, e.g. {sample}); "
                        f"{hint}. It is probably made for another model; use a Wan2.2-Animate or Wan2.1 "
                        "14B LoRA")
    for official, target in found.targets.items():
        want, got = tuple(shapes[official]), _delta_shape(f, target)
        if math.prod(got) != math.prod(want) or got[0] != want[0]:
            raise LoraError(f"LoRA '{f.name}': {' / '.join(target.keys)} gives a {list(got)} change but the "
                            f"model's {official} is {list(want)}; the LoRA is for another model size")
    return found


def lora_patches(path, shapes: Mapping[str, tuple], device="cpu") -> tuple[dict[str, LoraPatch], dict[str, int]]:
    """Every patch a LoRA file makes, keyed by official key (e.g. ``blocks.0.self_attn.q.weight``), and
    the module groups it left out (group -> file tensors). ``shapes`` are the model's parameter shapes
    by official key. For callers that merge patches themselves (ComfyUI's LoRA patcher wants
    ``diffusion_model.<official key>``)."""
    with LoraFile(path) as f:
        found = match_file(f, shapes)
        return {k: f.patch(t, device) for k, t in found.targets.items()}, dict(found.left_out)


def delta_of(patch: LoraPatch, shape: Sequence[int]) -> torch.Tensor:
    """The float32 change a patch makes at strength 1, shaped as the model tensor."""
    if patch.kind == "diff":
        d = patch.tensors[0]
    else:
        up, down = patch.tensors
        d = (up.flatten(1) @ down.flatten(1)).mul_(patch.scale)  # in place: one layer-sized buffer
    return d.reshape(tuple(shape))


@dataclass
class FileReport:
    name: str
    strength: float
    changed: int  # model tensors this file changed
    left_out: dict[str, int] = field(default_factory=dict)  # module group -> file tensors not applied
    unknown: int = 0  # file keys without a LoRA role suffix (ignored)


@dataclass
class LoraReport:
    """What :func:`apply_loras` changed, per file and in total."""

    files: list[FileReport] = field(default_factory=list)
    changed: int = 0  # distinct model tensors changed by all files together

    @property
    def partial(self) -> bool:
        return any(r.left_out or r.unknown for r in self.files)

    def lines(self) -> list[str]:
        out = []
        for r in self.files:
            line = f"LoRA {r.name} (strength {r.strength:g}): changed {r.changed} tensors"
            if r.left_out:
                groups = ", ".join(f"{g} ({n})" for g, n in sorted(r.left_out.items()))
                line += f"; left out {sum(r.left_out.values())} tensors of modules this model lacks: {groups}"
            if r.unknown:
                line += f"; ignored {r.unknown} keys that are no LoRA tensors"
            out.append(line)
        return out


def _group(key: str) -> str:
    parts = key.split(".")
    return ".".join(parts[:2]) if parts[0] == "blocks" else parts[0]


def _merge(dit: nn.Module, key: str, delta: torch.Tensor) -> None:
    """Add ``delta`` (float32) to parameter ``key`` in place where its dtype allows."""
    mod_name, attr = key.rsplit(".", 1)
    mod = dit.get_submodule(mod_name)
    p = getattr(mod, attr)
    scale = mod.scale_weight if isinstance(mod, Linear) and attr == "weight" else None
    delta = delta.to(p.device)
    if p.dtype in FP8_DTYPES or scale is not None:
        w = p.data.float()
        if scale is not None:
            s = scale.float()
            w = w * (s.reshape(-1, *([1] * (w.ndim - 1))) if s.numel() > 1 else s.reshape(()))
        p.data = (w + delta).to(dit.compute_dtype)  # dequantized for good: fp8 cannot hold the sum
        if scale is not None:
            mod.scale_weight = None
        if dit.block_swap is not None:
            dit.block_swap.rehost(p)
    elif p.dtype == torch.float32:
        p.data.add_(delta)
    else:
        p.data.copy_(delta.add_(p.data))  # in float32, then one rounding (not two)


class _Opened:
    """LoRA files opened and checked against a model's shapes; yields the summed change per tensor."""

    def __init__(self, loras: Iterable[tuple], shapes: Mapping[str, tuple]):
        self.shapes, self.files, self.matches, self.report = shapes, [], [], LoraReport()
        try:
            for path, strength in loras:
                f = LoraFile(path)
                self.files.append((f, float(strength)))
                found = match_file(f, shapes)
                self.matches.append(found)
                self.report.files.append(FileReport(f.name, float(strength), len(found.targets),
                                                    dict(found.left_out), len(found.unknown)))
        except BaseException:
            self.close()
            raise
        self.groups: dict[str, list[str]] = {}
        for key in sorted({k for m in self.matches for k in m.targets}, key=_order):
            self.groups.setdefault(_group(key), []).append(key)
        self.report.changed = sum(len(keys) for keys in self.groups.values())

    def delta(self, key: str, device) -> torch.Tensor:
        """The float32 change of tensor ``key`` summed over the files, each at its strength."""
        total = None
        for (f, strength), found in zip(self.files, self.matches):
            if key in found.targets:
                # the patch is ours alone (read just now), so scaling in place is safe
                d = delta_of(f.patch(found.targets[key], device), self.shapes[key]).mul_(strength)
                total = d if total is None else total.add_(d)
        return total

    def close(self) -> None:
        for f, _ in self.files:
            f.close()


def check_loras(loras: Iterable[tuple], shapes: Mapping[str, tuple]) -> LoraReport:
    """Check ``[(path, strength), ...]`` against a model's parameter shapes without reading any
    LoRA tensor (to fail before long work); returns what applying them would report."""
    opened = _Opened(loras, shapes)
    opened.close()
    return opened.report


def apply_loras(dit: nn.Module, loras: Iterable[tuple], progress: ProgressFn = None) -> LoraReport:
    """Merge LoRA files ``[(path, strength), ...]`` into ``dit``'s weights, one module group at a time.

    Every file is checked first (no match, damaged pairs, wrong sizes raise :class:`LoraError` and
    change nothing). ``progress(done, total)`` counts module groups. Returns a :class:`LoraReport`
    with the tensors each file changed and the module groups it left out.
    """
    opened = _Opened(loras, {k: tuple(p.shape) for k, p in dit.named_parameters()})
    try:
        with torch.no_grad():
            for done, keys in enumerate(opened.groups.values(), 1):
                for key in keys:
                    _merge(dit, key, opened.delta(key, dit.get_parameter(key).device))
                report(progress, done, len(opened.groups))
    finally:
        opened.close()
    return opened.report


def merge_into_state_dict(sd: dict, loras: Iterable[tuple]) -> LoraReport:
    """Replace the tensors of state dict ``sd`` (official keys) that the LoRAs change by merged copies,
    keeping each tensor's dtype (fp8 becomes float32, which can hold the sum). The tensors given are
    never written to, so ``sd`` may share them with a live model (an exporter's)."""
    opened = _Opened(loras, {k: tuple(v.shape) for k, v in sd.items()})
    try:
        for keys in opened.groups.values():
            for key in keys:
                old = sd[key].float()
                scale_key = key[: -len("weight")] + "scale_weight"
                if key.endswith(".weight") and scale_key in sd:  # an fp8 "scaled" weight: dequantize for good
                    s = sd.pop(scale_key).float()
                    old = old * (s.reshape(-1, *([1] * (old.ndim - 1))) if s.numel() > 1 else s.reshape(()))
                dtype = torch.float32 if sd[key].dtype in FP8_DTYPES else sd[key].dtype
                sd[key] = (old + opened.delta(key, old.device)).to(dtype)
    finally:
        opened.close()
    return opened.report


def _order(key: str):
    """Blocks in index order after the other modules, so progress follows the forward's blocks."""
    parts = key.split(".")
    if parts[0] == "blocks":
        return (1, int(parts[1]), key)
    return (0, 0, key)
