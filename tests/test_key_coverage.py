"""Key coverage on the meta device at full size, through the real loaders.

A stand-in for ``safe_open`` serves meta tensors with the official key list's
shapes, so ``load_dit`` / ``load_vae`` run their whole path (prefix stripping,
fp8 scales, kind detection, config from shapes, key check, assign) for the 14B
DiT and the real VAE without a byte of weights.
"""
from __future__ import annotations

import json

import pytest
import torch

from dreamactor_core.model.checkpoint import Checkpoint
from dreamactor_core.model.layers import Linear
from dreamactor_core.model.loader import load_dit, load_vae, meta_shapes

CODES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float8_e4m3fn: "F8_E4M3"}


class MetaFile:
    """Duck-typed ``safe_open`` handle whose tensors live on the meta device."""

    def __init__(self, table: dict[str, tuple[tuple, torch.dtype]]):
        self.table = table

    def keys(self):
        return list(self.table)

    def metadata(self):
        return None  # like a file whose header has no string map

    def get_slice(self, key):
        shape, dtype = self.table[key]
        return type("Slice", (), {"get_shape": lambda s: list(shape), "get_dtype": lambda s: CODES[dtype]})()

    def get_tensor(self, key):
        shape, dtype = self.table[key]
        return torch.empty(shape, dtype=dtype, device="meta")


def official(conformance_dir, name: str) -> dict:
    return json.loads((conformance_dir / name).read_text())


def form(keys: dict, kind: str, linear_weights=lambda k, s: False) -> dict:
    """The key table of a file in one of the forms found in the wild."""
    if kind == "official":
        return {k: (tuple(s), torch.bfloat16) for k, s in keys.items()}
    prefix = {"comfy": "model.diffusion_model.", "first_stage": "first_stage_model.", "bare": "model."}.get(kind, "")
    if kind in ("comfy", "first_stage", "bare"):
        return {prefix + k: (tuple(s), torch.bfloat16) for k, s in keys.items()}
    # fp8 "scaled": ComfyUI (prefix, scaled_fp8 marker, .scale_weight/.scale_input) or kijai (.weight_scale)
    comfy = kind == "fp8_comfy"
    prefix = "model.diffusion_model." if comfy else ""
    out = {"scaled_fp8": ((2,), torch.float8_e4m3fn)} if comfy else {}
    for k, s in keys.items():
        if linear_weights(k, s):
            out[prefix + k] = (tuple(s), torch.float8_e4m3fn)
            layer = prefix + k[: -len(".weight")]
            out[layer + (".scale_weight" if comfy else ".weight_scale")] = ((1,), torch.float32)
            if comfy:
                out[layer + ".scale_input"] = ((1,), torch.float32)
        else:
            out[prefix + k] = (tuple(s), torch.bfloat16)
    return out


def is_block_linear(k: str, s) -> bool:
    return k.startswith("blocks.") and k.endswith(".weight") and len(s) == 2


@pytest.mark.parametrize("kind", ["official", "comfy", "fp8_comfy", "fp8_kijai"])
def test_14b_dit_keys_both_ways(conformance_dir, kind):
    table = official(conformance_dir, "wan22_animate_14b_keys.json")
    keys = {k: tuple(v) for k, v in table["keys"].items()}
    ck = Checkpoint("wan2.2_animate_14B.safetensors", file=MetaFile(form(keys, kind, is_block_linear)))
    assert ck.kind == "wan_animate_dit"
    model = load_dit(ck, device="meta")
    ours = meta_shapes(model)
    scales = {k for k in ours if k.endswith(".scale_weight")}
    params = {k: v for k, v in ours.items() if k not in scales}
    assert set(params) == set(keys), (sorted(set(keys) - set(params))[:5], sorted(set(params) - set(keys))[:5])
    assert [k for k in keys if params[k] != keys[k]] == []
    assert sum(p.numel() for p in model.parameters()) == table["num_parameters"]
    assert {k for k, _ in model.named_buffers() if k not in scales} == set(table["non_parameter_buffers"])
    if kind.startswith("fp8"):
        fp8 = {k for k in keys if is_block_linear(k, keys[k])}
        assert len(fp8) > 400 and scales == {k[: -len("weight")] + "scale_weight" for k in fp8}
        modules = dict(model.named_modules())
        for k in fp8:  # kept in fp8, every scale sits on one of our linear layers
            layer = modules[k[: -len(".weight")]]
            assert isinstance(layer, Linear) and layer.weight.dtype == torch.float8_e4m3fn
    else:
        assert scales == set()
        assert model.patch_embedding.weight.dtype == torch.bfloat16  # file storage kept (weight_dtype=None)


@pytest.mark.parametrize("kind", ["official", "first_stage", "bare", "fp8_kijai"])
def test_real_vae_keys_both_ways(conformance_dir, kind):
    table = official(conformance_dir, "wan21_vae_keys.json")
    keys = {k: tuple(v) for k, v in table["keys"].items()}
    conv = lambda k, s: k.endswith(".weight") and len(s) >= 4  # noqa: E731
    ck = Checkpoint("wan_2.1_vae.safetensors", file=MetaFile(form(keys, kind, conv)))
    assert ck.kind == "wan_vae"
    model = load_vae(ck, device="meta")
    assert model.config.dim == 96 and model.config.z_dim == 16
    ours = meta_shapes(model)
    assert ours == keys
    assert sum(p.numel() for p in model.parameters()) == table["num_parameters"] and len(ours) == 194
    assert all(p.dtype == torch.float32 for p in model.parameters())  # fp8 upcast to the compute dtype
