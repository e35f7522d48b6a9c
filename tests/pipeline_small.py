"""Load the shared ``conformance/pipeline_small`` runs of the official pipeline and replay them.

Used by ``test_official_pipeline.py`` and ``benchmarks/official.py``. Weights go through the public
loaders (``load_dit`` / ``load_vae``), inputs through ``animate_guidance``.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import torch
from safetensors.torch import load, load_file

from dreamactor_core.model.loader import load_dit, load_vae
from dreamactor_core.sampling.guidance import GuidanceSettings
from dreamactor_core.sampling.pipeline import AnimateSettings, animate_guidance
from fixture_weights import write_full_checkpoint

NAMES = ("unipc_s20_g1_n17_w9_r1", "dpmpp2m_s6_g2.5_n25_w9_r1")


def load_models(conformance_dir: Path, tmp: Path):
    """The fixture DiT and VAE written as checkpoints and read back by the public loaders."""
    # head count and text length cannot be read off the weights: written as checkpoint metadata
    dit_path = write_full_checkpoint(conformance_dir / "animate_dit_small", tmp / "dit.safetensors",
                                     prefix="model.diffusion_model.", metadata={"num_heads": "2", "text_len": "16"})
    vae_path = write_full_checkpoint(conformance_dir / "wan21_vae_small", tmp / "vae.safetensors")
    return load_dit(dit_path).eval(), load_vae(vae_path, dtype=torch.float32)


def load_common(folder: Path) -> dict:
    """Reference, pose and face frames (uint8 numpy) and the stored text / CLIP tensors."""
    inputs = load_file(str(folder / "common.inputs.safetensors"))
    with gzip.open(folder / "common.faces_u8.safetensors.gz") as f:
        inputs["face_u8"] = load(f.read())["face_u8"]
    return {k: v.numpy() if v.dtype == torch.uint8 else v for k, v in inputs.items()}


def config(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text())["config"]


def replay(folder: Path, name: str, models, common: dict, *, text="stored", clip="stored", **overrides):
    """Run configuration ``name`` with default settings (plus ``overrides``); returns (result, float video).

    ``text`` / ``clip`` None leave those inputs out (the pipeline then uses zeros).
    """
    cfg = config(folder, name)
    n = cfg["frames"]
    dit, vae = models
    frames: list[torch.Tensor] = []
    settings = AnimateSettings(**{**dict(steps=cfg["steps"], solver=cfg["solver_project"], shift=cfg["shift"],
                                         seed=cfg["seed"], window=cfg["clip_len"],
                                         guidance=GuidanceSettings(cfg=cfg["guide_scale"])), **overrides})
    result = animate_guidance(common["ref_u8"], common["pose_u8"][:n], common["face_u8"][:n], dit, vae,
                              text=common["context"] if text == "stored" else text,
                              text_null=common["context_null"] if text == "stored" else None,
                              clip_fea=common["clip_fea"] if clip == "stored" else clip,
                              settings=settings, float_sink=frames.append)
    return result, torch.cat(frames)
