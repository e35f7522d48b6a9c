"""Model nodes through the stand-in: loaders find files in the model folders, VAE nodes keep ComfyUI's
LATENT convention (raw means), decode reports progress and stops when cancelled."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from dreamactor_core.model.vae import VAEConfig, WanVAE
from dreamactor_core.utils import Cancelled, DreamActorError
from nodes import host, model


@pytest.fixture(scope="module")
def tiny_vae_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    torch.manual_seed(0)
    vae = WanVAE(VAEConfig(dim=8))
    (home / "models" / "vae").mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()},
              str(home / "models" / "vae" / "tiny_wan21_vae.safetensors"))
    (home / "models" / "vae" / "broken.safetensors").write_bytes(b"\x00" * 16)
    return home


@pytest.fixture
def vae(tiny_vae_home, monkeypatch):
    monkeypatch.setenv("DREAMACTOR_HOME", str(tiny_vae_home))
    options = model.VAELoader.GET_SCHEMA().inputs[0].options
    assert options == ["broken.safetensors", "tiny_wan21_vae.safetensors"]
    return model.VAELoader.execute(vae_name="tiny_wan21_vae.safetensors", dtype="auto")[0]


def test_vae_nodes_encode_raw_means_and_decode_back(vae):
    torch.manual_seed(1)
    images = torch.rand(5, 32, 48, 3)
    latent = model.VAEEncode.execute(vae=vae, images=images, chunk=1, tile=0)[0]
    assert set(latent) == {"samples"} and latent["samples"].shape == (1, 16, 2, 4, 6)
    # LATENT holds the raw means, exactly what the core's encode_raw gives (ComfyUI's Wan convention).
    video = images.movedim(-1, 0).unsqueeze(0) * 2 - 1
    torch.testing.assert_close(latent["samples"], vae.encode_raw(video))
    assert not torch.allclose(latent["samples"], vae.encode(video))
    seen = []
    monkey_progress = host.progress_callback
    try:
        host.progress_callback = lambda: (lambda done, total: seen.append((done, total)))
        frames = model.VAEDecode.execute(vae=vae, latent=latent, chunk=1, tile=0)[0]
    finally:
        host.progress_callback = monkey_progress
    assert frames.shape == (5, 32, 48, 3) and 0.0 <= float(frames.min()) <= float(frames.max()) <= 1.0
    expected = (vae.decode_raw(latent["samples"]).clamp(-1, 1) + 1) / 2
    torch.testing.assert_close(frames, expected[0].permute(1, 2, 3, 0), atol=1e-5, rtol=0)
    assert seen and seen[-1][0] == seen[-1][1], "decode must report progress up to done == total"


def test_vae_decode_node_stops_when_cancelled(vae, monkeypatch):
    latent = {"samples": torch.zeros(1, 16, 3, 4, 4)}
    monkeypatch.setattr(host, "cancel_callback", lambda: (lambda: True))
    with pytest.raises(Cancelled):
        model.VAEDecode.execute(vae=vae, latent=latent, chunk=1, tile=0)


def test_loader_errors_name_the_input(vae):
    with pytest.raises(DreamActorError, match="DreamActor VAE Loader, input 'vae_name'"):
        model.VAELoader.execute(vae_name="broken.safetensors", dtype="fp32")
    with pytest.raises(DreamActorError, match="input 'vae_name': 'gone.safetensors' was not found"):
        model.VAELoader.execute(vae_name="gone.safetensors", dtype="fp32")
    with pytest.raises(DreamActorError, match="DreamActor VAE Encode, input 'images'"):
        model.VAEEncode.execute(vae=vae, images=torch.rand(5, 30, 48, 3), chunk=1, tile=0)  # not a multiple of 8


def test_vae_encode_pads_to_4n_plus_1_frames(vae):
    images = torch.rand(7, 32, 48, 3)
    latent = model.VAEEncode.execute(vae=vae, images=images, chunk=1, tile=0)[0]["samples"]
    padded = torch.cat([images, images[-1:], images[-1:]])  # 7 frames -> 9, the last one repeated
    torch.testing.assert_close(latent, vae.encode_raw(padded.movedim(-1, 0).unsqueeze(0) * 2 - 1))
    assert latent.shape[2] == 3


def test_model_loader_lists_both_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMACTOR_HOME", str(tmp_path))
    for folder, name in (("dreamactor", "m1.safetensors"), ("diffusion_models", "wan_animate.safetensors")):
        (tmp_path / "models" / folder).mkdir(parents=True)
        (tmp_path / "models" / folder / name).write_bytes(b"x")
    schema = model.ModelLoader.GET_SCHEMA()
    assert schema.inputs[0].options == ["m1.safetensors", "wan_animate.safetensors"]
    assert str(tmp_path / "models" / "dreamactor") in schema.inputs[0].tooltip
    assert model.pick_compute_dtype("auto", torch.device("cpu")) == torch.float32


def one_block_dit(home, name: str) -> dict:
    """A one-block DiT (4 heads of 16, which the file does not record) in ``home``'s models folder;
    returns the Model Loader's inputs for it."""
    from dreamactor_core.model.config import ModelConfig
    from dreamactor_core.model.dit import AnimateDiT

    (home / "models" / "dreamactor").mkdir(parents=True)
    dit = AnimateDiT(ModelConfig(dim=64, ffn_dim=96, num_heads=4, num_layers=1, text_dim=32, freq_dim=32,
                                 face_every=0, has_clip=False))
    save_file({k: v.contiguous() for k, v in dit.state_dict().items()}, str(home / "models" / "dreamactor" / name))
    return dict(model_name=name, weight_dtype="default", compute_dtype="fp32", block_swap=0,
                attention="sdpa", reference_slots=0)


