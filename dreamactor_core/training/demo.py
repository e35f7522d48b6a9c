r"""Recipe of the embedded demo model: a tiny Wan2.1 VAE and DreamActor-M1 DiT trained on synthetic humans.

Every step runs on a 2-core CPU in minutes to tens of minutes (times in docs/DEMO_MODEL.md):

1. ``clips``: synthetic-human training clips (``synth_dataset.write_training_clips``) at 128x128, 10 fps
   (a low frame rate so a 17-frame clip spans a large part of a motion).
2. ``motions``: the motion of every clip, extracted once with our MediaPipe extractor (can run in
   several processes while the VAE trains).
3. ``vae``: the Wan2.1 VAE architecture at base width 8, started as a working autoencoder (identity
   signal paths, frame-by-frame time layers) and trained (L1 + L2 + tiny KL) on crops of frames and
   5-frame clips; its per-channel latent mean/std are measured on the data and stored in the
   file's metadata (``load_vae`` reads them, see ``model/vae.py``).
4. ``dataset``: ``dataset_builder.build_dataset`` with that VAE (guidance renders, reference frames
   by head yaw, latents), reusing the motions of step 2.
5. ``dit``: ``trainer.train`` on the cache: the DreamActor-M1 variant (concat pose, Ref Attn, three
   reference slots) with the face path off; one stage, since stages 2-3 only concern the face path.

    python -m dreamactor_core.training.demo all --work runs/demo   # v2: every step from scratch

v3 goes on from v2 with a second DiT run and a decoder-only VAE fine-tune with an SSIM term (the
encoder, and so every cached latent, stays as it was)::

    demo="python -m dreamactor_core.training.demo --work runs/demo"; D=dreamactor_core/assets/demo
    $demo dit --dit-run dit3 --dit-init $D/demo_dit.safetensors --dit-steps 6000 --dit-lr 5e-4 --dit-batch 8
    $demo vae --vae-init $D/demo_vae.safetensors --vae-decoder-only --vae-ssim 1 --vae-steps 800 --vae-lr 3e-4
    $demo vae --vae-init $D/demo_vae.safetensors --vae-decoder-only --vae-ssim 2 --vae-steps 2400 --vae-lr 3e-4

and the shipped DiT (v4) doubles the clips (the cache is rebuilt over all 640 with that VAE, whose
encoder and latent statistics are v2's) and goes on from v3::

    $demo clips --seeds 3 4 && $demo motions && $demo dataset
    $demo dit --dit-run dit4 --dit-init $D/demo_dit.safetensors --dit-steps 4000 --dit-lr 3e-4 --dit-batch 8

The shipped VAE (v4) is v3's with its decoder trained once more on all 640 clips, with more moving clips
per step (the encoder, and so every cached latent, is still v2's)::

    $demo vae --vae-init $D/demo_vae.safetensors --vae-decoder-only --vae-ssim 2 --vae-steps 1600 \
        --vae-lr 3e-4 --vae-clips-per-step 4 --threads 2

Continuations of the DiT from v4 scored lower and were not shipped (``ref_fill=True`` in ``DIT_CONFIG``;
``--dit-single-ref``; ``--dit-photo-ref`` after ``$demo photos`` and a rebuilt cache, which gives
clips written before the engine made reference photos their rest-pose photo); docs/DEMO_MODEL.md
has their numbers.

Exported files (fp16, official key layouts): ``demo_dit.safetensors``, ``demo_vae.safetensors``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger("dreamactor.demo")

ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "demo"
DIT_FILE, VAE_FILE = "demo_dit.safetensors", "demo_vae.safetensors"
SIZE, FPS, WINDOW, CLIP_FRAMES = 128, 10.0, 9, 17
VAE_DIM = 8
# DreamActor-M1 variant at toy size, Wan's 1x2x2 patches (an 8x8 token grid per 128x128 frame).
DIT_CONFIG = dict(dim=128, ffn_dim=384, num_heads=2, num_layers=4, text_len=8, patch=(1, 2, 2),
                  pose_mode="concat", in_dim=52, ref_attn=True, num_refs=3, face_every=0, has_clip=False,
                  ref_fill=False)
# Sampling settings the demo model is meant for (the CLI uses them when no model is given).
# reference_detail: the still synthetic cameras keep what the reference shows unmoved (see docs/DEMO_MODEL.md).
DEMO_SAMPLING = dict(width=SIZE, height=SIZE, window=WINDOW, refert=1, steps=12, shift=3.0, solver="euler",
                     reference_detail=1.0)


def _clip_paths(clip_dir: Path) -> list[Path]:
    return sorted(Path(clip_dir).glob("synth_*.mp4"))


def make_clips(clip_dir: Path, count: int, seed: int) -> list[Path]:
    """Synthetic training clips (bodies, looks, cameras and motions from ``seed``)."""
    from .synth_dataset import write_training_clips
    from .synth_humans import SynthHumanEngine

    eng = SynthHumanEngine(SIZE, SIZE, fps=FPS)
    return write_training_clips(clip_dir, count, frames=CLIP_FRAMES, size=SIZE, seed=seed, engine=eng,
                                progress=lambda d, n: log.info("clip %d/%d", d, n))


def add_photos(clip_dir: Path) -> int:
    """Write the rest-pose reference photo of every clip that has none (see ``synth_dataset``)."""
    from .synth_dataset import write_reference_photos
    from .synth_humans import SynthHumanEngine

    return write_reference_photos(clip_dir, SynthHumanEngine(SIZE, SIZE, fps=FPS))


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


def train_vae(clip_dir: Path, out_path: Path, **kwargs) -> dict:
    """``vae_training.train_vae`` on every clip of ``clip_dir`` (the last four held out)."""
    from .vae_training import train_vae as train

    return train(_load_frames(clip_dir), out_path, window=WINDOW, **kwargs)


# --------------------------------------------------------------------------------------- dataset
def build_cache(clip_dir: Path, vae_path: Path, cache_dir: Path, device: str | torch.device = "cpu") -> dict:
    """``dataset_builder.build_dataset`` on the clips with the demo VAE (motions reused when saved)."""
    from ..model.loader import load_vae
    from .dataset_builder import BuildSettings, build_dataset

    vae = load_vae(vae_path).to(device)
    summary = build_dataset(clip_dir, cache_dir, vae, BuildSettings(base=SIZE, window=WINDOW, stride=8),
                            progress=lambda d, n: log.info("cached %d/%d", d, n))
    log.info("%d windows, skipped %d", summary["windows"], len(summary["skipped"]))
    return summary


# ------------------------------------------------------------------------------------------- DiT
def dit_train_config(cache_dir: Path, out_dir: Path, steps: int, lr: float = 1e-3, batch: int = 4,
                     init: Path | None = None, single_ref: float = 0.0, photo_ref: float = 0.0,
                     model: dict | None = None):
    """One stage over every parameter (the face path is off, so stages 2-3 have nothing to train);
    ``init`` goes on from an earlier demo DiT instead of a random start; ``single_ref`` and
    ``photo_ref``: see ``TrainConfig``; ``model`` overrides entries of ``DIT_CONFIG`` (a larger
    demo on a GPU, e.g. ``{"dim": 256, "num_layers": 8, "patch": [1, 1, 1]}``)."""
    from ..model.config import ModelConfig
    from .config import StageConfig, TrainConfig

    unknown = sorted(set(model or {}) - {f.name for f in dataclasses.fields(ModelConfig)})
    if unknown:
        raise ValueError(f"--dit-config: unknown model settings {unknown}; see model/config.py's ModelConfig")
    stage = StageConfig("body_head", ["*"], steps=steps, lr=lr, warmup=50, use_face=False, decay="cosine")
    return TrainConfig(model={**DIT_CONFIG, **(model or {})}, init_from=None if init is None else str(init), data=str(cache_dir),
                       stages=[stage], batch_size=batch, seed=0, single_ref=single_ref, photo_ref=photo_ref,
                       out_dir=str(out_dir), checkpoint_every=100, log_every=20, shift=DEMO_SAMPLING["shift"],
                       grad_clip=1.0)


def train_dit(cache_dir: Path, out_dir: Path, steps: int, export: Path, lr: float = 1e-3, batch: int = 4,
              ranks: int = 2, init: Path | None = None, single_ref: float = 0.0, photo_ref: float = 0.0,
              model: dict | None = None) -> dict:
    """Train (or resume) the demo DiT on the cache and export it in fp16 with its card in the metadata.

    ``ranks`` > 1 runs the same trainer under torchrun (FSDP; gloo on CPUs, NCCL with one GPU
    per rank), each rank taking ``batch / ranks`` samples of every global batch: on a shared
    CPU that is the way to use more than one core (one thread per process avoids OpenMP
    spin-waiting). ``model``: see :func:`dit_train_config`.
    """
    import os
    import subprocess

    if batch % ranks:
        raise ValueError(f"batch {batch} must be a multiple of ranks {ranks}")
    cfg = dit_train_config(cache_dir, out_dir, steps, lr, batch // ranks, init, single_ref, photo_ref, model)
    card = demo_card(init) if init is not None else {}
    # the card of the run this one goes on from (read now: the export may overwrite that file)
    history = [*card.pop("history", []), card] if card else []
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
    extra = {"ranks": ranks, "seconds_last_run": round(time.perf_counter() - t0, 1)}
    return export_trained(out_dir, export, extra={**extra, "history": history} if history else extra)


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
    model = AnimateDiT(ModelConfig(**cfg.model))  # the run's own settings (DIT_CONFIG or a larger one)
    model.load_state_dict(sd)
    losses = logged_losses(out_dir / "train.log")
    info = {"steps": steps, "batch_per_rank": cfg.batch_size, "lr": cfg.stages[0].lr, "init_from": cfg.init_from and Path(cfg.init_from).name,
            "windows": _count_windows(Path(cfg.data)), "logged_losses": losses, "single_ref": cfg.single_ref,
            "photo_ref": cfg.photo_ref, "sampling": DEMO_SAMPLING, "fps": FPS, **(extra or {})}
    export_dit(model, export, info)
    return info


def logged_losses(log_file: Path) -> dict:
    """{step: loss} from the trainer's log lines (logged every ``log_every`` steps): the mean over
    the steps since the previous line where the line has it, else that step's own loss."""
    import re

    if not log_file.is_file():
        return {}
    found = re.findall(r"step (\d+)/\d+ stage \S+ loss ([0-9.eE+-]+)(?: mean ([0-9.eE+-]+))?", log_file.read_text())
    return {int(a): round(float(c or b), 5) for a, b, c in found}


