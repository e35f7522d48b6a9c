"""Checkpoint loading: prefixes, fp8 scaled files, storage vs compute dtype, kind detection and errors."""
from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from dreamactor_core.model.checkpoint import Checkpoint, CheckpointError, KeyMap, detect_kind, strip_prefix
from dreamactor_core.model.config import ModelConfig
from dreamactor_core.model.dit import AnimateDiT
from dreamactor_core.model.loader import check_compute_dtype, load_dit, load_vae
from dreamactor_core.utils import DreamActorError
from fixture_weights import full_state_dict

VAE = "wan21_vae_small"
TINY_DIT = dict(dim=64, ffn_dim=96, num_heads=2, num_layers=2, text_dim=32, freq_dim=32, text_len=512, clip_dim=48,
                motion_dim=32, face_size=32, motion_channels_max=32, motion_directions=8, face_hidden=32,
                face_every=1)


def fp8_scaled(sd: dict, fmt=torch.float8_e4m3fn, scale_name=".scale_weight", only=lambda k, v: v.ndim >= 2):
    """Quantise weights to fp8 with one float32 scale each, as ComfyUI/kijai "scaled" files do."""
    out = {"scaled_fp8": torch.zeros(2, dtype=fmt)}
    top = torch.finfo(fmt).max
    for k, v in sd.items():
        if k.endswith(".weight") and only(k, v):
            scale = v.abs().max().float() / top
            out[k] = (v / scale).to(fmt)
            out[k[: -len(".weight")] + scale_name] = scale.reshape(1)
        else:
            out[k] = v
    return out


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.fixture(scope="module")
def vae_sd(conformance_dir):
    return full_state_dict(conformance_dir / VAE)


@pytest.fixture(scope="module")
def vae_io(conformance_dir):
    return load_file(str(conformance_dir / VAE / f"{VAE}.inputs.safetensors")), \
        load_file(str(conformance_dir / VAE / f"{VAE}.expected.safetensors"))


