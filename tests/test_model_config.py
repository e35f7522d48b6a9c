"""ModelConfig: read from checkpoint shapes, presets, and validation."""
from __future__ import annotations

import json

import pytest
import torch

from dreamactor_core.model.config import ModelConfig
from dreamactor_core.model.dit import AnimateDiT
from dreamactor_core.utils import DreamActorError


def shapes_of(model: torch.nn.Module) -> dict:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def tiny(**kw) -> ModelConfig:
    base = dict(dim=64, ffn_dim=96, num_heads=2, num_layers=2, text_dim=32, freq_dim=32, text_len=8,
                clip_dim=48, face_every=1, motion_dim=32, face_size=32, motion_channels_max=32,
                motion_directions=8, face_hidden=32, face_groups=4)
    base.update(kw)
    return ModelConfig(**base)


def test_14b_keys_give_the_14b_preset(conformance_dir):
    keys = json.loads((conformance_dir / "wan22_animate_14b_keys.json").read_text())["keys"]
    cfg = ModelConfig.from_shapes(keys)
    assert cfg == ModelConfig.wan22_animate_14b()
    assert (cfg.dim, cfg.num_heads, cfg.num_layers, cfg.ffn_dim, cfg.face_every) == (5120, 40, 40, 13824, 5)
    assert cfg.pose_mode == "add" and cfg.has_clip and cfg.in_dim == 36 and cfg.num_face_blocks == 8


def test_small_fixture_head_dim_comes_from_the_face_adapter(conformance_dir):
    manifest = json.loads((conformance_dir / "animate_dit_small" / "animate_dit_small.manifest.json").read_text())
    cfg = ModelConfig.from_shapes({k: v["shape"] for k, v in manifest["weights"].items()}, text_len=16)
    official = manifest["config"]
    assert (cfg.dim, cfg.ffn_dim, cfg.num_heads, cfg.num_layers) == (128, 256, 2, 10)
    assert cfg.head_dim == official["head_dim"] and cfg.face_every == 5
    assert [i for i in range(cfg.num_layers) if cfg.face_block_index(i) is not None] == \
        official["face_adapter_after_blocks"]


@pytest.mark.parametrize("cfg", [
    tiny(),
    ModelConfig(dim=64, ffn_dim=96, num_heads=2, num_layers=2, text_dim=32, freq_dim=32, text_len=8,
                face_every=0, has_clip=False, pose_mode="none"),
    ModelConfig.dreamactor_m1(**{k: v for k, v in vars(tiny()).items() if k not in ("in_dim", "extra")}),
    ModelConfig.dreamactor_m1(in_dim=32, **{k: v for k, v in vars(tiny(face_every=2)).items()
                                              if k not in ("in_dim", "extra")}),
])
def test_from_shapes_round_trips_built_models(cfg):
    with torch.device("meta"):
        model = AnimateDiT(cfg)
    heads = {} if cfg.has_face else {"num_heads": cfg.num_heads}  # only the face path stores head_dim
    back = ModelConfig.from_shapes(shapes_of(model), text_len=cfg.text_len, num_refs=cfg.num_refs, **heads)
    assert back == cfg


def test_dreamactor_preset():
    cfg = ModelConfig.dreamactor_m1()
    assert (cfg.pose_mode, cfg.face_every, cfg.ref_attn, cfg.in_dim, cfg.y_dim) == ("concat", 1, True, 52, 20)
    assert cfg.num_refs > 1 and cfg.num_face_blocks == cfg.num_layers


@pytest.mark.parametrize("kw,word", [
    (dict(pose_mode="sideways"), "pose_mode"),
    (dict(num_layers=3, face_every=2), "multiple"),
    (dict(num_heads=3), "divisible"),
    (dict(num_refs=0), "num_refs"),
    (dict(in_dim=20, pose_mode="concat"), "in_dim"),
])
def test_invalid_configs_are_rejected(kw, word):
    with pytest.raises(DreamActorError, match=word):
        tiny(**kw)


def test_non_dit_checkpoint_is_named():
    vae_like = {"encoder.conv1.weight": (96, 3, 3, 3, 3), "decoder.head.2.weight": (3, 96, 3, 3, 3)}
    with pytest.raises(DreamActorError, match="not a Wan-family DiT"):
        ModelConfig.from_shapes(vae_like)
