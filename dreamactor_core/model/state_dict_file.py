"""A ``safe_open``-like handle over tensors already in memory.

:class:`~dreamactor_core.model.checkpoint.Checkpoint` reads through any object with
``keys`` / ``get_slice`` / ``get_tensor`` / ``metadata``. Wrapping a state dict in
:class:`StateDictFile` lets ``load_dit`` and ``load_vae`` build our models from
weights another program already holds (a host application's loaded model, with
its patches applied), through the same key checks and fp8 handling as a file.
The tensors are handed over as they are: no copy is made unless a dtype or
device conversion is asked for.
"""
from __future__ import annotations

from typing import Mapping, Optional

import torch

from ..utils import DreamActorError

# safetensors' dtype codes, the ones Checkpoint understands.
_CODES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2", torch.int64: "I64", torch.int32: "I32",
          torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


class _Slice:
    def __init__(self, tensor: torch.Tensor) -> None:
        self._tensor = tensor

    def get_shape(self) -> list[int]:
        return list(self._tensor.shape)

    def get_dtype(self) -> str:
        return _CODES.get(self._tensor.dtype, "F32")


class StateDictFile:
    """In-memory stand-in for a safetensors file: ``Checkpoint(name, file=StateDictFile(sd))``.

    Only plain tensors are accepted: a quantized tensor subclass (GGUF and the like)
    would have to be dequantized first, so it is named in a clear error instead.
    """

    def __init__(self, tensors: Mapping[str, torch.Tensor], metadata: Optional[dict] = None,
                 what: str = "state dict") -> None:
        odd = [k for k, v in tensors.items() if not isinstance(v, torch.Tensor) or
               type(v) not in (torch.Tensor, torch.nn.Parameter)]
        if odd:
            kind = type(tensors[odd[0]]).__name__
            raise DreamActorError(f"{what}: {len(odd)} weights are stored as {kind} (a quantized format, e.g. GGUF), "
                             f"first {odd[0]!r}; load a bf16, fp16 or fp8 safetensors file instead")
        self._tensors = dict(tensors)
        self._metadata = dict(metadata or {})

    def keys(self) -> list[str]:
        return list(self._tensors)

    def metadata(self) -> dict:
        return self._metadata

    def get_slice(self, key: str) -> _Slice:
        return _Slice(self._tensors[key])

    def get_tensor(self, key: str) -> torch.Tensor:
        t = self._tensors[key]
        return t.data if isinstance(t, torch.nn.Parameter) else t
