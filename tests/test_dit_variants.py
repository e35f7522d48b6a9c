"""AnimateDiT variants at tiny sizes: DreamActor-M1 (concat pose, Face Attn every block, Ref Attn,
several references), 14B key coverage on the meta device, block swap, storage vs compute dtype,
attention backends and input errors."""
from __future__ import annotations

import json
import math

import pytest
import torch

from dreamactor_core.model.attention import get_attention, sdpa
from dreamactor_core.model.block_swap import apply_block_swap
from dreamactor_core.model.config import ModelConfig
from dreamactor_core.model.dit import AnimateDiT
from dreamactor_core.model.layers import Linear
from dreamactor_core.model.rope import apply_rope, rope_angles
from dreamactor_core.utils import DreamActorError

TINY = dict(dim=64, ffn_dim=96, num_heads=2, num_layers=2, text_dim=32, freq_dim=32, text_len=8, clip_dim=48,
            motion_dim=32, face_size=32, motion_channels_max=32, motion_directions=8, face_hidden=32)


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random values everywhere (no zero-initialised outputs), so every path carries signal."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            fan_in = p.shape[1] * math.prod(p.shape[2:]) if p.ndim > 1 else 1
            std = 1.0 if "motion_encoder" in name else (0.3 if p.ndim < 2 else fan_in ** -0.5)
            p.copy_(torch.randn(p.shape, generator=g) * std + (1.0 if "norm" in name else 0.0))
    return model


def inputs(cfg: ModelConfig, b: int = 2, lat_t: int = 2, hw: int = 8, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    frames = cfg.num_refs + lat_t
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    d = dict(x=r(b, 16, frames, hw, hw), t=torch.tensor([900.0, 250.0][:b]), context=r(b, 5, cfg.text_dim),
             pose_latents=r(b, 16, lat_t, hw, hw))
    if cfg.y_dim:
        d["y"] = r(b, cfg.y_dim, frames, hw, hw)
    if cfg.has_clip:
        d["clip_fea"] = r(b, 257, cfg.clip_dim)
    if cfg.has_face:
        d["face_pixels"] = r(b, 3, 4 * (lat_t - 1) + 1, cfg.face_size, cfg.face_size).clamp(-1, 1)
    return d


@pytest.mark.parametrize("num_refs", [2, 3])
def test_dreamactor_variant_forward_and_backward(num_refs):
    cfg = ModelConfig.dreamactor_m1(num_refs=num_refs, **TINY)
    model = randomize(AnimateDiT(cfg))
    assert len(model.face_adapter.fuser_blocks) == cfg.num_layers and model.blocks[0].ref_attn is not None
    assert "pose_patch_embedding.weight" not in model.state_dict()
    inp = inputs(cfg)
    out = model(**inp)
    assert out.shape == inp["x"].shape and torch.isfinite(out).all()
    out.square().mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad, f"parameters without gradient: {no_grad}"
    # clean reference latents in the reference slots change the video frames' prediction
    with torch.no_grad():
        ref = model(**inp, ref_latents=torch.randn(2, 16, num_refs, 8, 8))
    assert not torch.allclose(ref[:, :, num_refs:], out[:, :, num_refs:].detach(), atol=1e-4)


def test_reference_slots_get_zero_face_tokens_and_no_pose():
    """Face tokens and pose latents are given for video frames only; the model pads the
    reference slots itself, so the face/pose inputs must match the video frame count."""
    cfg = ModelConfig.dreamactor_m1(num_refs=2, **TINY)
    model = randomize(AnimateDiT(cfg)).eval()
    inp = inputs(cfg, b=1)
    with torch.no_grad():
        tokens = model.encode_face(inp.pop("face_pixels"))
        assert tokens.shape == (1, 2, cfg.face_groups + 1, cfg.dim)
        a = model(**inp, face_tokens=tokens)
        with pytest.raises(DreamActorError, match="face"):
            model(**inp, face_tokens=torch.cat([torch.zeros_like(tokens[:, :1]), tokens], 1))
        with pytest.raises(DreamActorError, match="pose_latents"):
            model(**{**inp, "pose_latents": torch.zeros(1, 16, 4, 8, 8)}, face_tokens=tokens)
        # concat pose: reference slots carry zero pose channels, so the first patch-embedded
        # slot does not depend on the pose video
        pe = model._model_input(inp["x"], inp["y"], inp["pose_latents"])
        assert pe.shape[1] == cfg.in_dim and pe[:, -16:, :2].abs().max() == 0
    assert torch.isfinite(a).all()


def test_rope_positions_follow_the_readme_formula():
    grid, d = (3, 2, 4), 64
    cos, sin = rope_angles(grid, d)
    sizes = (12, 10, 10)
    for token, (f, i, j) in enumerate([(f, i, j) for f in range(3) for i in range(2) for j in range(4)]):
        angles = [p * 10000.0 ** (-m / r) for p, r in zip((f, i, j), sizes) for m in range(r)]
        assert torch.allclose(cos[token], torch.cos(torch.tensor(angles, dtype=torch.float64)).float(), atol=1e-6)
        assert torch.allclose(sin[token], torch.sin(torch.tensor(angles, dtype=torch.float64)).float(), atol=1e-6)
    x = torch.randn(1, 24, 2, d)
    y = apply_rope(x, cos, sin)
    assert torch.allclose(y.norm(dim=-1), x.norm(dim=-1), atol=1e-5) and torch.equal(y[:, 0], x[:, 0])


def test_14b_state_dict_matches_official_keys_both_ways(conformance_dir):
    table = json.loads((conformance_dir / "wan22_animate_14b_keys.json").read_text())
    keys = {k: tuple(v) for k, v in table["keys"].items()}
    with torch.device("meta"):
        model = AnimateDiT(ModelConfig.from_shapes(keys))
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert set(ours) == set(keys), (sorted(set(keys) - set(ours))[:5], sorted(set(ours) - set(keys))[:5])
    assert {k for k in ours if ours[k] != keys[k]} == set()
    buffers = {k for k, _ in model.named_buffers()}
    assert buffers == set(table["non_parameter_buffers"])
    assert sum(p.numel() for p in model.parameters()) == table["num_parameters"]


def wan_tiny() -> ModelConfig:
    return ModelConfig(**{**TINY, "num_layers": 4, "face_every": 2})


def test_block_swap_gives_identical_outputs():
    cfg = wan_tiny()
    model = randomize(AnimateDiT(cfg)).eval()
    inp = inputs(cfg)
    with torch.no_grad():
        plain = model(**inp)
        swap = apply_block_swap(model, 3, "cpu")
        swapped = model(**inp)
        swap.remove()
        again = model(**inp)
    assert torch.equal(plain, swapped) and torch.equal(plain, again)
    assert apply_block_swap(model, 0, "cpu") is None


def test_fp8_scaled_and_bf16_weights_upcast_at_run_time():
    cfg = wan_tiny()
    ref = randomize(AnimateDiT(cfg)).eval()
    sd8, deq = {"scaled_fp8": torch.zeros(2, dtype=torch.float8_e4m3fn)}, {}
    for k, v in ref.state_dict().items():
        if k.startswith("blocks.") and k.endswith(".weight") and v.ndim == 2:
            scale = v.abs().max() / 448.0
            w8 = (v / scale).to(torch.float8_e4m3fn)
            sd8[k], sd8[k[:-len("weight")] + "scale_weight"] = w8, scale.reshape(1)
            deq[k] = w8.float() * scale
        else:
            sd8[k] = v.to(torch.bfloat16) if v.is_floating_point() else v
            deq[k] = sd8[k].float()
    ref.load_state_dict(deq)
    with torch.device("meta"):
        model = AnimateDiT(cfg)
    model.load_state_dict(sd8, assign=True)
    model.eval()
    assert model.blocks[0].self_attn.q.weight.dtype == torch.float8_e4m3fn
    assert isinstance(model.blocks[0].self_attn.q, Linear) and model.blocks[0].self_attn.q.scale_weight is not None
    inp = inputs(cfg)
    with torch.no_grad():
        want, got = ref(**inp), model(**inp)
        low = model.to_compute_dtype(torch.bfloat16)(**inp)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)
    assert low.dtype == torch.float32 and (low - want).norm() / want.norm() < 0.05


