"""Command line: ``python -m dreamactor_core extract|animate``.

``extract``: driving video -> guidance videos (skeleton + head sphere render,
face crops) and the motion as JSON. With no arguments it runs on the sample in
``dreamactor_core/assets``.

``animate``: reference image + driving video + Wan2.2-Animate checkpoint + Wan2.1
VAE -> animated mp4 at the driving fps, with the driving audio kept. With neither
--checkpoint nor --vae it runs the small embedded demo model
(``assets/demo``, trained on synthetic humans, see docs/DEMO_MODEL.md) at its own
size and settings; with no --reference/--driving it uses the bundled samples.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .cli_help import MODEL_HELP
from .cli_console import StageProgress, native_logs_hidden

ASSETS = Path(__file__).resolve().parent / "assets"
SAMPLE_DRIVING = ASSETS / "driving_arm_wave.mp4"
SAMPLE_REFERENCE = ASSETS / "reference.png"

DEMO_DIR = ASSETS / "demo"
DEMO_FILES = (DEMO_DIR / "demo_dit.safetensors", DEMO_DIR / "demo_vae.safetensors")

DEMO_LINE = ("no --checkpoint/--vae: running the embedded demo model, a 1.9M-parameter TOY trained on synthetic "
             "humans (it shows the pipeline works, not usable animation); for real results give --checkpoint "
             "wan2.2_animate_14B_bf16.safetensors --vae wan_2.1_vae.safetensors (see --help, docs/DEMO_MODEL.md)")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v")


class _Append(argparse.Action):
    """argparse's "append" that also starts a fresh list over a non-list default (``_given_options``
    probes with a sentinel default)."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, (list(items) if isinstance(items, list) else []) + [values])


def _demo_card() -> dict:
    """The embedded demo model's card (its safetensors metadata); empty when it is not installed."""
    if not DEMO_FILES[0].is_file():
        return {}
    import json

    from safetensors import safe_open

    with safe_open(str(DEMO_FILES[0]), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("dreamactor_demo", "{}"))


