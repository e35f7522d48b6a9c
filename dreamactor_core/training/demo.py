"""Recipe of the embedded demo model: a tiny Wan2.1 VAE and DreamActor-M1 DiT trained on synthetic humans.

Every step runs on a CPU in minutes:

1. ``clips``: synthetic-human training clips (``synth_dataset.write_training_clips``) at 64x64, 10 fps
   (a low frame rate so a 17-frame clip spans a large part of a motion).
2. ``motions``: the motion of every clip, extracted once with our MediaPipe extractor (can run in
   several processes while the VAE trains).
3. ``vae``: the Wan2.1 VAE architecture at base width 8, trained as an autoencoder (L1 + L2 + tiny
   KL) on frames and 5-frame clips; its per-channel latent mean/std are measured on the data and
   stored in the file's metadata (``load_vae`` reads them, see ``model/vae.py``).
4. ``dataset``: ``dataset_builder.build_dataset`` with that VAE (guidance renders, reference frames
   by head yaw, latents), reusing the motions of step 2.
5. ``dit``: ``trainer.train`` on the cache: the DreamActor-M1 variant (concat pose, Ref Attn, three
   reference slots) with the face path off; one stage, since stages 2-3 only concern the face path.

    python -m dreamactor_core.training.demo all --work runs/demo --threads 1

Exported files (fp16, official key layouts): ``demo_dit.safetensors``, ``demo_vae.safetensors``.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger("dreamactor.demo")

ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "demo"
DIT_FILE, VAE_FILE = "demo_dit.safetensors", "demo_vae.safetensors"
SIZE, FPS, WINDOW, CLIP_FRAMES = 64, 10.0, 9, 17
VAE_DIM = 8
# DreamActor-M1 variant at toy size, Wan's 1x2x2 patches (a 4x4 token grid per 64x64 frame).
DIT_CONFIG = dict(dim=128, ffn_dim=384, num_heads=2, num_layers=4, text_len=8, patch=(1, 2, 2),
                  pose_mode="concat", in_dim=52, ref_attn=True, num_refs=3, face_every=0, has_clip=False)
# Sampling settings the demo model is meant for (the CLI uses them when no model is given).
DEMO_SAMPLING = dict(width=SIZE, height=SIZE, window=WINDOW, refert=1, steps=12, shift=3.0, solver="euler")


def _clip_paths(clip_dir: Path) -> list[Path]:
    return sorted(Path(clip_dir).glob("synth_*.mp4"))


def make_clips(clip_dir: Path, count: int, seed: int) -> list[Path]:
    """Synthetic training clips (bodies, looks, cameras and motions from ``seed``)."""
    from .synth_dataset import write_training_clips
    from .synth_humans import SynthHumanEngine

    eng = SynthHumanEngine(SIZE, SIZE, fps=FPS)
    return write_training_clips(clip_dir, count, frames=CLIP_FRAMES, size=SIZE, seed=seed, engine=eng,
                                progress=lambda d, n: log.info("clip %d/%d", d, n))


def extract_motions(clip_dir: Path, part: int = 0, parts: int = 1) -> None:
    """Write ``<clip>.motion.json`` for every ``parts``-th clip (run several parts in parallel)."""
    from ..signals.extract import extract_motion
    from ..signals.video_io import read_video
    from ..utils import DreamActorError

    for i, path in enumerate(_clip_paths(clip_dir)):
        out = path.with_suffix(".motion.json")
        if i % parts != part or out.exists():
            continue
        frames, fps = read_video(str(path))
        try:
            out.write_text(extract_motion(frames, fps).to_json())
            log.info("motion %s", path.name)
        except DreamActorError as e:  # the builder meets the same clip again and lists it as skipped
            log.info("motion %s: none (%s)", path.name, e)


# ------------------------------------------------------------------------------------------- VAE
def _load_frames(clip_dir: Path) -> np.ndarray:
    from ..signals.video_io import read_video

    return np.stack([read_video(str(p))[0] for p in _clip_paths(clip_dir)])  # [N, T, H, W, 3]


def _to_video(frames_u8: np.ndarray) -> torch.Tensor:
    """uint8 [B, T, H, W, 3] -> float [B, 3, T, H, W] in [-1, 1]."""
    return torch.from_numpy(frames_u8).float().div(127.5).sub(1.0).permute(0, 4, 1, 2, 3).contiguous()


def _vae_forward(vae, video: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole-clip autoencoder pass with a reparameterised sample; returns (reconstruction, KL)."""
    h = vae.conv1(vae.encoder(video))
    mu, logvar = h[:, :16], h[:, 16:].clamp(-30.0, 20.0)
    z = mu + torch.randn(mu.shape, generator=gen) * torch.exp(0.5 * logvar)
    kl = 0.5 * torch.mean(mu.square() + logvar.exp() - 1.0 - logvar)
    return vae.decoder(vae.conv2(z)), kl