@pytest.fixture(scope="module")
def tiny_dit():
    g = torch.Generator().manual_seed(0)
    model = AnimateDiT(ModelConfig(**TINY_DIT)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            fan_in = p.shape[1] * math.prod(p.shape[2:]) if p.ndim > 1 else 1
            p.copy_(torch.randn(p.shape, generator=g) * (0.3 if p.ndim < 2 else fan_in ** -0.5)
                    + (1.0 if "norm" in name else 0.0))
    return model


def dit_inputs(cfg: ModelConfig) -> dict:
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return dict(x=r(1, 16, 3, 4, 4), t=torch.tensor([500.0]), context=r(1, 5, cfg.text_dim),
                clip_fea=r(1, 257, cfg.clip_dim), y=r(1, cfg.y_dim, 3, 4, 4), pose_latents=r(1, 16, 2, 4, 4),
                face_pixels=r(1, 3, 5, cfg.face_size, cfg.face_size).clamp(-1, 1))


# ----------------------------------------------------------------------------- VAE forms
@pytest.mark.parametrize("prefix", ["first_stage_model.", "model.", "vae."])
def test_vae_prefixed_files_give_identical_results(vae_sd, vae_io, tmp_path, prefix):
    path = tmp_path / "vae.safetensors"
    save_file({prefix + k: v for k, v in vae_sd.items()}, str(path))
    vae = load_vae(path)
    inputs, expected = vae_io
    assert (vae.encode(inputs["video"]) - expected["latent"]).abs().max() <= 1e-4


@pytest.mark.parametrize("fmt,scale_name", [(torch.float8_e4m3fn, ".scale_weight"),
                                            (torch.float8_e5m2, ".weight_scale")])
def test_vae_fp8_scaled_file(vae_sd, vae_io, tmp_path, fmt, scale_name):
    path = tmp_path / "vae_fp8.safetensors"
    save_file(fp8_scaled(vae_sd, fmt, scale_name), str(path))
    with Checkpoint(path) as ck:
        assert ck.is_fp8 and ck.kind == "wan_vae" and ck.dtypes["decoder.head.2.weight"] == fmt
    vae = load_vae(path)
    assert vae.decoder.head[2].weight.dtype == torch.float32
    # Exact semantics: the loaded weights are weight.float() * scale.
    sd = fp8_scaled(vae_sd, fmt, scale_name)
    deq = {k: sd[k].float() * sd[k[:-7] + scale_name] if sd[k].dtype == fmt else sd[k] for k in vae_sd}
    assert all(torch.equal(v, deq[k]) for k, v in vae.state_dict().items())
    inputs, expected = vae_io
    # fp8 keeps 3 (e4m3) or 2 (e5m2) mantissa bits, compounded over ~40 random-weight convolutions.
    tol = 0.2 if fmt == torch.float8_e4m3fn else 0.4
    assert rel(vae.encode(inputs["video"]), expected["latent"]) < tol
    assert rel(vae.decode_raw(vae.denormalize(expected["latent"])), expected["decoded_raw"]) < tol


def test_vae_bf16_storage_with_float32_compute(vae_sd, vae_io, tmp_path):
    path = tmp_path / "vae_bf16.safetensors"
    save_file({k: v.to(torch.bfloat16) for k, v in vae_sd.items()}, str(path))
    vae = load_vae(path, dtype=torch.float32)
    assert all(p.dtype == torch.float32 for p in vae.parameters())
    assert torch.equal(vae.conv2.weight, vae_sd["conv2.weight"].to(torch.bfloat16).float())
    inputs, expected = vae_io
    assert rel(vae.encode(inputs["video"]), expected["latent"]) < 0.02


# ----------------------------------------------------------------------------- DiT forms
@pytest.mark.parametrize("form", ["official", "comfy_prefix", "fp8_scaled", "bf16"])
def test_dit_file_forms(tiny_dit, tmp_path, form):
    sd = {k: v.clone() for k, v in tiny_dit.state_dict().items()}
    if form == "comfy_prefix":
        sd = {"model.diffusion_model." + k: v for k, v in sd.items()}
    elif form == "fp8_scaled":
        sd = fp8_scaled(sd, only=lambda k, v: v.ndim == 2 and k.startswith("blocks."))
    elif form == "bf16":
        sd = {k: v.to(torch.bfloat16) for k, v in sd.items()}
    path = tmp_path / f"dit_{form}.safetensors"
    save_file(sd, str(path))
    model = load_dit(path)
    assert model.config == tiny_dit.config
    inp = dit_inputs(model.config)
    with torch.no_grad():
        want, got = tiny_dit(**inp), model(**inp)
    if form in ("official", "comfy_prefix"):
        assert (got - want).abs().max() <= 1e-5
    else:
        assert rel(got, want) < 0.1, form
    if form == "fp8_scaled":  # weight_dtype=None keeps fp8 storage, upcast per layer at run time
        assert model.blocks[0].self_attn.q.weight.dtype == torch.float8_e4m3fn
        assert model.blocks[0].self_attn.q.scale_weight is not None
        deq = load_dit(path, weight_dtype=torch.float32)
        assert deq.blocks[0].self_attn.q.weight.dtype == torch.float32
        with torch.no_grad():
            assert (deq(**inp) - got).abs().max() < 1e-4


# ----------------------------------------------------------------------------- kinds and errors
def test_detect_kind_and_prefix_rules():
    assert detect_kind(["face_adapter.fuser_blocks.0.k_norm.weight", "head.modulation"]) == "wan_animate_dit"
    assert detect_kind(["head.modulation", "patch_embedding.weight"]) == "wan_dit"
    assert detect_kind(["encoder.conv1.weight", "decoder.conv1.weight"]) == "wan_vae"
    assert detect_kind(["input_blocks.0.0.weight", "middle_block.0.in_layers.0.weight"]) == "sd15_unet"
    assert detect_kind(["input_blocks.0.0.weight", "label_emb.0.0.weight"]) == "sdxl_unet"
    assert detect_kind(["double_blocks.0.img_attn.qkv.weight", "single_blocks.0.linear1.weight"]) == "flux"
    assert detect_kind(["foo.bar"]) == "unknown"
    few = ["model.diffusion_model.a.weight"] * 5 + ["b.weight"]
    assert strip_prefix(few) == ""  # ComfyUI strips only when more than 5 keys carry it
    assert strip_prefix(["model.diffusion_model.%d" % i for i in range(6)]) == "model.diffusion_model."
    km = KeyMap.of(["scaled_fp8", "model.diffusion_model.blocks.0.q.weight", "model.diffusion_model.blocks.0.q.bias"]
                   + [f"model.diffusion_model.x{i}.weight_scale" for i in range(6)])
    assert km.prefix == "model.diffusion_model." and km.markers == ["scaled_fp8"]
    assert set(km.scales) == {f"x{i}.weight" for i in range(6)}


def sd15_unet_keys() -> dict:
    names = ["input_blocks.0.0.weight", "input_blocks.1.1.proj_in.weight", "middle_block.0.in_layers.0.weight",
             "output_blocks.0.0.in_layers.0.weight", "time_embed.0.weight", "out.2.weight"]
    return {"model.diffusion_model." + n: torch.zeros(4, 4) for n in names * 1} | \
        {f"model.diffusion_model.input_blocks.{i}.0.weight": torch.zeros(2) for i in range(1, 6)}


def test_sd15_unet_given_as_dit(tmp_path):
    path = tmp_path / "v1-5-pruned.safetensors"
    save_file(sd15_unet_keys(), str(path))
    with pytest.raises(CheckpointError) as err:
        load_dit(path)
    msg = str(err.value)
    assert "v1-5-pruned.safetensors" in msg and "Stable Diffusion 1" in msg
    assert "missing" in msg and "patch_embedding.weight" in msg and "unexpected" in msg and "input_blocks" in msg


def test_vae_given_as_dit_and_dit_given_as_vae(vae_sd, tiny_dit, tmp_path):
    vae_path, dit_path = tmp_path / "wan_2.1_vae.safetensors", tmp_path / "animate.safetensors"
    save_file(vae_sd, str(vae_path))
    save_file(tiny_dit.state_dict(), str(dit_path))
    with pytest.raises(CheckpointError, match=r"wan_2\.1_vae\.safetensors.*Wan2\.1 video VAE.*missing"):
        load_dit(vae_path)
    with pytest.raises(CheckpointError, match=r"animate\.safetensors.*Wan2\.2-Animate DiT.*missing 194 keys: conv1"):
        load_vae(dit_path)


def test_missing_keys_are_listed(vae_sd, tiny_dit, tmp_path):
    path = tmp_path / "partial_vae.safetensors"
    save_file({k: v for k, v in vae_sd.items() if not k.startswith("decoder.head.")}, str(path))
    with pytest.raises(CheckpointError, match=r"partial_vae.*missing 3 keys: decoder\.head\.0\.gamma"):
        load_vae(path)
    sd = dict(tiny_dit.state_dict())
    del sd["blocks.1.ffn.2.bias"]
    sd["blocks.1.extra.weight"] = torch.zeros(1)
    path = tmp_path / "partial_dit.safetensors"
    save_file(sd, str(path))
    with pytest.raises(CheckpointError, match=r"missing 1 keys: blocks\.1\.ffn\.2\.bias.*unexpected 1 keys: "
                                              r"blocks\.1\.extra\.weight"):
        load_dit(path)


def test_truncated_and_corrupt_files(vae_sd, tmp_path):
    good = tmp_path / "good.safetensors"
    save_file(vae_sd, str(good))
    data = good.read_bytes()
    for name, blob in (("cut.safetensors", data[: len(data) // 2]), ("tiny.safetensors", data[:5]),
                       ("noise.safetensors", b"\x17" * 4096)):
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(CheckpointError, match=name.replace(".", r"\.") + ".*(truncated|corrupt)"):
            load_vae(tmp_path / name)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_vae(tmp_path / "nope.safetensors")


def test_pickle_files_are_refused(tmp_path):
    for name in ("model.ckpt", "model.pt", "pytorch_model.bin", "disguised.safetensors"):
        path = tmp_path / name
        torch.save({"w": torch.zeros(2)}, str(path))
        with pytest.raises(CheckpointError, match="pickle.*[Cc]onvert it to safetensors"):
            load_vae(path)


def test_compute_dtype_the_device_cannot_do(monkeypatch, vae_sd, tmp_path):
    for bad in (torch.float8_e4m3fn, torch.float8_e5m2):
        with pytest.raises(DreamActorError, match="storage format"):
            check_compute_dtype(bad)
    with pytest.raises(DreamActorError, match="floating"):
        check_compute_dtype(torch.int8)
    if not torch.cuda.is_available():
        with pytest.raises(DreamActorError, match="device 'cuda' cannot compute"):
            check_compute_dtype(torch.float16, "cuda")
    real = torch.Tensor.__matmul__

    def old_cpu(a, b):  # a CPU build without half-precision matmul kernels
        if a.dtype == torch.float16:
            raise RuntimeError('"addmm_impl_cpu_" not implemented for \'Half\'')
        return real(a, b)

    monkeypatch.setattr(torch.Tensor, "__matmul__", old_cpu)
    path = tmp_path / "vae.safetensors"
    save_file(vae_sd, str(path))
    with pytest.raises(DreamActorError, match="cannot compute in torch.float16.*Half.*choose float32"):
        load_vae(path, dtype=torch.float16)
    with pytest.raises(DreamActorError, match="cannot compute in torch.float16"):
        load_dit(path, compute_dtype=torch.float16)


def test_num_heads_override_for_a_file_that_does_not_record_it(tmp_path):
    # without a face path and without metadata, the head count can only be guessed (head size 128)
    cfg = ModelConfig(**{**TINY_DIT, "num_heads": 4, "face_every": 0})
    torch.manual_seed(0)
    model = AnimateDiT(cfg).eval()
    path = tmp_path / "no_meta.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    inputs = dit_inputs(cfg)
    inputs.pop("face_pixels")
    with torch.no_grad():
        want = model(**inputs)
        guessed = load_dit(path)
        fixed = load_dit(path, num_heads=4)
        assert guessed.config.num_heads == 1 and (guessed(**inputs) - want).abs().max() > 1e-3
        assert fixed.config.num_heads == 4 and torch.allclose(fixed(**inputs), want, atol=1e-5)
    with pytest.raises(DreamActorError, match="num_heads: 3 does not fit this model's width 64"):
        load_dit(path, num_heads=3)
    with pytest.raises(DreamActorError, match="num_heads: must be at least 1"):
        load_dit(path, num_heads=0)
