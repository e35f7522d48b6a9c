"""Node schemas, the V3 entry point and host-independent node behaviour, through the stand-in."""
from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parent.parent

from comfy_api.latest import io  # noqa: E402  (the stand-in, on sys.path via pyproject)

import nodes  # noqa: E402
from dreamactor_core.signals.motion import Motion  # noqa: E402
from dreamactor_core.utils import Cancelled, DreamActorError  # noqa: E402
from nodes import host, signals  # noqa: E402
from nodes.types import image_to_uint8, image_to_video, to_image, video_to_image  # noqa: E402


def _schemas():
    return [cls.GET_SCHEMA() for cls in nodes.NODE_CLASSES]


def test_every_node_schema_is_complete():
    schemas = _schemas()
    ids = [s.node_id for s in schemas]
    assert len(ids) == len(set(ids)), "node ids must be unique"
    expected = {
        "DreamActorExtractMotion", "DreamActorMotionFromPoseKeypoint", "DreamActorMotionToPoseKeypoint",
        "DreamActorRetargetMotion", "DreamActorRenderGuidance", "DreamActorFaceCrops",
        "DreamActorSaveMotion", "DreamActorLoadMotion", "DreamActorModelLoader", "DreamActorVAELoader",
        "DreamActorVAEEncode", "DreamActorVAEDecode", "DreamActorFaceMotionEncode",
    }
    assert expected <= set(ids)
    for s in schemas:
        assert s.node_id.startswith("DreamActor")
        assert s.display_name and s.display_name.startswith("DreamActor ")
        assert s.category.startswith("DreamActor/")
        assert len(s.description) > 30, s.node_id
        for i in s.inputs or []:
            assert i.tooltip, f"{s.node_id}.{i.id} has no tooltip"
        assert s.outputs or s.is_output_node, f"{s.node_id} neither returns nor saves anything"


def test_schema_serializes_like_object_info():
    info = signals.RenderGuidance.GET_SCHEMA().get_v1_info(signals.RenderGuidance)
    width = info["input"]["required"]["width"]
    assert width[0] == "INT" and width[1]["default"] == 512 and width[1]["step"] == 16
    assert info["input"]["required"]["aspect"][1]["options"] == ["letterbox", "crop", "stretch"]
    assert info["output"] == ["IMAGE"]
    retarget = signals.RetargetMotion.GET_SCHEMA().get_v1_info(signals.RetargetMotion)
    assert "bone_scales" in retarget["input"]["optional"]
    assert retarget["input"]["required"]["motion"][0] == "DREAMACTOR_MOTION"


