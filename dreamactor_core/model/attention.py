"""Attention backends chosen by name.

Every backend takes q, k, v as ``[B, L, heads, d]`` (the layout flash-attn and
sageattention use natively) and returns ``[B, Lq, heads, d]``; softmax scale is
1/sqrt(d) and there is no mask (the DiT never pads its sequences).
"""
from __future__ import annotations

import importlib.util
from typing import Callable

import torch
import torch.nn.functional as F

from dreamactor_core.utils import DreamActorError

AttentionFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
BACKENDS = ("sdpa", "sage", "flash")


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """torch scaled_dot_product_attention (works everywhere, any dtype)."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2)


def _half(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype in (torch.float16, torch.bfloat16) else t.to(torch.bfloat16)


def _sage(q, k, v):
    from sageattention import sageattn

    out = sageattn(_half(q), _half(k), _half(v), tensor_layout="NHD", is_causal=False)
    return out.to(q.dtype)


def _flash(q, k, v):
    from flash_attn import flash_attn_func

    return flash_attn_func(_half(q), _half(k), _half(v)).to(q.dtype)


_MODULES = {"sage": "sageattention", "flash": "flash_attn"}


def available_backends() -> list[str]:
    """Names of the backends usable in this environment."""
    return ["sdpa"] + [n for n, m in _MODULES.items() if importlib.util.find_spec(m) is not None]


def get_attention(name: str = "sdpa") -> AttentionFn:
    """The attention function for backend ``name`` ("sdpa", "sage" or "flash").

    sage and flash compute in fp16/bf16 (float32 inputs are cast to bf16 and back), so
    they are for GPU inference, not for float32 conformance checks.
    """
    if name not in BACKENDS:
        raise DreamActorError(f"attention backend {name!r} is unknown; choose one of {', '.join(BACKENDS)}")
    if name == "sdpa":
        return sdpa
    if importlib.util.find_spec(_MODULES[name]) is None:
        raise DreamActorError(
            f"attention backend {name!r} needs the Python package {_MODULES[name]!r}, which is not installed; "
            f"install it or choose one of {', '.join(available_backends())}")
    return _sage if name == "sage" else _flash
