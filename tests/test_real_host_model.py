"""One MODEL socket in a real ComfyUI: stock and pack loaders, stock LoRAs, patches, the memory manager.

Skipped unless COMFYUI_PATH points to a ComfyUI checkout (see ``test_real_host``). The
checkpoints are tiny random Wan2.2-Animate DiTs that stock Load Diffusion Model reads
(``host_models.stock_dit``, float32 here so a merged delta is exact), and LoRAs the test
writes in each key format with the same delta merged into a checkpoint by hand
(``host_loras``). Latents are read back from stock SaveLatent files.
"""
from __future__ import annotations

import json
import os
import re
import time

import pytest
import torch

from host_harness import ComfyHost, HostError
from host_loras import FORMATS, write_lora_and_merged

pytestmark = pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"),
                                reason="set COMFYUI_PATH to a ComfyUI checkout to run the real-host test")

BASE = "animate_tiny_fp32.safetensors"
VAE = "wan_2.1_vae.safetensors"
STRENGTH = 0.7
REFERENCE = "model_test_reference.png"


@pytest.fixture(scope="module")
def host():
    from host_models import stock_dit, stock_vae

    with ComfyHost(os.environ["COMFYUI_PATH"]) as server:
        models = server.models
        stock_dit(models / "diffusion_models" / BASE, dtype=torch.float32)
        stock_vae(models / "vae" / VAE)
        for i, fmt in enumerate(FORMATS):
            write_lora_and_merged(models / "diffusion_models" / BASE, fmt, models / "loras" / f"tiny_{fmt}.safetensors",
                                  models / "diffusion_models" / f"merged_{fmt}.safetensors", strength=STRENGTH, seed=i)
        from PIL import Image

        g = torch.Generator().manual_seed(0)
        pixels = (torch.rand(32, 32, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(server.input / REFERENCE)
        yield server


@pytest.fixture(scope="module")
def sampler_widgets(host):
    """The Sampler's widget defaults from /object_info, cut down for the CPU host."""
    info = host.object_info()["DreamActorSampler"]["input"]
    widgets = {name: spec[1]["default"] for section in ("required", "optional")
               for name, spec in info.get(section, {}).items() if len(spec) > 1 and "default" in spec[1]}
    widgets.update(steps=2, solver="euler", cfg=1.0, frame_count=5, window=5, motion_frames=1, seed=1, width=0,
                   height=0)
    return widgets


SOLVER_INPUTS = ("steps", "solver", "shift", "cfg")  # DreamActor Solver Settings
WINDOW_INPUTS = ("window", "motion_frames", "color_match")  # DreamActor Window Settings


class Graph:
    """An API-format prompt built node by node."""

    def __init__(self, widgets: dict):
        self.nodes: dict[str, dict] = {}
        self.widgets = widgets
        self.add("LoadImage", "img", image=REFERENCE)
        self.add("RepeatImageBatch", "guide", image=["img", 0], amount=5)
        self.add("VAELoader", "vae", vae_name=VAE)

    def add(self, kind: str, node_id: str, **inputs) -> list:
        self.nodes[node_id] = {"class_type": kind, "inputs": inputs}
        return [node_id, 0]

    def sample(self, model: list, name: str, faces: bool = False, **widgets) -> list:
        """Sampler on ``model`` (with face crops: the motion encoder runs at 512 px, slow on a CPU); its latent
        saved under ``name``."""
        inputs = dict(self.widgets, **widgets)
        # solver and window choices live on their own settings nodes, wired into the Sampler
        solver = {k: inputs.pop(k) for k in SOLVER_INPUTS if k in inputs}
        windows = {k: inputs.pop(k) for k in WINDOW_INPUTS if k in inputs}
        inputs["solver_settings"] = self.add("DreamActorSolverSettings", f"solver_{name}", **{"shift": 5.0, **solver})
        inputs["window_settings"] = self.add("DreamActorWindowSettings", f"window_{name}",
                                             **{"color_match": 0.0, **windows})
        if faces:
            inputs["face_crops"] = ["guide", 0]
        latent = self.add("DreamActorSampler", f"s_{name}", model=model, vae=["vae", 0], reference=["img", 0],
                          guidance=["guide", 0], **inputs)
        self.add("SaveLatent", f"save_{name}", samples=latent, filename_prefix=f"latents/{name}")
        return latent


def _latents(host: ComfyHost, entry: dict) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    out = {}
    for node_id, result in entry["outputs"].items():
        for item in result.get("latents", []):
            path = host.output / item.get("subfolder", "") / item["filename"]
            out[node_id[len("save_"):]] = load_file(str(path))["latent_tensor"]
    return out


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


def test_stock_and_pack_models_with_stock_loras(host, sampler_widgets):
    """UNETLoader -> LoraLoaderModelOnly (each key format) -> Sampler -> stock VAEDecode -> SaveVideo runs;
    each LoRA gives the latent of the checkpoint with the delta merged by hand; the pack's loader gives the
    stock loader's latent, with and without a LoRA."""
    import imageio.v3 as iio

    g = Graph(sampler_widgets)
    stock = g.add("UNETLoader", "unet", unet_name=BASE, weight_dtype="default")
    pack = g.add("DreamActorModelLoader", "pack", model_name=BASE, weight_dtype="default", compute_dtype="fp32",
                 block_swap=2, attention="sdpa", reference_slots=0, num_heads=0)
    g.sample(stock, "stock", faces=True)
    g.sample(pack, "pack", faces=True)
    g.sample(stock, "stock_nf")
    for fmt in FORMATS:
        lora_name = f"tiny_{fmt}.safetensors"
        g.sample(g.add("LoraLoaderModelOnly", f"lora_{fmt}", model=stock, lora_name=lora_name,
                       strength_model=STRENGTH), f"stock_{fmt}")
        g.sample(g.add("LoraLoaderModelOnly", f"plora_{fmt}", model=pack, lora_name=lora_name,
                       strength_model=STRENGTH), f"pack_{fmt}")
        g.sample(g.add("UNETLoader", f"merged_{fmt}", unet_name=f"merged_{fmt}.safetensors",
                       weight_dtype="default"), f"merged_{fmt}")
    frames = g.add("VAEDecode", "decode", samples=["s_stock_peft", 0], vae=["vae", 0])
    video = g.add("CreateVideo", "video", images=frames, fps=25.0)
    g.add("SaveVideo", "save_video", video=video, filename_prefix="video/stock_lora", format="auto", codec="auto")
    entry = host.run(g.nodes, timeout=1500)
    lat = _latents(host, entry)
    saved = [item for key in ("images", "gifs", "videos") for item in entry["outputs"]["save_video"].get(key, [])]
    clip = iio.imread(host.output / saved[0].get("subfolder", "") / saved[0]["filename"], plugin="pyav")
    assert clip.shape[0] == 5, clip.shape

    report = {"pack vs stock": _max_diff(lat["pack"], lat["stock"])}
    for fmt in FORMATS:
        report[f"{fmt}: LoRA vs merged"] = _max_diff(lat[f"stock_{fmt}"], lat[f"merged_{fmt}"])
        report[f"{fmt}: pack LoRA vs merged"] = _max_diff(lat[f"pack_{fmt}"], lat[f"merged_{fmt}"])
        report[f"{fmt}: LoRA effect"] = _max_diff(lat[f"stock_{fmt}"], lat["stock_nf"])
    print(json.dumps(report, indent=1))
    scale = float(lat["stock_nf"].abs().max())
    # float32 end to end: differences are rounding (measured ~5e-6 of a latent peaking near 10), while
    # each LoRA moves the latent by 0.06-0.16
    assert report["pack vs stock"] < 1e-5 * scale, report
    for fmt in FORMATS:
        assert report[f"{fmt}: LoRA effect"] > 1e-3 * scale, report  # the LoRA changed the video
        assert report[f"{fmt}: LoRA vs merged"] < 1e-5 * scale, report
        assert report[f"{fmt}: pack LoRA vs merged"] < 1e-5 * scale, report


def test_model_sampling_shift_takes_effect(host, sampler_widgets):
    """ModelSamplingSD3's shift replaces the Sampler's shift widget, on the stock and the pack's MODEL."""
    g = Graph(sampler_widgets)
    stock = g.add("UNETLoader", "unet", unet_name=BASE, weight_dtype="default")
    pack = g.add("DreamActorModelLoader", "pack", model_name=BASE, weight_dtype="default", compute_dtype="fp32",
                 block_swap=0, attention="sdpa", reference_slots=0, num_heads=0)
    for name, model in (("stock", stock), ("pack", pack)):
        patched = g.add("ModelSamplingSD3", f"ms_{name}", model=model, shift=2.0)
        g.sample(patched, f"{name}_patched", shift=5.0)
        g.sample(model, f"{name}_widget2", shift=2.0)
        g.sample(model, f"{name}_widget5", shift=5.0)
    lat = _latents(host, host.run(g.nodes, timeout=600))
    for name in ("stock", "pack"):
        assert _max_diff(lat[f"{name}_patched"], lat[f"{name}_widget2"]) == 0.0
        assert _max_diff(lat[f"{name}_patched"], lat[f"{name}_widget5"]) > 1e-3


@pytest.mark.parametrize("loader,patch,inputs,named", [
    ("UNETLoader", "RescaleCFG", {"multiplier": 0.7}, "sampler_cfg_function"),
    ("DreamActorModelLoader", "TomePatchModel", {"ratio": 0.3}, "patches"),
])
def test_unapplied_patches_are_refused_by_name(host, sampler_widgets, loader, patch, inputs, named):
    g = Graph(sampler_widgets)
    if loader == "UNETLoader":
        model = g.add(loader, "m", unet_name=BASE, weight_dtype="default")
    else:
        model = g.add(loader, "m", model_name=BASE, weight_dtype="default", compute_dtype="fp32", block_swap=0,
                      attention="sdpa", reference_slots=0, num_heads=0)
    g.sample(g.add(patch, "patch", model=model, **inputs), "refused")
    with pytest.raises(HostError) as err:
        host.run(g.nodes, timeout=300)
    assert named in str(err.value) and "DreamActor Sampler, input 'model'" in str(err.value), str(err.value)[:2000]


def _loads(host: ComfyHost, what: str) -> int:
    return len(re.findall(rf"Requested to load {what}\b", host.log_tail(10 ** 9)))


def test_free_unloads_pack_model_and_vae_and_next_run_loads_them(host, sampler_widgets):
    """POST /free with unload_models unloads the pack's MODEL and VAE; the next run loads both again."""
    import requests

    def run(seed: int) -> None:
        g = Graph(sampler_widgets)
        g.nodes["vae"] = {"class_type": "DreamActorVAELoader", "inputs": {"vae_name": VAE, "dtype": "fp32"}}
        pack = g.add("DreamActorModelLoader", "pack", model_name=BASE, weight_dtype="default",
                     compute_dtype="fp32", block_swap=1, attention="sdpa", reference_slots=0, num_heads=0)
        g.sample(pack, f"free_{seed}", seed=seed)
        host.run(g.nodes, timeout=300)

    run(11)
    before = _loads(host, "DreamActorComfyModel"), _loads(host, "WanVAE")
    assert min(before) >= 1, host.log_tail(3000)
    run(12)  # still loaded: nothing is loaded again
    assert (_loads(host, "DreamActorComfyModel"), _loads(host, "WanVAE")) == before
    # unload_models only: free_memory would also drop the cached loader outputs, and a fresh loader loads anyway
    # The host's worker acts on the flag when it is woken while waiting for a prompt; a wake that comes while it is
    # still busy after the last prompt (its garbage collection) is lost, and it would unload only after the next
    # prompt. The flag holds until it is acted on, so asking again each second wakes the worker once it waits.
    for _ in range(5):
        requests.post(host.url + "/free", json={"unload_models": True}, timeout=30).raise_for_status()
        time.sleep(1)
    run(13)
    assert (_loads(host, "DreamActorComfyModel"), _loads(host, "WanVAE")) == (before[0] + 1, before[1] + 1), \
        host.log_tail(3000)