def _crop(video: torch.Tensor, rng: np.random.Generator, size: int | None = 32) -> torch.Tensor:
    if size is None:
        return video
    y, x = (int(v) * 8 for v in rng.integers((video.shape[-1] - size) // 8 + 1, size=2))
    return video[..., y:y + size, x:x + size]


def _init_for_fast_training(vae) -> None:
    """Zero the last conv of every residual block (the net starts shallow and learns fast) and start
    the posterior nearly deterministic (log-variance -10): with unit noise on a still tiny mean the
    decoder would see only noise at first."""
    from ..model.vae_blocks import ResidualBlock

    for m in vae.modules():
        if isinstance(m, ResidualBlock):
            torch.nn.init.zeros_(m.residual[6].weight)
            torch.nn.init.zeros_(m.residual[6].bias)
    with torch.no_grad():
        vae.conv1.weight[16:].zero_()
        vae.conv1.bias[16:].fill_(-10.0)


def train_vae(clip_dir: Path, out_path: Path, steps: int = 300, lr: float = 2e-3, kl_weight: float = 1e-5,
              seed: int = 0, init: Path | None = None, crop: int | None = 32, dim: int = VAE_DIM) -> dict:
    """Train the tiny VAE on the clips (from scratch, or on from the VAE file ``init``), measure its
    latent statistics and save it (fp16)."""
    from ..model.vae import VAEConfig, WanVAE

    torch.manual_seed(seed)
    data = _load_frames(clip_dir)
    vae = WanVAE(VAEConfig(dim=dim))
    _init_for_fast_training(vae)
    if init is not None:
        from safetensors.torch import load_file

        vae.load_state_dict({k: v.float() for k, v in load_file(str(init)).items()})
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    t0, losses = time.perf_counter(), []
    for step in range(steps):
        for g in opt.param_groups:  # short warm-up, then cosine decay
            g["lr"] = lr * min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * step / steps))
        # 32x32 crops (on the 8-pixel latent grid): the net is convolutional, and a crop costs a quarter
        clips = rng.integers(len(data), size=3)
        starts = rng.integers(data.shape[1] - 4, size=3)
        video = _crop(_to_video(np.stack([data[c, s:s + 5] for c, s in zip(clips, starts)])), rng, crop)
        still = _crop(_to_video(data[rng.integers(len(data), size=6), rng.integers(data.shape[1])][:, None]), rng, crop)
        loss = 0.0
        for x in (video, still):
            rec, kl = _vae_forward(vae, x, gen)
            loss = loss + F.l1_loss(rec, x) + F.mse_loss(rec, x) + kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        if (step + 1) % 10 == 0:
            log.info("vae step %d/%d loss %.4f (%.0fs)", step + 1, steps, np.mean(losses[-10:]),
                     time.perf_counter() - t0)
    vae.eval()
    mean, std = latent_stats(vae, data)
    info = {"steps": steps, "seconds": round(time.perf_counter() - t0, 1), "final_loss": float(np.mean(losses[-20:])),
            "clips": int(len(data)), "size": SIZE}
    save_vae(vae, out_path, mean, std, info)
    return info


