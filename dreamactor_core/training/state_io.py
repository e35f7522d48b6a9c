"""Training checkpoints as safetensors: model weights, optimizer state and the step.

Everything goes through ``torch.distributed.checkpoint.state_dict`` with full
(unsharded) state dicts, so a run sharded with FSDP on N ranks writes the same
file as a single process and can resume on any number of ranks. Rank 0 writes;
every rank reads (on several machines, from storage they share). No pickle is involved.
"""
from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors import safe_open
from safetensors.torch import save_file
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from ..model.loader import config_metadata
from ..model.lora import merge_into_state_dict
from ..utils import DreamActorError

log = logging.getLogger("dreamactor.train")

_SEP = "::"
_NAME = re.compile(r"step_(\d+)\.safetensors$")


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _full(t):
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def full_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Unsharded model weights on the CPU (every rank must call this under FSDP)."""
    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return {k: _full(v).detach().contiguous() for k, v in get_model_state_dict(model, options=opts).items()}


def save_training_state(path: Path, model, optimizer, step: int, extra: dict | None = None) -> None:
    """Write model + optimizer + step to ``path`` (collective under FSDP; rank 0 writes)."""
    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model_sd = full_model_state(model)
    optim_sd = get_optimizer_state_dict(model, optimizer, options=opts)
    if _rank() != 0:
        return
    tensors = {f"model{_SEP}{k}": v for k, v in model_sd.items()}
    for name, state in optim_sd["state"].items():
        for field, value in state.items():
            value = _full(value)
            tensors[f"optim{_SEP}{name}{_SEP}{field}"] = (
                value.detach().cpu().contiguous() if torch.is_tensor(value) else torch.tensor(value))
    meta = {"step": str(step), "param_groups": json.dumps(optim_sd["param_groups"]),
            "extra": json.dumps(extra or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)  # atomic: a crash mid-write never leaves a broken checkpoint


def load_training_state(path: Path, model, optimizer) -> tuple[int, dict]:
    """Restore model and optimizer from ``path``; returns (step, extra)."""
    model_sd, optim_state = {}, {}
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        for key in f.keys():
            kind, rest = key.split(_SEP, 1)
            if kind == "model":
                model_sd[rest] = f.get_tensor(key)
            else:
                name, field = rest.rsplit(_SEP, 1)
                optim_state.setdefault(name, {})[field] = f.get_tensor(key)
    opts = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, model_sd, options=opts)
    optim_sd = {"state": optim_state, "param_groups": json.loads(meta["param_groups"])}
    set_optimizer_state_dict(model, optimizer, optim_state_dict=optim_sd, options=opts)
    return int(meta["step"]), json.loads(meta.get("extra", "{}"))


def agree_on_checkpoint(ckpt: Path | None) -> None:
    """Stop every rank with a clear error unless all ranks found the same checkpoint to resume from.

    Rank 0 writes checkpoints and every rank reads them, so on several machines ``out_dir`` must
    be storage they all see; otherwise ranks would resume from different steps and hang.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    found: list = [None] * dist.get_world_size()
    dist.all_gather_object(found, None if ckpt is None else Path(ckpt).name)
    if len(set(found)) > 1:
        seen = ", ".join(f"rank {r}: {name or 'none'}" for r, name in enumerate(found))
        raise DreamActorError(f"resume: the ranks found different checkpoints ({seen}); put out_dir on storage "
                              "every machine sees (rank 0 writes checkpoints, every rank reads them)")


def latest_checkpoint(out_dir: Path) -> Path | None:
    """The training checkpoint with the highest step in ``out_dir``, if any."""
    found = [(int(m.group(1)), p) for p in Path(out_dir).glob("step_*.safetensors") if (m := _NAME.search(p.name))]
    return max(found)[1] if found else None


def export_model(path: Path, model: torch.nn.Module, dtype: torch.dtype | None = None, loras=()) -> None:
    """Write only the model weights in the official key layout (what ``load_dit`` reads), with the
    LoRAs ``[(file, strength), ...]`` merged in (the model itself is left as it is)."""
    sd = full_model_state(model)
    if _rank() != 0:
        return
    if loras:
        for line in merge_into_state_dict(sd, loras).lines():
            log.info("export: %s", line)
    if dtype is not None:
        sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    # the config settings carry no weights; load_dit reads them back from the metadata
    meta = {"format": "pt", "producer": "dreamactor_core.training", **config_metadata(getattr(model, "config", None))}
    save_file(sd, str(path), metadata=meta)
