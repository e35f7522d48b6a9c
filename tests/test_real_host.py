"""The pack inside a real ComfyUI: nodes registered, and every API-format workflow runs.

Skipped unless COMFYUI_PATH points to a ComfyUI checkout (v0.3.64 or newer), e.g.
``COMFYUI_PATH=/path/to/ComfyUI python -m pytest tests/test_real_host.py``.
The server runs headless on CPU from a temporary copy (see ``host_harness``).
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
API_TWINS = sorted(WORKFLOWS.glob("*.api.json"))

pytestmark = pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"),
                                reason="set COMFYUI_PATH to a ComfyUI checkout to run the real-host test")

# Media the workflows load from ComfyUI's input folder, and where the test takes them from.
INPUT_MEDIA = {
    "dreamactor_driving.mp4": "pub02_arm_wave.mp4",
    "dreamactor_reference.png": "pub01_walk_in_place.png",
}
# The checkpoint names the animation workflows use; the test puts tiny random checkpoints there.
CHECKPOINTS = {"dit": "diffusion_models/wan2.2_animate_14B_bf16.safetensors", "vae": "vae/wan_2.1_vae.safetensors"}
# Values the workflows keep for artists but that would take too long with the CPU test host.
RUN_OVERRIDES = {
    "DreamActorSampler": {"steps": 2, "frame_count": 9},
    "DreamActorRenderGuidance": {"width": 256, "height": 256},
}


@pytest.fixture(scope="module")
def host(synth_dir):
    with ComfyHost(os.environ["COMFYUI_PATH"]) as server:
        for name, source in INPUT_MEDIA.items():
            shutil.copy(synth_dir / source, server.input / name)
        if any("DreamActorModelLoader" in p.read_text() for p in API_TWINS):
            from sampling_fakes import tiny_checkpoints

            dit, vae = tiny_checkpoints(server.tmp)
            shutil.move(dit, server.models / CHECKPOINTS["dit"])
            shutil.move(vae, server.models / CHECKPOINTS["vae"])
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


def test_frontend_extension_is_served(host):
    import requests

    listed = requests.get(host.url + "/extensions", timeout=30).json()
    ours = [path for path in listed if path.endswith("/dreamactor.js")]
    assert ours, f"dreamactor.js not among {listed}"
    assert "registerExtension" in requests.get(host.url + ours[0], timeout=30).text


@pytest.mark.parametrize("api_path", API_TWINS, ids=[p.name for p in API_TWINS])
def test_ui_workflow_matches_its_api_twin(api_path, object_info):
    ui_path = api_path.with_name(api_path.name.replace(".api.json", ".json"))
    assert ui_path.is_file(), f"{api_path.name} has no UI-format twin"
    converted = ui_to_api(json.loads(ui_path.read_text()), object_info)
    assert converted == json.loads(api_path.read_text())


@pytest.mark.parametrize("api_path", API_TWINS, ids=[p.name for p in API_TWINS])
def test_api_workflow_runs(api_path, host):
    prompt = json.loads(api_path.read_text())
    for node in prompt.values():
        node["inputs"].update(RUN_OVERRIDES.get(node["class_type"], {}))
    entry = host.run(prompt, timeout=400)
    outputs = entry["outputs"]
    saved = [item for out in outputs.values() for key in ("images", "gifs", "videos") for item in out.get(key, [])]
    assert saved, f"{api_path.name} produced no file: {outputs}"
    for item in saved:
        folder = {"output": host.output, "temp": host.base / "temp"}[item["type"]]
        path = folder / item.get("subfolder", "") / item["filename"]
        assert path.is_file() and path.stat().st_size > 1000, path
