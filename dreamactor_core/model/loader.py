"""Public loaders: ``load_vae`` and ``load_dit`` from safetensors checkpoints.

Models are built on the meta device (no memory), the checkpoint's keys and
shapes are checked against the model's, and tensors are read one by one from
the memory-mapped file and assigned in place (``load_state_dict(assign=True)``),
so a 14B model never exists twice in memory.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..utils import DreamActorError
from .block_swap import enable_block_swap
from .checkpoint import FP8_DTYPES, KIND_NAMES, Checkpoint, CheckpointError
from .config import ModelConfig
from .dit import AnimateDiT
from .vae import VAEConfig, WanVAE

COMPUTE_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def check_compute_dtype(dtype: torch.dtype, device="cpu") -> None:
    """Raise a clear :class:`DreamActorError` if ``device`` cannot run matmuls/convs in ``dtype``."""
    if dtype in FP8_DTYPES:
        raise DreamActorError(f"compute dtype {dtype} is a storage format, not a compute dtype: keep fp8 as the "
                              "weight dtype and compute in bfloat16, float16 or float32")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise DreamActorError(f"compute dtype must be a floating torch dtype, got {dtype!r}")
    if str(device) == "meta":  # shape-only models (key coverage checks) compute nothing
        return
    try:
        a = torch.ones(4, 4, dtype=dtype, device=device)
        probe = (a @ a).sum() + torch.nn.functional.conv3d(a.view(1, 1, 1, 4, 4), a[:1, :1].view(1, 1, 1, 1, 1)).sum()
        if not torch.isfinite(probe.float()).item():
            raise RuntimeError("non-finite result on a trivial product")
    except DreamActorError:
        raise
    except Exception as e:
        raise DreamActorError(f"device '{device}' cannot compute in {dtype} ({str(e).splitlines()[0]}); choose "
                              "float32 (always works on CPU) or bfloat16/float16 on a GPU that supports it") from None


def meta_shapes(model: nn.Module) -> dict[str, tuple]:
    """Every state-dict key of ``model`` with its shape (works on the meta device)."""
    return {k: tuple(v.shape) for k, v in model.state_dict(keep_vars=True).items()}


def _require_kind(ck: Checkpoint, allowed: tuple, expected: dict, what: str) -> None:
    """Wrong family -> error with the key difference against the model we wanted to build."""
    if ck.kind in allowed:
        return
    ck.check_against(expected, what)
    raise CheckpointError(f"checkpoint {ck.describe()} is not a {what}")


def _open(path) -> Checkpoint:
    return path if isinstance(path, Checkpoint) else Checkpoint(path)


def _assign(model: nn.Module, tensors: dict, device) -> nn.Module:
    model.load_state_dict(tensors, strict=True, assign=True)
    left = [k for k, v in list(model.named_parameters()) + list(model.named_buffers()) if v.is_meta]
    if left and str(device) != "meta":
        raise CheckpointError(f"tensors not filled from the checkpoint: {', '.join(left[:5])}")
    return model.eval().requires_grad_(False)


def load_vae(path, *, dtype: torch.dtype = torch.float32, device="cpu") -> WanVAE:
    """Load a Wan2.1 VAE from a ``.safetensors`` file (official or ComfyUI layout, any float storage).

    ``path`` may also be an open :class:`Checkpoint`.

    ``dtype`` is the compute (and weight) dtype; fp8 files are upcast on load.
    """
    check_compute_dtype(dtype, device)
    with _open(path) as ck:
        what = KIND_NAMES["wan_vae"]
        if ck.kind == "wan_vae":
            config = VAEConfig.from_shapes(ck.shapes).with_metadata(ck.metadata)
        else:
            config = VAEConfig()
        with torch.device("meta"):
            model = WanVAE(config)
        expected = meta_shapes(model)
        _require_kind(ck, ("wan_vae", "unknown"), expected, what)
        ck.check_against(expected, what)
        tensors = {k: ck.tensor(k, dtype, device) for k in expected}
    return _assign(model, tensors, device)


# What a checkpoint's weights cannot tell (the head count splits dim x dim projections any way
# that divides them), so checkpoints we write record it in their metadata.
CONFIG_METADATA = ("num_refs", "text_len", "num_heads", "ref_fill")
_BOOLS = {"true": True, "1": True, "false": False, "0": False}


def config_metadata(config) -> dict[str, str]:
    """What an exporter writes for :data:`CONFIG_METADATA` (read back by ``load_dit``)."""
    return {key: str(getattr(config, key)) for key in CONFIG_METADATA if hasattr(config, key)}


def _config_metadata(metadata: dict) -> dict:
    """The :data:`CONFIG_METADATA` settings found in a checkpoint's metadata, typed as ModelConfig's fields."""
    out = {}
    for key in (k for k in CONFIG_METADATA if k in metadata):
        value = str(metadata[key]).strip().lower()
        if isinstance(getattr(ModelConfig, key), bool):
            if value not in _BOOLS:
                raise CheckpointError(f"checkpoint metadata {key}={metadata[key]!r} is not a boolean")
            out[key] = _BOOLS[value]
            continue
        try:
            out[key] = int(value)
        except ValueError:
            raise CheckpointError(f"checkpoint metadata {key}={metadata[key]!r} is not an integer") from None
    return out


def load_dit(path, *, weight_dtype: Optional[torch.dtype] = None, compute_dtype: torch.dtype = torch.float32,
             device="cpu", block_swap: int = 0, attention: str = "sdpa", num_heads: int | None = None) -> AnimateDiT:
    """Load a Wan2.2-Animate (or DreamActor) DiT from a ``.safetensors`` file.

    ``weight_dtype`` is how weights are kept in memory: ``None`` keeps the
    file's own storage (fp8 stays fp8 with its scales, upcast per layer at run
    time); a float dtype converts on load (fp8 files are dequantised with their
    scales); an fp8 dtype stores the linear layers of the blocks in fp8.
    ``compute_dtype`` is the activation dtype. ``num_heads`` overrides the attention head count
    for a file that neither records it nor has a face path to read it from (the weights fit
    any count that divides the width, so a wrong one loads but computes garbage).
    """
    check_compute_dtype(compute_dtype, device)
    if weight_dtype is not None and not (weight_dtype in FP8_DTYPES or weight_dtype.is_floating_point):
        raise DreamActorError(f"weight dtype must be a float or fp8 torch dtype, got {weight_dtype!r}")
    if block_swap < 0:
        raise DreamActorError(f"block_swap must be >= 0, got {block_swap}")
    if num_heads is not None and num_heads < 1:
        raise DreamActorError(f"num_heads: must be at least 1, got {num_heads}")
    final_device, device = device, ("cpu" if block_swap else device)  # swapped blocks stay in host memory
    with _open(path) as ck:
        what = KIND_NAMES["wan_animate_dit"]
        allowed = ("wan_animate_dit", "wan_dit", "unknown")
        if ck.kind not in allowed:
            with torch.device("meta"):
                default = AnimateDiT(ModelConfig.wan22_animate_14b())
            _require_kind(ck, allowed, meta_shapes(default), what)
        settings = _config_metadata(ck.metadata)
        if num_heads is not None:
            width = ck.shapes.get("patch_embedding.weight", (0,))[0]
            if width and (width % num_heads or (width // num_heads) % 2):
                raise DreamActorError(f"num_heads: {num_heads} does not fit this model's width {width} (the head "
                                      f"size must be a whole, even number); leave it unset to use the file's")
            settings["num_heads"] = int(num_heads)
        try:
            config = ModelConfig.from_shapes(ck.shapes, **settings)
        except DreamActorError as e:
            raise CheckpointError(f"checkpoint {ck.describe()}: {e}") from None
        with torch.device("meta"):
            model = AnimateDiT(config, attention=attention)
        expected = meta_shapes(model)
        optional = {k for k in expected if k.endswith(".kernel")}  # constant blur buffers, rebuilt if absent
        ck.check_against({k: v for k, v in expected.items() if k not in optional or k in ck.shapes}, what)
        linears = {n + ".weight" for n, m in model.named_modules() if isinstance(m, nn.Linear)}
        tensors = {}
        for k in ck.shapes:
            keep_fp8 = k in linears and ck.dtypes[k] in FP8_DTYPES and (weight_dtype is None
                                                                        or weight_dtype in FP8_DTYPES)
            if keep_fp8:  # stays fp8 in memory; AnimateDiT's Linear upcasts it (times its scale) per call
                tensors[k] = ck.raw_tensor(k, device)
                scale = ck.scale_of(k)
                if scale is not None:
                    tensors[k[: -len("weight")] + "scale_weight"] = scale.to(device)
                continue
            store = weight_dtype if weight_dtype is not None and weight_dtype not in FP8_DTYPES else None
            if store is None and ck.dtypes[k] in FP8_DTYPES:
                store = compute_dtype  # fp8 outside the linear layers is dequantised on load
            t = ck.tensor(k, store, device)
            if weight_dtype in FP8_DTYPES and k in linears and k.startswith("blocks."):
                t = t.to(weight_dtype)
            tensors[k] = t
    model = _assign(model, tensors, device)
    model.to_compute_dtype(compute_dtype)
    if block_swap:
        enable_block_swap(model, block_swap, device=final_device)
    return model
