"""Training command line.

    python -m dreamactor_core.training synth --out DIR --count N          # synthetic training videos
    python -m dreamactor_core.training build-dataset --videos DIR --vae VAE --out CACHE
    torchrun --nproc_per_node 2 -m dreamactor_core.training train --config CFG.json
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from ..utils import DreamActorError


def _train(args) -> int:
    from .config import TrainConfig
    from .dataset import CachedClips, RandomClips
    from .trainer import train

    cfg = TrainConfig.from_json(args.config)
    if args.out:
        cfg.out_dir = args.out
    if args.random_data:
        shape = json.loads(args.random_data)
        data = RandomClips(**shape, seed=cfg.seed)
    else:
        if not cfg.data:
            raise DreamActorError("training config: set 'data' to a dataset folder (or use --random-data)")
        data = CachedClips(cfg.data, seed=cfg.seed, text_len=cfg.model.get("text_len", 512),
                           max_refs=cfg.model.get("num_refs"), ref_fill=bool(cfg.model.get("ref_fill", False)),
                           single_ref=cfg.single_ref, photo_ref=cfg.photo_ref)
    result = train(cfg, data, max_steps=args.max_steps)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if args.dump_weights:
        # every rank writes its own gathered copy, so a test can check the ranks agree
        from safetensors.torch import save_file

        sd = {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().cpu().contiguous()
              for k, v in result.model.state_dict().items()}
        save_file(sd, str(Path(args.dump_weights) / f"rank{rank}.safetensors"))
    if rank == 0:
        print(json.dumps({"steps": result.steps_done, "losses": result.losses, "seconds": result.seconds,
                          "exported": str(result.exported) if result.exported else None}))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


def _synth(args) -> int:
    from .synth_dataset import write_training_clips

    paths = write_training_clips(args.out, args.count, frames=args.frames, size=args.size, seed=args.seed,
                                 progress=lambda d, t: print(f"\r{d}/{t}", end="", file=sys.stderr))
    print(f"\nwrote {len(paths)} clips to {args.out}")
    return 0


def _build(args) -> int:
    from ..model.loader import load_vae
    from .dataset_builder import BuildSettings, build_dataset

    vae = load_vae(args.vae)
    summary = build_dataset(args.videos, args.out, vae, BuildSettings(base=args.base, window=args.window),
                            progress=lambda d, t: print(f"\r{d}/{t}", end="", file=sys.stderr))
    print(f"\n{summary['windows']} windows from {summary['videos']} videos; skipped {len(summary['skipped'])}")
    for s in summary["skipped"]:
        print(f"  skipped {s['video']}: {s['reason']}")
    return 0


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    p = argparse.ArgumentParser(prog="python -m dreamactor_core.training")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="run the three training stages (torchrun for several processes)")
    t.add_argument("--config", required=True)
    t.add_argument("--out", default=None)
    t.add_argument("--max-steps", type=int, default=None)
    t.add_argument("--random-data", default=None, help="JSON kwargs of RandomClips (tests, benchmarks)")
    t.add_argument("--dump-weights", default=None, help="folder: each rank writes its full weights")
    s = sub.add_parser("synth", help="write synthetic-human training clips")
    s.add_argument("--out", required=True)
    s.add_argument("--count", type=int, default=100)
    s.add_argument("--frames", type=int, default=17)
    s.add_argument("--size", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    b = sub.add_parser("build-dataset", help="cache motion, renders and latents of a video folder")
    b.add_argument("--videos", required=True)
    b.add_argument("--vae", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--base", type=int, default=64)
    b.add_argument("--window", type=int, default=9)
    args = p.parse_args(argv)
    try:
        return {"train": _train, "synth": _synth, "build-dataset": _build}[args.cmd](args)
    except DreamActorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