def test_root_package_loads_the_way_comfyui_loads_it():
    # ComfyUI imports a custom node folder by file location under a path-derived module name.
    name = str(REPO).replace(".", "_x_")
    spec = importlib.util.spec_from_file_location(name, REPO / "__init__.py",
                                                  submodule_search_locations=[str(REPO)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        extension = asyncio.run(module.comfy_entrypoint())
        node_list = asyncio.run(extension.get_node_list())
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
    assert module.WEB_DIRECTORY and (REPO / module.WEB_DIRECTORY / "dreamactor.js").is_file()
    assert isinstance(node_list, list) and node_list
    assert all(issubclass(c, io.ComfyNode) for c in node_list)
    assert {c.GET_SCHEMA().node_id for c in node_list} == {s.node_id for s in _schemas()}


def test_image_conversions_handle_channels_and_round_trip():
    rgb = torch.rand(3, 8, 10, 3)
    u8 = image_to_uint8(rgb, "images")
    assert u8.dtype == np.uint8 and u8.shape == (3, 8, 10, 3)
    assert torch.allclose(to_image(u8), rgb, atol=1 / 255)
    assert image_to_uint8(torch.rand(2, 8, 10, 4), "images").shape == (2, 8, 10, 3)
    gray = image_to_uint8(torch.full((1, 4, 4, 1), 0.5), "images")
    assert gray.shape == (1, 4, 4, 3) and np.all(gray == 128)
    nan = torch.full((1, 4, 4, 3), float("nan"))
    assert np.all(image_to_uint8(nan, "images") == 0)
    with pytest.raises(DreamActorError, match="images: the image batch is empty"):
        image_to_uint8(torch.zeros(0, 8, 8, 3), "images")
    with pytest.raises(DreamActorError, match="reference: expected an IMAGE batch"):
        image_to_uint8(torch.zeros(8, 8, 3), "reference")
    video = image_to_video(rgb)
    assert video.shape == (1, 3, 3, 8, 10) and video.min() >= -1 and video.max() <= 1
    assert torch.allclose(video_to_image(video), rgb, atol=1e-6)


def test_core_errors_name_the_node_input():
    with pytest.raises(DreamActorError, match=r"^My Node, input 'images': frames: too small$"):
        with host.node_errors("My Node", "images"):
            raise DreamActorError("frames: too small")
    # Outside ComfyUI a cancel stays a Cancelled (inside, the host's interrupt is raised instead).
    with pytest.raises(Cancelled):
        with host.node_errors("My Node", "images"):
            raise Cancelled("stop")
    assert host.cancel_callback()() is False
    host.progress_callback()(1, 2)  # no progress bar outside the host: must simply do nothing


def test_bone_scales_parse_and_reject_garbage():
    assert signals.parse_bone_scales("") == {}
    assert signals.parse_bone_scales("thigh=1.2, shin: 1.1;upper_arm = 0.9") == {
        "thigh": 1.2, "shin": 1.1, "upper_arm": 0.9}
    with pytest.raises(DreamActorError, match="bone_scales: cannot read 'legs longer'"):
        signals.parse_bone_scales("legs longer")
    with pytest.raises(DreamActorError, match="outside 0.1..10"):
        signals.parse_bone_scales("thigh=0")


def _toy_motion(frames: int = 4) -> Motion:
    motion = Motion.empty(frames, fps=25.0, width=64, height=48, person={"mode": "largest", "count": 2, "chosen": 1})
    motion.body_px[:] = np.linspace(0, 40, frames * 33 * 3, dtype=np.float32).reshape(frames, 33, 3)
    motion.interpolated[1] = 1.0
    return motion


def test_save_and_load_motion_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMACTOR_HOME", str(tmp_path))
    motion = _toy_motion()
    out = signals.SaveMotion.execute(motion=motion, filename_prefix="clips/../walk")
    saved = tmp_path / "output" / "clips" / "walk_00001.json"
    assert saved.is_file(), "'..' must not escape the output folder"
    assert "saved clips/walk_00001.json" in out.ui.value and "4 frames at 25 fps" in out.ui.value
    assert "person: largest -> #1 of 2 found" in out.ui.value
    signals.SaveMotion.execute(motion=motion, filename_prefix="clips/walk")
    assert (tmp_path / "output" / "clips" / "walk_00002.json").is_file()

    (tmp_path / "input" / "shared").mkdir(parents=True)
    (tmp_path / "input" / "shared" / "walk.json").write_text(saved.read_text())
    (tmp_path / "input" / "broken.json").write_text("{not json")
    options = signals.LoadMotion.GET_SCHEMA().inputs[0].options
    assert options == ["broken.json", "shared/walk.json", "clips/walk_00001.json [output]",
                       "clips/walk_00002.json [output]"]
    loaded = signals.LoadMotion.execute(file="shared/walk.json")[0]
    assert loaded.num_frames == 4 and loaded.meta["person"]["chosen"] == 1
    np.testing.assert_allclose(loaded.body_px, motion.body_px, atol=1e-5)
    assert signals.LoadMotion.fingerprint_inputs(file="shared/walk.json")
    with pytest.raises(DreamActorError, match="input 'file': broken.json is not a motion file"):
        signals.LoadMotion.execute(file="broken.json")
    with pytest.raises(DreamActorError, match="is not a file"):
        signals.LoadMotion.execute(file="../output/clips/walk_00001.json")


def test_model_folders_fall_back_outside_comfyui(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMACTOR_HOME", str(tmp_path))
    (tmp_path / "models" / "dreamactor" / "sub").mkdir(parents=True)
    (tmp_path / "models" / "dreamactor" / "sub" / "tiny.safetensors").write_bytes(b"x")
    (tmp_path / "models" / "dreamactor" / "notes.txt").write_text("x")
    assert host.list_models("dreamactor") == ["sub/tiny.safetensors"]
    path = host.model_path(["dreamactor", "diffusion_models"], "sub/tiny.safetensors", "model_name")
    assert Path(path) == tmp_path / "models" / "dreamactor" / "sub" / "tiny.safetensors"
    with pytest.raises(DreamActorError, match="model_name: 'nope.safetensors' was not found; put the file in"):
        host.model_path(["dreamactor"], "nope.safetensors", "model_name")


def test_vae_decode_rejects_a_non_video_latent():
    from nodes.model import VAEDecode

    with pytest.raises(DreamActorError, match=r"input 'latent': expected a Wan video latent"):
        VAEDecode.execute(vae=None, latent={"samples": torch.zeros(1, 4, 8, 8)}, chunk=1, tile=0)


def test_sampling_node_inputs_convert_from_comfy_values():
    from types import SimpleNamespace

    from nodes import sampling

    cond = [[torch.ones(1, 7, 4096), {"pooled_output": None}]]
    assert sampling.text_embeddings(cond, "positive").shape == (1, 7, 4096)
    assert sampling.text_embeddings(None, "negative") is None
    with pytest.raises(DreamActorError, match="positive: expected umT5 embeddings with 4096 features"):
        sampling.text_embeddings([[torch.ones(1, 7, 768), {}]], "positive")
    clip = SimpleNamespace(penultimate_hidden_states=torch.ones(1, 257, 1280))
    assert sampling.clip_features(clip).shape == (1, 257, 1280)
    with pytest.raises(DreamActorError, match="clip_vision_output: it has no penultimate_hidden_states"):
        sampling.clip_features(SimpleNamespace())
    assert sampling.parse_angles("-45, 45 90") == [-45.0, 45.0, 90.0]
    with pytest.raises(DreamActorError, match="angles: cannot read"):
        sampling.parse_angles("left")


def test_decode_to_frames_decodes_the_latent_given_and_passes_fps():
    """Frames written in place equal the plain decode; anything else in the LATENT dict is ignored."""
    from dreamactor_core.model.vae import VAEConfig, WanVAE
    from nodes import sampling

    torch.manual_seed(0)
    vae = WanVAE(VAEConfig(dim=8)).eval()
    samples = torch.randn(1, 16, 3, 4, 4)
    stale = torch.randint(0, 256, (9, 32, 32, 3), dtype=torch.uint8)  # frames an old sampler stored
    latent = {"samples": samples, "dreamactor_frames": stale, "dreamactor_fps": 30.0}
    images, fps = sampling.DecodeToFrames.execute(vae=vae, latent=latent, fps=24.0, tile=0).args
    want = vae.decode_raw(samples).clamp(-1, 1).add(1).mul(0.5)[0].permute(1, 2, 3, 0)
    assert fps == 24.0 and images.shape == (9, 32, 32, 3)
    torch.testing.assert_close(images, want, atol=1e-6, rtol=0)
