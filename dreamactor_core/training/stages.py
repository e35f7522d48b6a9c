"""Which parameters learn in a stage (the paper's progressive training)."""
from __future__ import annotations

from fnmatch import fnmatch

import torch

from ..utils import DreamActorError


def trainable_names(model: torch.nn.Module, patterns: list[str]) -> list[str]:
    """Names of the parameters matched by any of ``patterns``."""
    names = [n for n, _ in model.named_parameters()]
    chosen = [n for n in names if any(fnmatch(n, p) for p in patterns)]
    if not chosen:
        raise DreamActorError(f"stage patterns {patterns} match no parameter of the model")
    return chosen


def apply_stage(model: torch.nn.Module, patterns: list[str]) -> int:
    """Freeze everything but the matched parameters; returns how many elements train."""
    keep = set(trainable_names(model, patterns))
    count = 0
    for name, p in model.named_parameters():
        p.requires_grad_(name in keep)
        count += p.numel() if name in keep else 0
    return count