@torch.no_grad()
def latent_stats(vae, data: np.ndarray, clips: int = 64) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the VAE's raw latent means over 9-frame windows of the data."""
    mus = [vae.encode_raw(_to_video(data[i:i + 1, :WINDOW])) for i in range(min(clips, len(data)))]
    mu = torch.cat(mus, 2)
    mean = mu.mean((0, 2, 3, 4))
    std = mu.std((0, 2, 3, 4)).clamp_min(1e-3)
    return [round(float(v), 5) for v in mean], [round(float(v), 5) for v in std]


def save_vae(vae, path: Path, mean: list[float], std: list[float], info: dict) -> None:
    """Official Wan2.1 VAE key layout in fp16, latent statistics in the metadata."""
    from safetensors.torch import save_file

    sd = {k: v.detach().to(torch.float16).contiguous() for k, v in vae.state_dict().items()}
    meta = {"latent_mean": json.dumps(mean), "latent_std": json.dumps(std), "dreamactor_demo": json.dumps(info)}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(path), metadata=meta)


# --------------------------------------------------------------------------------------- dataset
def build_cache(clip_dir: Path, vae_path: Path, cache_dir: Path) -> dict:
    """``dataset_builder.build_dataset`` on the clips with the demo VAE (motions reused when saved)."""
    from ..model.loader import load_vae
    from .dataset_builder import BuildSettings, build_dataset

    vae = load_vae(vae_path)
    summary = build_dataset(clip_dir, cache_dir, vae, BuildSettings(base=SIZE, window=WINDOW, stride=8),
                            progress=lambda d, n: log.info("cached %d/%d", d, n))
    log.info("%d windows, skipped %d", summary["windows"], len(summary["skipped"]))
    return summary


# ------------------------------------------------------------------------------------------- DiT
def dit_train_config(cache_dir: Path, out_dir: Path, steps: int, lr: float = 1e-3, batch: int = 4):
    """One stage over every parameter (the face path is off, so stages 2-3 have nothing to train)."""
    from .config import StageConfig, TrainConfig

    stage = StageConfig("body_head", ["*"], steps=steps, lr=lr, warmup=30, use_face=False)
    return TrainConfig(model=dict(DIT_CONFIG), data=str(cache_dir), stages=[stage], batch_size=batch, seed=0,
                       out_dir=str(out_dir), checkpoint_every=100, log_every=20, shift=DEMO_SAMPLING["shift"],
                       grad_clip=1.0)


def train_dit(cache_dir: Path, out_dir: Path, steps: int, export: Path, lr: float = 1e-3, batch: int = 4,
              ranks: int = 2) -> dict:
    """Train (or resume) the demo DiT on the cache and export it in fp16 with its card in the metadata.

    ``ranks`` > 1 runs the same trainer under torchrun (gloo, FSDP), each rank taking
    ``batch / ranks`` samples of every global batch: on a shared CPU that is the way to
    use more than one core (one thread per process avoids OpenMP spin-waiting).
    """
    import os
    import subprocess

    if batch % ranks:
        raise ValueError(f"batch {batch} must be a multiple of ranks {ranks}")
    cfg = dit_train_config(cache_dir, out_dir, steps, lr, batch // ranks)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(cfg.to_json())
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(ranks),
           "-m", "dreamactor_core.training", "train", "--config", str(out_dir / "config.json")]
    t0 = time.perf_counter()
    with open(out_dir / "train.log", "a") as logf:  # the trainer logs "step N/M stage S loss L" lines here
        code = subprocess.run(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT).returncode
    if code:
        raise RuntimeError(f"training failed, see {out_dir / 'train.log'}")
    return export_trained(out_dir, export, extra={"ranks": ranks, "seconds_last_run": round(time.perf_counter() - t0, 1)})


