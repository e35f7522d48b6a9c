"""LoRA key names in the formats seen in the wild, mapped onto the official Wan2.2-Animate keys.

A LoRA file names each patched layer by a *base* plus a role suffix:

- PEFT: ``<base>.lora_A.weight`` (down) and ``<base>.lora_B.weight`` (up);
- kohya: ``<base>.lora_down.weight`` / ``<base>.lora_up.weight`` with an optional ``<base>.alpha``
  (the delta is scaled by alpha / rank; PEFT files may carry an alpha too);
- full deltas: ``<base>.diff`` (added to the weight) and ``<base>.diff_b`` (added to the bias).

The base is the module's name with a ``diffusion_model.`` (or ``model.diffusion_model.``) prefix,
no prefix, or kohya's ``lora_unet_`` prefix with every dot turned into an underscore. Names only
here: reading tensors and applying them is :mod:`dreamactor_core.model.lora`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

from dreamactor_core.utils import DreamActorError

# role suffix -> role; longer suffixes first so ".diff_b" is not read as ".diff"
ROLE_SUFFIXES = (
    (".lora_A.weight", "down"), (".lora_B.weight", "up"),
    (".lora_down.weight", "down"), (".lora_up.weight", "up"),
    (".alpha", "alpha"), (".diff_b", "diff_b"), (".diff", "diff"),
)
DOT_PREFIXES = ("model.diffusion_model.", "diffusion_model.", "base_model.model.")
UNDERSCORE_PREFIX = "lora_unet_"


class LoraError(DreamActorError):
    """A LoRA file that cannot be applied; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Target:
    """One model tensor a LoRA file changes: ``kind`` "lora" (file keys up, down) or "diff"
    (file key of the delta), plus the file key of the alpha scalar when the file has one."""

    kind: str
    keys: tuple[str, ...]
    alpha_key: Optional[str] = None


@dataclass
class KeyMatch:
    """How one file's keys map onto a model: ``targets`` by official key, and what matched nothing."""

    targets: dict[str, Target] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)  # module group -> file tensors not applied
    unknown: list[str] = field(default_factory=list)  # keys with no LoRA role suffix

    @property
    def left_out_tensors(self) -> int:
        return sum(self.left_out.values())


def split_role(key: str) -> tuple[str, str] | None:
    """``(base, role)`` of a LoRA file key, or None when its suffix is no known role."""
    for suffix, role in ROLE_SUFFIXES:
        if key.endswith(suffix):
            return key[: -len(suffix)], role
    return None


def group_of(base: str) -> str:
    """A module group for reports: prefix dropped, block / layer indices replaced by ``*``."""
    for prefix in DOT_PREFIXES:
        if base.startswith(prefix):
            base = base[len(prefix):]
            break
    return re.sub(r"(?<=[._])\d+(?=[._]|$)", "*", base)


class ModelNames:
    """The model's patchable tensors by module base: ``weight`` / ``bias`` official keys, and the
    kohya underscore spelling of every base (our names never contain two spellings that collide)."""

    def __init__(self, param_keys: Iterable[str]):
        self.weight: dict[str, str] = {}
        self.bias: dict[str, str] = {}
        for k in param_keys:
            if k.endswith(".weight"):
                self.weight[k[: -len(".weight")]] = k
            elif k.endswith(".bias"):
                self.bias[k[: -len(".bias")]] = k
            else:  # a bare parameter such as blocks.N.modulation is its own base
                self.weight[k] = k
        self.underscored = {b.replace(".", "_"): b for b in list(self.weight) + list(self.bias)}

    def resolve(self, base: str) -> str | None:
        """The model base a file base names, or None."""
        if base.startswith(UNDERSCORE_PREFIX):
            return self.underscored.get(base[len(UNDERSCORE_PREFIX):])
        for prefix in DOT_PREFIXES:
            if base.startswith(prefix):
                base = base[len(prefix):]
                break
        return base if base in self.weight or base in self.bias else None


def match_keys(file_keys: Iterable[str], model: ModelNames, name: str = "LoRA") -> KeyMatch:
    """Map a LoRA file's keys onto the model's official keys (names only, no tensors read).

    A LoRA with an up but no down matrix (or the reverse) is an error; keys of modules the model
    does not have are counted in ``left_out`` by module group.
    """
    roles: dict[str, dict[str, str]] = {}
    out = KeyMatch()
    for key in file_keys:
        parsed = split_role(key)
        if parsed is None:
            out.unknown.append(key)
            continue
        base, role = parsed
        roles.setdefault(base, {})[role] = key
    for base, found in sorted(roles.items()):
        own = model.resolve(base)
        patches = []
        if "up" in found or "down" in found:
            if not ("up" in found and "down" in found):
                have, lack = ("up", "down") if "up" in found else ("down", "up")
                raise LoraError(f"LoRA '{name}': {found[have]} has no matching {lack} matrix; the file is "
                                "incomplete or in a format DreamActor does not read")
            patches.append(("weight", Target("lora", (found["up"], found["down"]), found.get("alpha"))))
        if "diff" in found:
            patches.append(("weight", Target("diff", (found["diff"],))))
        if "diff_b" in found:
            patches.append(("bias", Target("diff", (found["diff_b"],))))
        table = {"weight": model.weight, "bias": model.bias}
        for slot, target in patches:
            official = table[slot].get(own) if own is not None else None
            if official is None:
                g = group_of(base)
                out.left_out[g] = out.left_out.get(g, 0) + len(target.keys) + (target.alpha_key is not None)
                continue
            if official in out.targets:
                raise LoraError(f"LoRA '{name}' holds both a low-rank and a full delta for {official}; "
                                "keep one of them in the file")
            out.targets[official] = target
    return out
