"""Command-line arguments checked before any heavy work.

Reading the driving video, running MediaPipe and loading a 14B checkpoint take minutes; a
typo in ``--steps`` must not cost them. Every check here is cheap and names the option as
the user typed it. The core's own validators are reused, so the rules cannot drift apart.
"""
from __future__ import annotations

import re
from pathlib import Path

from .utils import DreamActorError


def _as_flag(flag: str, fn, *a, **kw):
    """Run a core validator and name the command-line option in its message (in place of the core's
    own label, such as ``window frames:``, which is not what the user typed)."""
    try:
        return fn(*a, **kw)
    except DreamActorError as exc:
        text = re.sub(r"^[A-Za-z_ ]{1,20}: ", "", str(exc), count=1)
        raise DreamActorError(f"{flag}: {text}") from None


def check_input_file(path: Path | None, flag: str, what: str) -> None:
    """An input file that must exist (None: the option was not given)."""
    if path is None:
        return
    if Path(path).is_dir():
        raise DreamActorError(f"{flag} {path}: is a folder; give the {what} file itself")
    if not Path(path).is_file():
        raise DreamActorError(f"{flag} {path}: no such file; give the path of the {what}")


def check_device(device: str | None) -> str:
    """The torch device to run on: ``device`` when this machine has it, else a clear error."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        raise DreamActorError(f"--device {device}: not a device name; use cpu or cuda (or cuda:N)") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise DreamActorError(f"--device {device}: CUDA is not available on this machine (torch {torch.__version__}"
                              f"{', a CPU-only build' if torch.version.cuda is None else ''}); use --device cpu "
                              "or leave --device out")
    if kind == "cuda" and torch.device(device).index is not None and torch.device(device).index >= torch.cuda.device_count():
        raise DreamActorError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if kind not in ("cpu", "cuda"):
        raise DreamActorError(f"--device {device}: only cpu and cuda are supported")
    return device


def _check_size(args) -> None:
    for flag, value in (("--width", args.width), ("--height", args.height)):
        if value is not None and value < 16:
            raise DreamActorError(f"{flag} {value}: must be at least 16 pixels (the model works in 16-pixel cells)")
    if args.max_frames is not None and args.max_frames < 1:
        raise DreamActorError(f"--max-frames {args.max_frames}: must be at least 1 (or leave it out for all frames)")


def _check_people(args) -> None:
    from .signals.tracking import parse_person

    _as_flag("--person", parse_person, args.person)
    _as_flag("--reference-person", parse_person, args.reference_person)


def check_extract(args) -> None:
    """``extract``: every argument, before the driving video is read."""
    check_input_file(args.driving, "--driving", "driving video")
    check_input_file(args.reference, "--reference", "reference image")
    _check_size(args)
    _check_people(args)
    if args.face_size < 16:
        raise DreamActorError(f"--face-size {args.face_size}: must be at least 16 pixels (512 is the model's size)")


def check_animate(args) -> None:
    """``animate``: every argument, before any video is read or model loaded."""
    from .sampling import schedule
    from .sampling.guidance import GuidanceSettings, StrengthWindow
    from .sampling.reference_detail import check_detail
    from .sampling.windows import plan_windows

    for flag, path, what in (("--reference", args.reference, "reference image"),
                             ("--driving", args.driving, "driving video"),
                             ("--text-embeds", args.text_embeds, "text embedding (.safetensors)"),
                             ("--negative-embeds", args.negative_embeds, "negative text embedding (.safetensors)"),
                             ("--clip-embeds", args.clip_embeds, "CLIP embedding (.safetensors)"),
                             *(("--extra-ref", p, "extra reference image") for p in args.extra_ref)):
        check_input_file(path, flag, what)
    _check_size(args)
    _check_people(args)
    _as_flag("--steps", schedule.flow_sigmas, args.steps, 1.0)
    _as_flag("--shift", schedule.shift_sigmas, schedule.flow_sigmas(1, 1.0), args.shift)
    _as_flag("--window", plan_windows, 1, args.window, 0)
    _as_flag("--refert", plan_windows, 1, args.window, args.refert)
    for flag, values in (("--pose-strength", args.pose_strength), ("--face-strength", args.face_strength)):
        if len(values) not in (1, 3):
            raise DreamActorError(f"{flag}: give S or S START END (START and END: share of the schedule in 0..1)")
        _as_flag(flag, StrengthWindow, *values)
    _as_flag("--cfg", GuidanceSettings, cfg=args.cfg)
    _as_flag("--reference-detail", check_detail, args.reference_detail)
    if args.fps is not None and not args.fps > 0:
        raise DreamActorError(f"--fps {args.fps}: must be a positive frame rate (e.g. 30), or leave it out")
    if not 0.0 <= args.color_match <= 1.0:
        raise DreamActorError(f"--color-match {args.color_match}: must be between 0 (off) and 1")
    if args.block_swap < 0:
        raise DreamActorError(f"--block-swap {args.block_swap}: must be 0 (off) or a number of blocks")
    args.device = check_device(args.device)
    check_embeddings(args)


# PSNR of the video against the official one with zeros for text and CLIP, measured on the shared
# pipeline_small UniPC run by benchmarks/official.py (with the stored embeddings: 131 dB)
ZERO_EMBEDS_PSNR_DB = 20.3


def _has_clip_branch(checkpoint: Path) -> bool:
    """Whether the DiT file has the CLIP image branch (read from its key names, no weights loaded)."""
    from safetensors import safe_open

    with safe_open(str(checkpoint), framework="pt") as f:
        return any(k.endswith("img_emb.proj.1.weight") for k in f.keys())


def check_embeddings(args) -> None:
    """A real checkpoint gets its text and CLIP embeddings, or ``--zero-embeds`` says zeros are meant.

    The official pipeline always has both (its default prompt's umT5 embedding, the reference's CLIP
    features); zeros in their place change the video a lot. The demo model was trained on zero text
    and has no CLIP branch, so it needs neither.
    """
    if args.demo or args.zero_embeds:
        return
    wanted = [("--text-embeds", args.text_embeds)]
    if args.cfg > 1:  # only the unconditional branch reads the negative prompt
        wanted.append(("--negative-embeds", args.negative_embeds))
    if _has_clip_branch(args.checkpoint):
        wanted.append(("--clip-embeds", args.clip_embeds))
    missing = [flag for flag, path in wanted if path is None]
    if missing:
        raise DreamActorError(
            f"{', '.join(missing)}: not given. Wan2.2-Animate always conditions on the umT5-XXL embedding of a "
            f"prompt (with cfg > 1 also of the negative prompt) and on the CLIP ViT-H/14 features of the "
            f"reference; with zeros in their place the video is only {ZERO_EMBEDS_PSNR_DB} dB PSNR from the "
            "official one on the small conformance model. Make them once (e.g. in ComfyUI with the stock CLIP Text Encode on the "
            "umT5 text encoder and CLIP Vision Encode) and save each tensor to a .safetensors file, or pass "
            "--zero-embeds to run on zeros anyway")