def export_trained(out_dir: Path, export: Path, extra: dict | None = None) -> dict:
    """Export the finished run (``model.safetensors``) or, for a run stopped early, its latest checkpoint."""
    from safetensors.torch import load_file

    from ..model.config import ModelConfig
    from ..model.dit import AnimateDiT
    from .config import TrainConfig
    from .state_io import latest_checkpoint

    cfg = TrainConfig.from_json(out_dir / "config.json")
    final = out_dir / "model.safetensors"
    if final.is_file():
        sd, steps = load_file(str(final)), cfg.total_steps
    else:
        ckpt = latest_checkpoint(out_dir)
        if ckpt is None:
            raise FileNotFoundError(f"{out_dir}: no checkpoint to export")
        sd = {k.split("::", 1)[1]: v for k, v in load_file(str(ckpt)).items() if k.startswith("model::")}
        steps = int(ckpt.stem.split("_")[1])
    model = AnimateDiT(ModelConfig(**DIT_CONFIG))
    model.load_state_dict(sd)
    losses = logged_losses(out_dir / "train.log")
    info = {"steps": steps, "batch_per_rank": cfg.batch_size, "lr": cfg.stages[0].lr,
            "windows": _count_windows(Path(cfg.data)), "logged_losses": losses,
            "sampling": DEMO_SAMPLING, "fps": FPS, **(extra or {})}
    export_dit(model, export, info)
    return info


def logged_losses(log_file: Path) -> dict:
    """{step: loss} from the trainer's log lines (logged every ``log_every`` steps)."""
    import re

    if not log_file.is_file():
        return {}
    found = re.findall(r"step (\d+)/\d+ stage \S+ loss ([0-9.eE+-]+)", log_file.read_text())
    return {int(a): round(float(b), 5) for a, b in found}


def _count_windows(cache_dir: Path) -> int:
    return int(json.loads((Path(cache_dir) / "index.json").read_text())["windows"])


def export_dit(model, path: Path, info: dict) -> None:
    """Official key layout, fp16, with the demo card (training facts, sampling settings) as metadata."""
    from safetensors.torch import save_file

    sd = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
          if not k.endswith(".kernel")}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(path), metadata={"dreamactor_demo": json.dumps(info), "num_refs": str(DIT_CONFIG["num_refs"]),
                                       "text_len": str(DIT_CONFIG["text_len"])})


def demo_paths(asset_dir: Path = ASSET_DIR) -> tuple[Path, Path]:
    """(DiT, VAE) files of the embedded demo model."""
    return asset_dir / DIT_FILE, asset_dir / VAE_FILE


def demo_card(path: Path) -> dict:
    """The ``dreamactor_demo`` metadata of a demo checkpoint ({} for other files)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("dreamactor_demo", "{}"))


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(prog="python -m dreamactor_core.training.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["clips", "motions", "vae", "dataset", "dit", "all"])
    p.add_argument("--work", type=Path, required=True, help="folder for clips, cache and training state")
    p.add_argument("--out", type=Path, default=ASSET_DIR, help="where the two demo files are written")
    p.add_argument("--clips", type=int, default=180)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--vae-steps", type=int, default=300)
    p.add_argument("--dit-steps", type=int, default=1500)
    p.add_argument("--part", type=int, nargs=2, default=(0, 1), metavar=("I", "N"), help="motions: part I of N")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    clips, cache, vae = args.work / "clips", args.work / "cache", args.out / VAE_FILE
    steps = ["clips", "motions", "vae", "dataset", "dit"] if args.step == "all" else [args.step]
    for step in steps:
        if step == "clips":
            make_clips(clips, args.clips, args.seed)
        elif step == "motions":
            extract_motions(clips, *args.part)
        elif step == "vae":
            print(json.dumps(train_vae(clips, vae, steps=args.vae_steps)))
        elif step == "dataset":
            build_cache(clips, vae, cache)
        else:
            print(json.dumps(train_dit(cache, args.work / "dit", args.dit_steps, args.out / DIT_FILE)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