def test_attention_backends():
    q, k, v = torch.randn(2, 7, 3, 16), torch.randn(2, 5, 3, 16), torch.randn(2, 5, 3, 16)
    w = torch.softmax(torch.einsum("bqhd,bkhd->bhqk", q, k) / 4.0, dim=-1)
    assert torch.allclose(sdpa(q, k, v), torch.einsum("bhqk,bkhd->bqhd", w, v), atol=1e-6)
    assert get_attention("sdpa") is sdpa
    with pytest.raises(DreamActorError, match="unknown"):
        get_attention("fastest")
    for name, module in (("sage", "sageattention"), ("flash", "flash_attn")):
        try:
            __import__(module)
        except ImportError:
            with pytest.raises(DreamActorError, match=module):
                AnimateDiT(wan_tiny(), attention=name)


def test_bad_inputs_raise_clear_errors():
    cfg = wan_tiny()
    model = AnimateDiT(cfg).eval()
    inp = inputs(cfg, b=1)
    with torch.no_grad():
        for change, word in [({"y": None}, "y must be"), ({"clip_fea": None}, "clip_fea"),
                             ({"x": torch.zeros(1, 16, 2, 7, 8)}, "divisible"),
                             ({"x": torch.zeros(1, 16, 1, 8, 8)}, "reference"),
                             ({"face_pixels": torch.zeros(1, 3, 5, 64, 64)}, "face_pixels")]:
            with pytest.raises(DreamActorError, match=word):
                model(**{**inp, **change})