def test_model_loader_num_heads_override(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMACTOR_HOME", str(tmp_path))
    kw = one_block_dit(tmp_path, "other.safetensors")
    assert model.ModelLoader.execute(**kw)[0].config.num_heads == 1  # the head-size-128 guess
    assert model.ModelLoader.execute(**kw, num_heads=4)[0].config.num_heads == 4
    with pytest.raises(DreamActorError, match="DreamActor Model Loader, input 'num_heads': 5 does not fit"):
        model.ModelLoader.execute(**kw, num_heads=5)


def test_model_loader_puts_a_file_error_on_model_name_even_with_num_heads(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMACTOR_HOME", str(tmp_path))
    (tmp_path / "models" / "dreamactor").mkdir(parents=True)
    (tmp_path / "models" / "dreamactor" / "broken.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(DreamActorError, match="DreamActor Model Loader, input 'model_name'"):
        model.ModelLoader.execute(model_name="broken.safetensors", weight_dtype="default", compute_dtype="fp32",
                                  block_swap=0, attention="sdpa", reference_slots=0, num_heads=4)


def test_model_loader_attention_names_work_and_errors_land_on_attention(tmp_path, monkeypatch):
    """The node shows the package names (sageattention, flash_attn); the core calls them sage and flash."""
    import importlib.util

    from dreamactor_core.model import attention as core_attention

    monkeypatch.setenv("DREAMACTOR_HOME", str(tmp_path))
    kw = dict(one_block_dit(tmp_path, "m.safetensors"), num_heads=4)
    real_find = importlib.util.find_spec
    for shown in ("sageattention", "flash_attn"):
        if real_find(shown) is None:
            with pytest.raises(DreamActorError) as err:
                model.ModelLoader.execute(**dict(kw, attention=shown))
            assert "DreamActor Model Loader, input 'attention'" in str(err.value)
            assert f"needs the Python package '{shown}'" in str(err.value)

    def present(name, *a, **k):  # as if both kernels were installed
        return object() if name in ("sageattention", "flash_attn") else real_find(name, *a, **k)

    monkeypatch.setattr(core_attention.importlib.util, "find_spec", present)
    for shown, core_name in (("sageattention", "sage"), ("flash_attn", "flash")):
        dit = model.ModelLoader.execute(**dict(kw, attention=shown))[0]
        assert dit.attention_name == core_name  # the name the node shows reaches the core's backend
