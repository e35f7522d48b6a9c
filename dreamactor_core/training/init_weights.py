"""Start the DreamActor-M1 variant from Wan2.1 image-to-video or Wan2.2-Animate weights.

Shapes that match are copied. Where the variant differs, the closest sensible
start is used: the patch embedding grows by 16 pose input channels (copied
weights; the new channels take Wan2.2-Animate's pose patch embedding when the
source has one, else zeros, so the model starts as its source); Face
Attn after every block starts from the source adapter of its group of five;
Ref Attn and anything else new keeps its fresh initialisation.
"""
from __future__ import annotations

import re

import torch

_FUSER = re.compile(r"face_adapter\.fuser_blocks\.(\d+)\.(.+)")


def init_from_state_dict(model: torch.nn.Module, source: dict[str, torch.Tensor], source_face_every: int = 5) -> dict:
    """Copy ``source`` into ``model`` where it fits; returns counts of what happened."""
    own = model.state_dict()
    report = {"copied": 0, "widened": 0, "face_adapters_mapped": 0, "kept_init": 0, "ignored": 0}
    face_every = model.config.face_every or 5  # an AnimateDiT (its config says where its face adapters sit)
    new = {}
    for key, value in own.items():
        if key in new:
            continue
        src = source.get(key)
        if src is None and (m := _FUSER.match(key)):
            # our adapter after block i <- the source adapter after block 5 * (i // 5)
            block = int(m.group(1)) * face_every
            src = source.get(f"face_adapter.fuser_blocks.{block // source_face_every}.{m.group(2)}")
            if src is not None and src.shape == value.shape:
                report["face_adapters_mapped"] += 1
                new[key] = src.to(value.dtype)
                continue
        if src is None:
            report["kept_init"] += 1
        elif src.shape == value.shape:
            new[key] = src.to(value.dtype)
            report["copied"] += 1
        elif key == "patch_embedding.weight" and src.shape[0] == value.shape[0] and src.shape[1] < value.shape[1] \
                and src.shape[2:] == value.shape[2:]:
            w = torch.zeros_like(value)
            w[:, : src.shape[1]] = src.to(value.dtype)
            pose = source.get("pose_patch_embedding.weight")
            if pose is not None and src.shape[1] + pose.shape[1] == value.shape[1]:
                # Wan2.2-Animate adds a pose patch embedding; concatenated pose channels are the same linear map
                w[:, src.shape[1]:] = pose.to(value.dtype)
                pose_bias = source.get("pose_patch_embedding.bias")
                if pose_bias is not None and "patch_embedding.bias" in source:
                    # concat has no separate pose bias: fold it in (it then also reaches the reference slot)
                    new["patch_embedding.bias"] = (source["patch_embedding.bias"] + pose_bias).to(value.dtype)
            new[key] = w
            report["widened"] += 1
        else:
            report["kept_init"] += 1
    report["ignored"] = len(set(source) - set(own))
    model.load_state_dict(new, strict=False)
    return report


def init_from_checkpoint(model: torch.nn.Module, path: str) -> dict:
    """Read a safetensors checkpoint with the pack's loader and copy it into ``model``."""
    from ..model.checkpoint import Checkpoint
    from ..model.config import ModelConfig

    with Checkpoint(path) as ck:
        source = {name: ck.tensor(name, dtype=torch.float32) for name in ck.shapes}
        # the source's Face Attn spacing, read the same way the loader reads any config
        every = ModelConfig.from_shapes(ck.shapes).face_every or 5
    return init_from_state_dict(model, source, source_face_every=every)
