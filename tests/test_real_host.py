"""The pack inside a real ComfyUI: nodes registered, and every workflow runs (converted to API format here).

Skipped unless COMFYUI_PATH points to a ComfyUI checkout (v0.3.64 or newer), e.g.
``COMFYUI_PATH=/path/to/ComfyUI python -m pytest tests/test_real_host.py``.
The server runs headless on CPU from a temporary copy (see ``host_harness``) with
tiny random model files in its own models folder (see ``host_models``).

What differs from an artist's run, and why:
- ``CLIPLoader`` and ``CLIPVisionLoader`` are swapped for the test-only subclasses in
  ``tests/host_standins`` (same inputs, outputs and files), because the stock loaders
  build umT5-XXL and ViT-H/14 at full size from bundled configs whatever the file's
  shapes. CLIPTextEncode and CLIPVisionEncode, and everything else, are the stock nodes.
- Sizes, steps and frame counts are cut down (``RUN_OVERRIDES``) and the driving clips
  are the first 9 frames of the synthetic clips, so the whole module runs in a few minutes.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import nodes
from host_harness import ComfyHost, ui_to_api

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / "workflows"
UI_WORKFLOWS = sorted(WORKFLOWS.glob("*.json"))
STANDINS = Path(__file__).resolve().parent / "host_standins"

pytestmark = pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"),
                                reason="set COMFYUI_PATH to a ComfyUI checkout to run the real-host test")

# Media the workflows load from ComfyUI's input folder: (synthetic source, frames kept; None for an image).
INPUT_MEDIA = {
    "dreamactor_driving.mp4": ("pub02_arm_wave.mp4", 9),
    "dreamactor_portrait_driving.mp4": ("pub06_portrait_head.mp4", 9),
    "dreamactor_reference.png": ("pub01_walk_in_place.png", None),
    "dreamactor_portrait.png": ("astronaut.png", None),
}
# The stock loaders the test swaps for its stand-ins (see the module docstring).
REPLACED = {"CLIPLoader": "TestTinyCLIPLoader", "CLIPVisionLoader": "TestTinyCLIPVisionLoader"}
# Values the workflows keep for artists but that would take too long on the CPU test host.
RUN_OVERRIDES = {
    "DreamActorSampler": {"preset": "distilled", "frame_count": 5},  # 4 steps
    "DreamActorSolverSettings": {"steps": 2},
    "DreamActorRenderGuidance": {"width": 64, "height": 64},
    "DreamActorFaceCrops": {"size": 224},
    "DreamActorPseudoReferences": {"width": 64, "height": 64, "frames": 5, "steps": 2},
}
# Windows for samplers without a Window Settings node: Wan2.2-Animate's windows run full length (77 frames)
# even for a short clip, far too slow here.
TEST_WINDOWS = {"window": 5, "motion_frames": 1, "color_match": 0.0}
# Per workflow: the long-video one runs 9 frames in two windows of 5 (1 carried over).
WORKFLOW_OVERRIDES = {
    "dreamactor_long_video_windows": {"DreamActorSampler": {"frame_count": 0},
                                      "DreamActorWindowSettings": {"window": 5, "motion_frames": 1}},
}
# Output frames each workflow's saved video must have (None: no check).
EXPECTED_FRAMES = {"dreamactor_long_video_windows": 9, "dreamactor_guidance_preview": 9}
ANIMATION_FRAMES = 5


def _write_inputs(folder: Path, synth_dir: Path) -> None:
    import imageio.v3 as iio

    for name, (source, frames) in INPUT_MEDIA.items():
        if frames is None:
            shutil.copy(synth_dir / source, folder / name)
            continue
        clip = iio.imread(synth_dir / source, plugin="pyav")[:frames]
        iio.imwrite(folder / name, clip, plugin="pyav", fps=25, codec="libx264")


def _write_models(models: Path) -> None:
    from host_models import relight_lora, stock_dit, stock_vae, tiny_clip_vision, tiny_dit, tiny_umt5

    # The Wan files are ones stock loaders read too (ComfyUI fixes some sizes); ours read any size.
    stock_dit(models / "diffusion_models" / "wan2.2_animate_14B_bf16.safetensors")
    tiny_dit(models / "dreamactor" / "dreamactor_m1.safetensors", variant="dreamactor")
    stock_vae(models / "vae" / "wan_2.1_vae.safetensors")
    tiny_umt5(models / "text_encoders" / "umt5_xxl_fp8_e4m3fn_scaled.safetensors")
    tiny_clip_vision(models / "clip_vision" / "clip_vision_h.safetensors")
    relight_lora(models / "loras" / "WanAnimate_relight_lora_fp16.safetensors")  # for stock_dit's shapes
    relight_lora(models / "loras" / "lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors", seed=1)


@pytest.fixture(scope="module")
def host(synth_dir):
    with ComfyHost(os.environ["COMFYUI_PATH"], extra_nodes=(STANDINS,)) as server:
        _write_inputs(server.input, synth_dir)
        _write_models(server.models)
        yield server


@pytest.fixture(scope="module")
def object_info(host):
    return host.object_info()


def test_every_node_is_registered(host, object_info):
    ours = {cls.GET_SCHEMA().node_id for cls in nodes.NODE_CLASSES}
    missing = ours - set(object_info)
    assert not missing, f"not in /object_info: {sorted(missing)}\n{host.log_tail()}"
    extract = object_info["DreamActorExtractMotion"]
    assert extract["category"] == "DreamActor/signals"
    assert extract["output"] == ["DREAMACTOR_MOTION"]
    assert extract["input"]["required"]["images"][0] == "IMAGE"
    loader = object_info["DreamActorModelLoader"]
    assert "Looks in:" in loader["input"]["required"]["model_name"][1]["tooltip"]
    # The dreamactor model folder is registered with the host's folder registry.
    assert str(host.models / "dreamactor") in loader["input"]["required"]["model_name"][1]["tooltip"]
    sampler = object_info["DreamActorSampler"]["input"]["optional"]
    assert sampler["pose_latents"][0] == "LATENT" and sampler["face_tokens"][0] == "DREAMACTOR_FACE_TOKENS"
    # the stand-ins take exactly the stock loaders' inputs
    for stock, standin in REPLACED.items():
        assert object_info[standin]["input"] == object_info[stock]["input"]
        assert object_info[standin]["output"] == object_info[stock]["output"]


def test_frontend_extension_is_served(host):
    import requests

    listed = requests.get(host.url + "/extensions", timeout=30).json()
    ours = [path for path in listed if path.endswith("/dreamactor.js")]
    assert ours, f"dreamactor.js not among {listed}"
    assert "registerExtension" in requests.get(host.url + ours[0], timeout=30).text


def test_templates_are_the_ui_workflows(host):
    import requests

    listed = requests.get(host.url + "/workflow_templates", timeout=30).json()
    assert sorted(listed.get("ComfyUI-DreamActor", [])) == [p.stem for p in UI_WORKFLOWS], listed


def _prompt(ui_path: Path, object_info: dict) -> dict:
    prompt = ui_to_api(json.loads(ui_path.read_text()), object_info)  # as the frontend queues it
    per_workflow = WORKFLOW_OVERRIDES.get(ui_path.stem, {})
    for node in prompt.values():
        kind = node["class_type"]
        node["inputs"].update(RUN_OVERRIDES.get(kind, {}))
        node["inputs"].update(per_workflow.get(kind, {}))
        node["class_type"] = REPLACED.get(kind, kind)
    for node_id, node in list(prompt.items()):
        if node["class_type"] == "DreamActorSampler" and "window_settings" not in node["inputs"]:
            prompt[f"{node_id}w"] = {"class_type": "DreamActorWindowSettings", "inputs": dict(TEST_WINDOWS)}
            node["inputs"]["window_settings"] = [f"{node_id}w", 0]
    return prompt


@pytest.mark.parametrize("ui_path", UI_WORKFLOWS, ids=[p.stem for p in UI_WORKFLOWS])
def test_workflow_runs(ui_path, host, object_info):
    import imageio.v3 as iio

    prompt = _prompt(ui_path, object_info)
    log_start = len(host.log_tail(10 ** 9))
    entry = host.run(prompt, timeout=400)
    outputs = entry["outputs"]
    saved = [item for out in outputs.values() for key in ("images", "gifs", "videos") for item in out.get(key, [])]
    assert saved, f"{ui_path.name} produced no file: {outputs}"
    for item in saved:
        folder = {"output": host.output, "temp": host.base / "temp"}[item["type"]]
        path = folder / item.get("subfolder", "") / item["filename"]
        assert path.is_file() and path.stat().st_size > 1000, path
        if path.suffix == ".mp4":
            frames = iio.imread(path, plugin="pyav")
            want = EXPECTED_FRAMES.get(ui_path.stem, ANIMATION_FRAMES)
            assert frames.shape[0] == want, (path, frames.shape)
    log = host.log_tail(10 ** 9)[log_start:]
    if any(n["class_type"] == "LoraLoaderModelOnly" for n in prompt.values()):
        assert "lora key not loaded" not in log, log[-3000:]  # every LoRA tensor found its weight
    if any(n["class_type"] == "DreamActorSampler" for n in prompt.values()):
        # the prompt and CLIP vision features from the stock encode nodes reached the sampler
        assert "no text embeddings given" not in log and "no CLIP vision features were given" not in log, log[-3000:]


def _saved_images(host, entry: dict, node_id: str):
    import numpy as np
    from PIL import Image

    items = entry["outputs"][node_id]["images"]
    return np.stack([np.asarray(Image.open(host.output / i.get("subfolder", "") / i["filename"]).convert("RGB"))
                     for i in items]).astype(np.int16)


def test_pack_vae_and_stock_vae_are_one_socket(host):
    """Stock Load VAE and DreamActor VAE Loader read the same file; stock VAE Encode/Decode and the pack's
    VAE Decode take either, and every decode of one latent agrees to within one 8-bit level (1/255)."""
    vae_file = "wan_2.1_vae.safetensors"
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "dreamactor_reference.png"}},
        "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "area", "width": 64,
                                                     "height": 64, "crop": "center"}},
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": vae_file}},
        "4": {"class_type": "DreamActorVAELoader", "inputs": {"vae_name": vae_file, "dtype": "fp32"}},
        "5": {"class_type": "VAEEncode", "inputs": {"pixels": ["2", 0], "vae": ["3", 0]}},
        "6": {"class_type": "VAEEncode", "inputs": {"pixels": ["2", 0], "vae": ["4", 0]}},
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["3", 0]}},   # stock, stock
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["4", 0]}},   # stock node, ours
        "9": {"class_type": "DreamActorVAEDecode", "inputs": {"vae": ["3", 0], "latent": ["5", 0], "chunk": 1,
                                                              "tile": 0}},                 # our node, stock VAE
        "10": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["3", 0]}},  # our encode
        "11": {"class_type": "VAEDecodeTiled", "inputs": {"samples": ["5", 0], "vae": ["4", 0], "tile_size": 64,
                                                          "overlap": 16, "temporal_size": 64, "temporal_overlap": 8}},
    }
    for n in ("7", "8", "9", "10", "11", "2"):
        prompt[f"s{n}"] = {"class_type": "SaveImage", "inputs": {"images": [n, 0], "filename_prefix": f"vae_{n}"}}
    entry = host.run(prompt, timeout=300)
    stock = _saved_images(host, entry, "s7")
    source = _saved_images(host, entry, "s2")
    assert stock.shape == source.shape == (1, 64, 64, 3)
    # the test VAE is a rough autoencoder: its decode varies over the image and is not saturated, so the
    # comparisons below mean something
    saturated = ((stock == 0) | (stock == 255)).mean()
    assert stock.std() > 10 and saturated < 0.5, (stock.std(), saturated)
    for other in ("s8", "s9", "s10", "s11"):
        diff = int(abs(_saved_images(host, entry, other) - stock).max())
        assert diff <= 1, f"{other} differs from the stock decode by {diff}/255"


def test_replacement_conditioning_matches_core_wan_animate_to_video(host):
    """The pack's replacement ``y`` against core WanAnimateToVideo's from the same background and masks.

    Both use the stock Wan2.1 VAE file. Core's ``y`` is what its Wan model builds from the
    conditioning (``1 - concat_mask`` and the normalized ``concat_latent_image``, see
    ``host_standins/replacement_probe.py``); the pack's is :func:`build_window`'s. The latent
    channels (reference slot and background video) must agree to float precision, and so must the
    mask channels, with one exception that is core's, not ours: core fills each latent frame's 4
    mask channels with pixel frames 4j..4j+3 and pads the last 3 with "generate", where
    Wan2.2-Animate (and the pack, see ``test_replace.py``) repeats frame 0 four times and then
    takes frames 4j-3..4j. With a still mask that leaves exactly the last latent frame's channels
    1-3; with a moving one, the frames of each slot differ too. Both are reported.
    """
    import numpy as np
    import torch
    from safetensors.torch import load_file

    from dreamactor_core.model.loader import load_vae
    from dreamactor_core.sampling import conditioning as C
    from dreamactor_core.sampling.replace import check_replacement
    import importlib.util

    # by path: the stand-in package's __init__ imports ComfyUI, which this process does not have
    spec = importlib.util.spec_from_file_location("replacement_probe", STANDINS / "replacement_probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    FRAMES, SIZE, replacement_case = probe.FRAMES, probe.SIZE, probe.replacement_case

    prompt = {
        "1": {"class_type": "TestReplacementInputs", "inputs": {"seed": 0}},
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae.safetensors"}},
    }
    for node, (slot, name) in enumerate(((2, "still"), (3, "moving")), start=3):
        prompt[str(node)] = {"class_type": "WanAnimateToVideo", "inputs": {
            "positive": ["1", 4], "negative": ["1", 4], "vae": ["2", 0], "width": SIZE, "height": SIZE,
            "length": FRAMES, "batch_size": 1, "continue_motion_max_frames": 5, "video_frame_offset": 0,
            "reference_image": ["1", 0], "background_video": ["1", 1], "character_mask": ["1", slot]}}
        prompt[f"s{node}"] = {"class_type": "TestSaveConcatY", "inputs": {"conditioning": [str(node), 0],
                                                                          "filename": f"core_y_{name}"}}
    host.run(prompt, timeout=300)
    case = replacement_case(0)
    vae = load_vae(host.models / "vae" / "wan_2.1_vae.safetensors")
    enc = C.Encoder(vae)
    text = C.prepare_text(None, torch.zeros(1, 4096), None, torch.zeros(257, 1280))
    ref_lat = enc.references([case["reference"]])
    guide = np.zeros((FRAMES, SIZE, SIZE, 3), np.uint8)  # pose is left out (pose=False): y does not use it
    lat_t = (FRAMES - 1) // 4 + 1
    for name in ("still", "moving"):
        core = load_file(str(host.output / f"core_y_{name}.safetensors"))["y"]
        rep = check_replacement(case["background"], case[name], FRAMES, SIZE, SIZE)
        with torch.no_grad():
            ours = C.build_window(enc, ref_lat, guide, None, text, pose=False, replacement=rep).y
        assert ours.shape == core.shape == (1, 20, 1 + lat_t, SIZE // 8, SIZE // 8)
        latent_diff = float((ours[:, 4:] - core[:, 4:]).abs().max())
        mask_diff = (ours[:, :4] - core[:, :4]).abs()
        print(f"{name} mask: latent channels max abs diff {latent_diff:.2e}; mask channels max abs diff "
              f"{float(mask_diff.max()):.0f}, {float((mask_diff > 0).float().mean()):.1%} of entries differ")
        assert latent_diff < 1e-3, latent_diff
        assert torch.all(ours[:, :4, 0] == 1) and torch.all(core[:, :4, 0] == 1)  # the reference slot
        if name == "still":
            # equal everywhere but core's padded channels 1-3 of the last latent frame
            assert torch.equal(ours[:, :4, :-1], core[:, :4, :-1]) and torch.equal(ours[:, :1, -1], core[:, :1, -1])
            assert torch.all(core[:, 1:4, -1] == 0)
        # Wherever the pixel frame Wan2.2-Animate puts in a slot and the one core puts there (a padded slot:
        # all character) agree on a cell, the two mask values are equal: the alignment is the only difference.
        cells = torch.from_numpy(case[name][:, ::8, ::8])
        padded = torch.ones_like(cells[0])
        for j in range(lat_t):
            for c in range(4):
                official = cells[0 if j == 0 else 4 * j - 3 + c]
                in_core = cells[4 * j + c] if 4 * j + c < FRAMES else padded
                same = official == in_core
                assert torch.equal(ours[0, c, 1 + j][same], core[0, c, 1 + j][same]), (name, j, c)