def _count_windows(cache_dir: Path) -> int:
    return int(json.loads((Path(cache_dir) / "index.json").read_text())["windows"])


def export_dit(model, path: Path, info: dict) -> None:
    """Official key layout, fp16, with the demo card (training facts, sampling settings) as metadata."""
    from safetensors.torch import save_file

    sd = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
          if not k.endswith(".kernel")}
    path.parent.mkdir(parents=True, exist_ok=True)
    from ..model.loader import config_metadata

    save_file(sd, str(path), metadata={"dreamactor_demo": json.dumps(info), **config_metadata(model.config)})


def demo_paths(asset_dir: Path = ASSET_DIR) -> tuple[Path, Path]:
    """(DiT, VAE) files of the embedded demo model."""
    return asset_dir / DIT_FILE, asset_dir / VAE_FILE


def demo_card(path: Path) -> dict:
    """The ``dreamactor_demo`` metadata of a demo checkpoint ({} for other files)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("dreamactor_demo", "{}"))


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(prog="python -m dreamactor_core.training.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["clips", "photos", "motions", "vae", "dataset", "dit", "all"])
    p.add_argument("--work", type=Path, required=True, help="folder for clips, cache and training state")
    p.add_argument("--out", type=Path, default=ASSET_DIR, help="where the two demo files are written")
    p.add_argument("--clips", type=int, default=160, help="clips per seed")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="clips: one batch of clips per seed")
    p.add_argument("--vae-steps", type=int, default=2000)
    p.add_argument("--vae-dim", type=int, default=VAE_DIM, help="VAE base width (Wan2.1 uses 96)")
    p.add_argument("--vae-lr", type=float, default=1e-3)
    p.add_argument("--vae-init", type=Path, default=None, help="go on from this demo VAE file")
    p.add_argument("--vae-decoder-only", action="store_true",
                   help="train the decoder alone (latents, and a DiT trained on them, stay valid)")
    p.add_argument("--vae-ssim", type=float, default=0.0, help="weight of the (1 - SSIM) loss term")
    p.add_argument("--vae-clips-per-step", type=int, default=2, help="5-frame clips per step (besides 8 stills)")
    p.add_argument("--dit-steps", type=int, default=6000)
    p.add_argument("--dit-lr", type=float, default=1e-3)
    p.add_argument("--dit-batch", type=int, default=4, help="global batch (split over the 2 ranks)")
    p.add_argument("--dit-config", type=json.loads, default=None,
                   help='JSON overrides of the DiT settings, e.g. \'{"dim": 256, "num_layers": 8}\' (a new run)')
    p.add_argument("--ranks", type=int, default=2, help="dit: torchrun processes (CPU: one core each; GPU: one GPU each)")
    p.add_argument("--device", default="auto", help="vae, dataset: where the VAE runs (auto: the GPU when there is one)")
    p.add_argument("--dit-init", type=Path, default=None, help="go on from this demo DiT file")
    p.add_argument("--dit-run", default="dit", help="run folder under --work (a new one for a continuation)")
    p.add_argument("--dit-single-ref", type=float, default=0.0,
                   help="share of training samples given one reference in every slot, as at inference")
    p.add_argument("--dit-photo-ref", type=float, default=0.0,
                   help="share of training samples given the clip's reference photo (rest pose) in every slot")
    p.add_argument("--part", type=int, nargs=2, default=(0, 1), metavar=("I", "N"), help="motions: part I of N")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    clips, cache, vae = args.work / "clips", args.work / "cache", args.out / VAE_FILE
    steps = ["clips", "motions", "vae", "dataset", "dit"] if args.step == "all" else [args.step]
    for step in steps:
        if step == "clips":
            for seed in args.seeds:
                make_clips(clips, args.clips, seed)
        elif step == "photos":  # clips written before the engine wrote reference photos
            log.info("%d reference photos written", add_photos(clips))
        elif step == "motions":
            extract_motions(clips, *args.part)
        elif step == "vae":
            print(json.dumps(train_vae(clips, vae, steps=args.vae_steps, lr=args.vae_lr, dim=args.vae_dim,
                                       init=args.vae_init, per_frame_time_init=args.vae_init is None,
                                       train_encoder=not args.vae_decoder_only, ssim_weight=args.vae_ssim,
                                       clips_per_step=args.vae_clips_per_step, device=_device(args.device))))
        elif step == "dataset":
            build_cache(clips, vae, cache, _device(args.device))
        else:
            print(json.dumps(train_dit(cache, args.work / args.dit_run, args.dit_steps, args.out / DIT_FILE, lr=args.dit_lr,
                                       batch=args.dit_batch, init=args.dit_init, single_ref=args.dit_single_ref,
                                       photo_ref=args.dit_photo_ref, ranks=args.ranks, model=args.dit_config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
