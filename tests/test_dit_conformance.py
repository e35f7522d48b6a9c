"""AnimateDiT reproduces the official Wan2.2-Animate DiT fixture (conformance README section 2).

Every tap is a forward hook on a public submodule, so the production forward stays clean.
"""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from dreamactor_core.model.config import ModelConfig
from dreamactor_core.model.dit import AnimateDiT
from dreamactor_core.utils import DreamActorError
from fixture_weights import full_state_dict, write_full_checkpoint

NAME = "animate_dit_small"
MAX_ABS, REL_L2 = 1e-4, 1e-5


def assert_close(name: str, got: torch.Tensor, want: torch.Tensor) -> None:
    got = got.detach().float().reshape(want.shape)
    max_abs = float((got - want).abs().max())
    rel = float((got - want).norm() / want.norm().clamp_min(1e-12))
    assert max_abs <= MAX_ABS and rel <= REL_L2, f"{name}: max abs {max_abs:.3e}, rel L2 {rel:.3e}"


@pytest.fixture(scope="module")
def fixture(conformance_dir):
    d = conformance_dir / NAME
    if not d.is_dir():
        pytest.skip(f"{NAME} fixture not found")
    sd = full_state_dict(d)
    config = ModelConfig.from_shapes({k: v.shape for k, v in sd.items()}, text_len=16)
    model = AnimateDiT(config).eval()
    model.load_state_dict(sd)
    inputs = load_file(str(d / f"{NAME}.inputs.safetensors"))
    return dict(
        dir=d, sd=sd, model=model, inputs=inputs,
        expected=load_file(str(d / f"{NAME}.expected.safetensors")),
        intermediates=load_file(str(d / f"{NAME}.intermediates.safetensors")),
        face=inputs["face_pixels_u8"].float() / 127.5 - 1,
    )


def tap(model: AnimateDiT) -> tuple[dict, list]:
    """Install forward hooks that record the fixture's intermediates."""
    taps, handles, alphas, updates = {}, [], [], {}

    def keep(name):
        return lambda mod, args, out: taps.__setitem__(name, out)

    for name, mod in [("time_embedding_e", model.time_embedding), ("time_projection_e0", model.time_projection),
                      ("text_embedding_out", model.text_embedding), ("img_emb_out", model.img_emb),
                      ("patch_embed_no_pose", model.patch_embedding), ("pose_embed", model.pose_patch_embedding),
                      ("face_encoder_out", model.face_encoder), ("motion_vec_per_frame", model.motion_encoder),
                      ("head_out_tokens", model.head)]:
        handles.append(mod.register_forward_hook(keep(name)))
    handles.append(model.motion_encoder.enc.fc.register_forward_hook(lambda m, a, o: alphas.append(o)))
    for i, block in enumerate(model.blocks):
        handles.append(block.register_forward_hook(keep(f"block{i:02d}_out")))
    for j, fuser in enumerate(model.face_adapter.fuser_blocks):
        handles.append(fuser.register_forward_hook(lambda m, a, o, j=j: updates.__setitem__(j, o)))

    def finish():
        for h in handles:
            h.remove()
        taps["motion_alpha_per_frame"] = torch.cat(alphas)
        taps["motion_direction_Q"] = model.motion_encoder.dec.direction.basis()
        pe = taps.pop("patch_embed_no_pose")
        taps["patch_embed_no_pose"] = pe
        taps["patch_embed_with_pose"] = torch.cat([pe[:, :, :1], pe[:, :, 1:] + taps.pop("pose_embed")], dim=2)
        taps["motion_vec_padded"] = torch.nn.functional.pad(taps["face_encoder_out"], (0, 0, 0, 0, 1, 0))
        for i in range(len(model.blocks)):
            j = model.config.face_block_index(i)
            out = taps[f"block{i:02d}_out"]
            taps[f"block{i:02d}_after_face_adapter"] = out + updates[j] if j is not None else out
        return taps

    return taps, finish


def call(model, inp, context, **face):
    return model(inp["x"][None], inp["t"], context[None], inp["clip_fea"], y=inp["y"][None],
                 pose_latents=inp["pose_latents"], **face)


def test_conditional_output_and_every_intermediate(fixture):
    model, inp = fixture["model"], fixture["inputs"]
    _, finish = tap(model)
    with torch.no_grad():
        out = call(model, inp, inp["context"], face_pixels=fixture["face"])
    taps = finish()
    assert_close("out", out[0], fixture["expected"]["out"])
    missing = sorted(set(fixture["intermediates"]) - set(taps))
    assert not missing, f"intermediates not tapped: {missing}"
    for name, want in sorted(fixture["intermediates"].items()):
        assert_close(name, taps[name], want)


def test_unconditional_branch(fixture):
    """context_null and every face pixel -1. Frames are encoded independently, so one
    all -1 frame encoded once and repeated is the same motion sequence the model would build."""
    model, inp = fixture["model"], fixture["inputs"]
    frames = fixture["face"].shape[2]
    with torch.no_grad():
        motion = model.motion_encoder(-torch.ones(1, 3, 512, 512)).expand(frames, -1)
        face_tokens = model.face_encoder(motion[None])
        out = call(model, inp, inp["context_null"], face_tokens=face_tokens)
    assert_close("out_uncond", out[0], fixture["expected"]["out_uncond"])


def test_blur_kernel_buffers_are_optional(fixture):
    sd = {k: v for k, v in fixture["sd"].items() if not k.endswith(".kernel")}
    assert len(fixture["sd"]) - len(sd) == 14
    model = AnimateDiT(fixture["model"].config)
    model.load_state_dict(sd)
    for k, v in fixture["sd"].items():
        assert torch.equal(model.state_dict()[k], v), k


def test_mismatched_state_dict_names_the_keys(fixture):
    sd = dict(fixture["sd"])
    del sd["blocks.3.cross_attn.k_img.weight"]
    sd["blocks.3.extra.weight"] = torch.zeros(1)
    sd["head.head.bias"] = torch.zeros(32)
    with pytest.raises(DreamActorError) as err:
        AnimateDiT(fixture["model"].config).load_state_dict(sd)
    msg = str(err.value)
    assert "blocks.3.cross_attn.k_img.weight" in msg and "blocks.3.extra.weight" in msg and "head.head.bias" in msg


def test_public_loader_reads_the_fixture(fixture, tmp_path):
    loader = pytest.importorskip("dreamactor_core.model.loader", reason="load_dit lives on the vae branch")
    path = write_full_checkpoint(fixture["dir"], tmp_path / "dit.safetensors", prefix="model.diffusion_model.")
    model = loader.load_dit(path)
    assert isinstance(model, AnimateDiT)
    assert model.config.replace(text_len=16) == fixture["model"].config
    got = model.state_dict()
    for k, v in fixture["sd"].items():
        assert torch.equal(got[k].float(), v), k
