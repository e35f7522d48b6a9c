"""How far each departure from the official Wan2.2-Animate pipeline moves the video (CPU, float32).

    DREAMACTOR_SHARED=../shared python benchmarks/official.py [--quick]

Replays the shared ``conformance/pipeline_small`` runs (small fixture DiT and VAE, see that
folder's README) through ``animate_guidance`` and compares the float frames with the official
``video_f32``. Printed per case: max abs difference (frames in [-1, 1]), PSNR on [0, 1] frames and
the largest 8-bit difference against the official truncated frames. Cases: the default (official)
settings for both runs; on the UniPC run each former pack behaviour alone (uniform grid from 1,
float timesteps, carried frames through uint8) and all of them together (with per-window seeds, a
different sample); and the conditioning left out (zeros for text and / or CLIP, as a run without
embeddings gets). ``--quick`` runs the default cases and the zero-embeddings case only.

Measured on the shared 2-core CPU (torch 2.13.0, float32), UniPC run unless named: defaults 3.4e-6
max abs, 130.8 dB (DPM++ run 6.2e-6, 126.4 dB); grid='uniform' 3.4e-2, 50.1 dB; timesteps='float'
2.6e-2, 52.6 dB; carry='uint8' 1.4e-3, 83.0 dB; all three 3.2e-2, 50.7 dB; noise='window' 19.2 dB
(another sample); zero text and CLIP 1.22, 20.3 dB (text alone 29.2 dB, CLIP alone 20.5 dB; DPM++ run
18.5 dB).

The face motion encoder's output is memoised on byte-identical input (the same face clips recur in
every case); that saves time and changes no number.
"""
from __future__ import annotations

import argparse
import hashlib
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from conftest import find_shared  # noqa: E402
from pipeline_small import NAMES, load_common, load_models, replay  # noqa: E402


def memoise_motion_encoder(dit) -> None:
    """Cache the 512x512 motion encoder's output per input (speed only: it is deterministic)."""
    enc, seen = dit.motion_encoder, {}
    forward = enc.forward

    def cached(x, **kw):
        key = hashlib.sha1(x.detach().contiguous().numpy().tobytes()).hexdigest() + str(tuple(x.shape))
        if key not in seen:
            seen[key] = forward(x, **kw)
        return seen[key]

    enc.forward = cached


def compare(video: torch.Tensor, frames, exp: dict) -> str:
    want = exp["video_f32"]
    max_abs = float((video - want).abs().max())
    mse = float((((video - want) / 2) ** 2).mean())
    psnr = math.inf if mse == 0 else 10 * math.log10(1.0 / mse)
    levels = int((torch.from_numpy(frames).int() - exp["video_u8_trunc"].int()).abs().max())
    return f"max abs {max_abs:.2e}, PSNR {psnr:6.1f} dB, up to {levels} levels (8-bit)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    shared = find_shared()
    if shared is None:
        sys.exit("shared data folder not found (set DREAMACTOR_SHARED)")
    folder = shared / "conformance" / "pipeline_small"
    common = load_common(folder)
    unipc, dpm = NAMES
    cases = [(unipc, "official defaults", {}), (dpm, "official defaults", {}),
             (unipc, "zero text and CLIP", dict(text=None, clip=None))]
    if not args.quick:
        cases += [(unipc, "grid='uniform' (from 1)", dict(grid="uniform")),
                  (unipc, "timesteps='float'", dict(timesteps="float")),
                  (unipc, "carry='uint8'", dict(carry="uint8")),
                  (unipc, "all three (the former pack)", dict(grid="uniform", timesteps="float", carry="uint8")),
                  (unipc, "noise='window' (another sample)", dict(noise="window")),
                  (unipc, "zero text only", dict(text=None)),
                  (unipc, "zero CLIP only", dict(clip=None)),
                  (dpm, "zero text and CLIP", dict(text=None, clip=None))]
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as tmp:
        models = load_models(shared / "conformance", Path(tmp))
        memoise_motion_encoder(models[0])
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32 CPU")
        for name, label, kw in cases:
            exp = load_file(str(folder / f"{name}.expected.safetensors"))
            t0 = time.perf_counter()
            result, video = replay(folder, name, models, common, **kw)
            print(f"{name:28s} {label:34s} {compare(video, result.frames, exp)}  "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