def _parser() -> argparse.ArgumentParser:
    from .cli_help import demo_card_note, document

    p = argparse.ArgumentParser(prog="python -m dreamactor_core", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("extract", help="driving video -> guidance render, face crops, motion JSON")
    e.add_argument("--driving", type=Path, default=None, help="driving video (default: the bundled sample)")
    e.add_argument("--reference", type=Path, default=None,
                   help="retarget to this person's proportions and framing (default: the driving video's own)")
    e.add_argument("--out-dir", type=Path, default=Path("dreamactor_extract"))
    e.add_argument("--overwrite", action="store_true")
    e.add_argument("--width", type=int, default=None)
    e.add_argument("--height", type=int, default=None)
    e.add_argument("--style", default="dreamactor", choices=["dreamactor", "openpose"])
    e.add_argument("--aspect", default="letterbox", choices=["letterbox", "crop", "stretch"])
    e.add_argument("--pin-root", action="store_true",
                   help="with --reference: keep the body on the spot (no travel), e.g. a walk onto a portrait")
    e.add_argument("--face-size", type=int, default=512)
    e.add_argument("--max-frames", type=int, default=None)

    a = sub.add_parser("animate", help="animate a reference image with a driving video",
                       epilog=MODEL_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--reference", type=Path, default=None, help="default: the bundled sample reference")
    a.add_argument("--driving", type=Path, default=None, help="default: the bundled sample driving clip")
    a.add_argument("--checkpoint", type=Path, default=None)
    a.add_argument("--vae", type=Path, default=None)
    a.add_argument("--text-embeds", type=Path, default=None)
    a.add_argument("--negative-embeds", type=Path, default=None)
    a.add_argument("--clip-embeds", type=Path, default=None)
    a.add_argument("--zero-embeds", action="store_true",
                   help="run without text/CLIP embeddings, on zeros (a large quality cost, see --help)")
    a.add_argument("--out", type=Path, default=Path("dreamactor_animate.mp4"))
    a.add_argument("--overwrite", action="store_true")
    a.add_argument("--width", type=int, default=None)
    a.add_argument("--height", type=int, default=None)
    a.add_argument("--max-frames", type=int, default=None)
    a.add_argument("--fps", type=float, default=None,
                   help="resample the driving video to this frame rate first (Wan2.2-Animate's preprocessing uses "
                        "30); default: keep its own")
    a.add_argument("--steps", type=int, default=20)
    a.add_argument("--solver", default="unipc", choices=["unipc", "dpmpp_2m", "euler"])
    a.add_argument("--shift", type=float, default=5.0)
    a.add_argument("--cfg", type=float, default=1.0)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--pose-strength", type=float, nargs="+", default=[1.0], metavar="S [START END]")
    a.add_argument("--face-strength", type=float, nargs="+", default=[1.0], metavar="S [START END]")
    a.add_argument("--window", type=int, default=77)
    a.add_argument("--refert", type=int, default=1)
    a.add_argument("--color-match", type=float, default=0.0)
    a.add_argument("--reference-detail", type=float, default=0.0,
                   help="0..1: put back the reference's own pixels where the output left them unchanged "
                        "(for a still camera, as in animating a photo)")
    a.add_argument("--style", default="dreamactor", choices=["dreamactor", "openpose"])
    a.add_argument("--aspect", default="letterbox", choices=["letterbox", "crop", "stretch"])
    a.add_argument("--size-fix", default="crop", choices=["crop", "pad"])
    a.add_argument("--pseudo-refs", type=float, nargs="*", default=[], metavar="YAW")
    a.add_argument("--extra-ref", type=Path, nargs="*", default=[])
    a.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    a.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16", "float16"])
    a.add_argument("--block-swap", type=int, default=0)
    a.add_argument("--lora", action=_Append, default=[], metavar="FILE[:STRENGTH]",
                   help="merge a LoRA into the DiT (PEFT, kohya or diff files; strength 1 by default); repeatable")
    a.add_argument("--mode", default="animate", choices=["animate", "replace"],
                   help="animate: the reference moves in its own picture; replace: the reference replaces the "
                        "driver in the driving video's scene (mask made with MediaPipe, no downloads)")
    a.add_argument("--mask-shape", default="segmentation", choices=["segmentation", "pose_hull", "box"],
                   help="replace mode: the region generated around the driver")
    a.add_argument("--mask-grow", type=int, default=4, help="replace mode: pixels to grow the mask by")
    a.add_argument("--mask-feather", type=int, default=0, help="replace mode: soft outward edge in pixels")
    a.add_argument("--mask-hold", type=int, default=12,
                   help="replace mode: frames the last mask is kept where the driver is lost")
    a.add_argument("--mask-out", type=Path, default=None,
                   help="replace mode: also write the mask used (white = generated) as a video, at the output size")
    for sp in (e, a):
        sp.add_argument("--person", default="largest", metavar="largest|leftmost|N")
        sp.add_argument("--reference-person", default="largest", metavar="largest|leftmost|N")
        sp.add_argument("--verbose", action="store_true")
        document(sp)
    a.epilog = demo_card_note(_demo_card().get("sampling", {})) + "\n\n" + MODEL_HELP
    p.animate_parser = a  # main() asks it which options the user gave
    return p


_UNSET = object()


def _given_options(argv: list[str], defaults: dict) -> set[str]:
    """The ``animate`` options named on the command line (even when set to their default value)."""
    probe = _parser()
    probe.animate_parser.set_defaults(**{key: _UNSET for key in defaults if key != "command"})
    return {key for key, value in vars(probe.parse_args(argv)).items() if value is not _UNSET}


EXTRACT_FILES = ("guidance.mp4", "faces.mp4", "motion.json")


def _run_extract(args, outputs) -> int:
    import numpy as np

    from .cli_checks import check_extract
    from .signals.extract import extract_motion
    from .signals.face_crops import crop_faces
    from .signals.render_dreamactor import render_guidance
    from .signals.tracking import person_note
    from .signals.video_io import load_image, read_video, write_video

    check_extract(args)
    out = outputs.claim_folder(args.out_dir, EXTRACT_FILES, "--out-dir")
    stages = StageProgress()
    driving_path = args.driving or SAMPLE_DRIVING
    if args.driving is None:
        print(f"no --driving given: using the bundled sample {driving_path.name}")
    frames, fps = read_video(driving_path, max_frames=args.max_frames)
    motion = extract_motion(frames, fps, name=str(driving_path), progress=stages("extraction"), person=args.person)
    notes = [person_note(motion.meta.get("person", {}), "driving video")]
    target = motion
    if args.reference is not None:
        from .signals.retarget import retarget_motion

        ref = load_image(args.reference)
        from .sampling.alignment import align_to_reference

        ref_motion = extract_motion(ref, fps, name=str(args.reference), person=args.reference_person)
        notes.append(person_note(ref_motion.meta.get("person", {}), "reference"))
        target = align_to_reference(retarget_motion(motion, ref_motion, pin_root=args.pin_root), ref_motion)
    w = args.width or target.width
    h = args.height or target.height
    guidance, faces, motion_json = (out / name for name in EXTRACT_FILES)
    writing = stages("writing")
    writing(0, 3)
    write_video(outputs.temp(guidance), render_guidance(target, w, h, style=args.style, aspect=args.aspect), fps,
                audio_from=driving_path)
    writing(1, 3)
    write_video(outputs.temp(faces), crop_faces(frames, motion, size=args.face_size), fps)
    writing(2, 3)
    outputs.temp(motion_json).write_text(target.to_json())
    writing(3, 3)
    outputs.commit()
    for note in filter(None, notes):
        print("note:", note)
    found = float(np.isfinite(motion.body_px[..., 0]).any(1).mean())
    print(f"{len(frames)} frames at {fps:g} fps, person found in {found:.0%} of them")
    print(f"wrote {guidance} ({w}x{h}), {faces}, {motion_json}")
    return 0


def _load_tensor(path: Path | None, what: str):
    if path is None:
        return None
    from safetensors.torch import load_file

    from .utils import DreamActorError

    if not path.is_file():
        raise DreamActorError(f"{what}: file '{path}' not found")
    tensors = load_file(str(path))
    if len(tensors) != 1:
        for key in ("context", "text", "clip_fea", "penultimate_hidden_states", "embeds"):
            if key in tensors:
                return tensors[key]
        raise DreamActorError(f"{what}: '{path}' holds {len(tensors)} tensors ({', '.join(list(tensors)[:5])}); "
                              "save exactly one tensor")
    return next(iter(tensors.values()))


def _strength(values, name: str):
    from .sampling.guidance import StrengthWindow
    from .utils import DreamActorError

    if len(values) not in (1, 3):
        raise DreamActorError(f"--{name}: give S or S START END (percent of the schedule in 0..1)")
    return StrengthWindow(*values) if len(values) == 3 else StrengthWindow(values[0])


def _use_demo_model(args, given: set[str]) -> bool:
    """No --checkpoint and no --vae: run the embedded demo model, at its own sampling settings
    for every option the user did not give."""
    if args.checkpoint is not None or args.vae is not None or not all(p.is_file() for p in DEMO_FILES):
        return False

    args.checkpoint, args.vae = DEMO_FILES
    for key, value in _demo_card().get("sampling", {}).items():
        if key not in given and hasattr(args, key):
            setattr(args, key, value)
    print(DEMO_LINE)
    return True


def _missing_models(args) -> list[str]:
    missing = []
    if args.checkpoint is None and args.vae is None:
        absent = [str(p) for p in DEMO_FILES if not p.is_file()]
        missing.append("the embedded demo model is not installed (" + ", ".join(absent) + " missing)")
    for flag, path in (("--checkpoint", args.checkpoint), ("--vae", args.vae)):
        if path is None:
            missing.append(f"{flag} was not given")
        elif not path.is_file():
            missing.append(f"{flag} {path}: no such file")
    return missing


def _missing_loras(values: list[str]) -> list[str]:
    from .model.lora import parse_lora_arg

    return [f"--lora {v}: no such file" for v in values if not Path(parse_lora_arg(v)[0]).is_file()]


def _run_animate(args, given: set[str], outputs) -> int:
    from .cli_checks import check_animate

    args.demo = _use_demo_model(args, given)
    args.reference = args.reference or SAMPLE_REFERENCE
    args.driving = args.driving or SAMPLE_DRIVING
    missing = _missing_models(args) + _missing_loras(args.lora)
    if missing:
        print("cannot animate: " + "; ".join(missing) + "\n", file=sys.stderr)
        print(MODEL_HELP, file=sys.stderr)
        return 2
    check_animate(args)
    out = outputs.claim_file(args.out, "--out", VIDEO_SUFFIXES)
    mask_out = None if args.mask_out is None else outputs.claim_file(args.mask_out, "--mask-out", VIDEO_SUFFIXES)
    import torch

    from .model.loader import load_dit, load_vae
    from .sampling.guidance import GuidanceSettings
    from .sampling.pipeline import AnimateSettings, animate
    from .sampling.video_sink import Mp4Sink
    from .signals.video_io import load_image, read_video, resample_fps

    device = args.device  # checked (and defaulted) by check_animate
    dtype = getattr(torch, args.dtype) if device != "cpu" else torch.float32
    reference = load_image(args.reference)
    driving_frames, fps = read_video(args.driving, max_frames=args.max_frames)
    if args.fps is not None:
        driving_frames, fps = resample_fps(driving_frames, fps, args.fps), args.fps
    print(f"loading {args.checkpoint.name} and {args.vae.name} on {device}")
    dit = load_dit(args.checkpoint, compute_dtype=dtype, device=device, block_swap=args.block_swap)
    if args.lora:
        from .model.lora import apply_loras, parse_lora_arg

        for line in apply_loras(dit, [parse_lora_arg(x) for x in args.lora]).lines():
            print(line)
    vae = load_vae(args.vae, dtype=torch.float32, device=device)
    settings = AnimateSettings(
        width=args.width, height=args.height, steps=args.steps, solver=args.solver, shift=args.shift,
        seed=args.seed, window=args.window, refert=args.refert, color_match=args.color_match,
        reference_detail=args.reference_detail, style=args.style,
        aspect=args.aspect, size_fix=args.size_fix, pseudo_ref_angles=tuple(args.pseudo_refs),
        person=args.person, reference_person=args.reference_person,
        guidance=GuidanceSettings(cfg=args.cfg, pose=_strength(args.pose_strength, "pose-strength"),
                                  face=_strength(args.face_strength, "face-strength")))

    replace_mask = None
    if args.mode == "replace":
        from .signals.character_mask import MaskSettings

        replace_mask = MaskSettings(shape=args.mask_shape, grow=args.mask_grow, feather=args.mask_feather,
                                    hold=args.mask_hold)
        replace_mask.validate()

    stages = StageProgress()
    writing = stages("writing")

    with Mp4Sink(outputs.temp(out), fps, audio_from=args.driving) as sink:
        def write(frames) -> None:
            sink(frames)
            writing(sink.count, len(driving_frames))

        result = animate(reference, driving_frames, fps, dit, vae, text=_load_tensor(args.text_embeds, "--text-embeds"),
                         text_null=_load_tensor(args.negative_embeds, "--negative-embeds"),
                         clip_fea=_load_tensor(args.clip_embeds, "--clip-embeds"), settings=settings,
                         extra_references=[load_image(p) for p in args.extra_ref], sink=write,
                         replace_mask=replace_mask, stages=stages)
    if mask_out is not None and result.replacement is not None:
        from .signals.video_io import write_video

        mask = (result.replacement.mask[..., None].repeat(3, -1) * 255 + 0.5).astype("uint8")
        write_video(outputs.temp(mask_out), mask, fps)
    outputs.commit()
    if mask_out is not None and result.replacement is not None:
        print(f"wrote {mask_out}: the replacement mask")
    for note in result.notes:
        print("note:", note)
    t = result.timings
    print(f"wrote {out}: {result.num_frames} frames at {fps:g} fps ({result.width}x{result.height}); "
          + ", ".join(f"{k} {v:.1f}s" for k, v in t.items()))
    return 0


def main(argv=None) -> int:
    """Entry point; returns the process exit code."""
    from .outputs import Outputs
    from .utils import DreamActorError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        argv = ["extract"]
    parser = _parser()
    args = parser.parse_args(argv)
    outputs = Outputs(overwrite=args.overwrite, say=print)  # a numbered name is said at once, not after the run
    # Ctrl-C or a failure removes every half-written output (Outputs.__exit__): one line, no traceback
    try:
        with native_logs_hidden(not args.verbose), outputs:
            if args.command == "extract":
                return _run_extract(args, outputs)
            return _run_animate(args, _given_options(argv, vars(parser.parse_args(["animate"]))), outputs)
    except KeyboardInterrupt:
        end_line = "\n" if sys.stdout.isatty() else ""  # a terminal may hold an unfinished progress line
        print(end_line + "interrupted: stopped before the end; no output was written", file=sys.stderr)
        return 130
    except (DreamActorError, OSError) as e:
        print(f"error: {e}; no output was written" if outputs.claimed else f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
