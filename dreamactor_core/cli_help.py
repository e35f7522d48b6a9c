"""``--help`` text for every command-line option, with its default.

Kept apart from the parser so the option list stays readable; :func:`document` fills in any
option the parser left without help and appends the default, and a test holds every option
of both commands to having both.
"""
from __future__ import annotations

import argparse

HELP = {
    # shared by extract and animate
    "driving": "driving video whose motion is used (default: the bundled sample clip)",
    "reference": "reference image of the person to animate (default: the bundled sample; extract: the driving "
                 "video's own proportions and framing)",
    "width": "output width in pixels (default: extract: the driving video's; animate: the reference's aspect "
             "at about 1280x720 pixels, Wan2.2-Animate's area)",
    "height": "output height in pixels (default: as for --width)",
    "max_frames": "use only the first N driving frames (default: all)",
    "style": "guidance render: dreamactor (3D skeleton + head sphere) or openpose (what Wan2.2-Animate was "
             "trained on)",
    "aspect": "how the driving framing is fitted to the output: letterbox, crop or stretch",
    "overwrite": "replace existing outputs; without it a free numbered name is used (out-1.mp4) and printed. "
                 "Outputs appear only once the run has finished",
    "person": "whom to follow when the driving video shows several people: largest, leftmost, or an index "
              "counted from the left (0 = leftmost)",
    "reference_person": "whom to animate when the reference shows several people: largest, leftmost, or an "
                        "index counted from the left",
    "verbose": "also show the log lines of native libraries (MediaPipe, TFLite)",
    # extract
    "out_dir": "folder for guidance.mp4, faces.mp4 and motion.json",
    "pin_root": "with --reference: keep the body on the spot (no travel), e.g. a walk onto a portrait",
    "face_size": "side of the face crops in pixels (the model uses 512)",
    # animate
    "checkpoint": "Wan2.2-Animate-14B DiT .safetensors (bf16 or fp8 scaled) (default: the embedded demo model "
                  "when --vae is left out too)",
    "vae": "Wan2.1 VAE .safetensors (default: the demo model's VAE when --checkpoint is left out too)",
    "text_embeds": "umT5-XXL encoding of the prompt, a .safetensors with one [L, 4096] tensor (required with a real checkpoint unless --zero-embeds)",
    "negative_embeds": "the same for the negative prompt, required when --cfg > 1 with a real checkpoint",
    "clip_embeds": "CLIP ViT-H/14 penultimate states of the reference, [257, 1280] (required with a real "
                   "checkpoint that has a CLIP branch unless --zero-embeds)",
    "out": "output video (.mp4, .mov, .mkv or .m4v); the driving audio and fps are kept",
    "steps": "sampling steps per window",
    "solver": "sampler: unipc (Wan2.2's), dpmpp_2m or euler",
    "shift": "flow-matching timestep shift",
    "cfg": "classifier-free guidance scale; 1 makes one model call per step and ignores the negative",
    "seed": "noise seed (each window adds its index); the same seed gives the same video on any device",
    "pose_strength": "pose guidance strength S, optionally only from START to END of the schedule (0..1)",
    "face_strength": "face motion strength S, optionally only from START to END of the schedule (0..1)",
    "window": "frames per window, 4n+1",
    "refert": "frames each window carries over from the previous one (1 or 5)",
    "color_match": "0..1: pull each window's colours towards the frames it carries over",
    "reference_detail": "0..1: put back the reference's own pixels where the output left them unchanged "
                        "(for a still camera, as in animating a photo)",
    "size_fix": "sizes that are not multiples of 16: crop or pad",
    "pseudo_refs": "head yaws in degrees for pseudo-reference views made first (multi-reference checkpoints only) "
                   "(default: none)",
    "extra_ref": "more reference images of the same person (multi-reference checkpoints) (default: none)",
    "device": "cpu or cuda (default: cuda when available)",
    "dtype": "compute dtype on a GPU (the CPU always computes in float32)",
    "block_swap": "keep the first N DiT blocks in CPU memory and stream them in (saves GPU memory)",
    "lora": "merge a LoRA into the DiT (PEFT, kohya or diff files; strength 1 by default); repeatable "
            "(default: none)",
    "mode": "animate: the reference moves in its own picture; replace: the reference replaces the driver in "
            "the driving video's scene",
    "mask_shape": "replace mode: the region generated around the driver",
    "mask_grow": "replace mode: pixels to grow the mask by",
    "mask_feather": "replace mode: soft outward edge in pixels",
    "mask_hold": "replace mode: frames the last mask is kept where the driver is lost",
    "mask_out": "replace mode: also write the mask used (white = generated) as a video (default: not written)",
}


def document(parser: argparse.ArgumentParser) -> None:
    """Give every option of ``parser`` its help text and its default, unless the text already says it."""
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS or action.dest == "help":
            continue
        action.help = action.help or HELP.get(action.dest, "")
        if "default" in action.help:
            continue
        if action.default is False:
            action.help += " (default: off)"
        elif action.default is None or action.default == []:
            action.help += " (default: none)"
        else:
            action.help += " (default: %(default)s)"


def demo_card_note(card_settings: dict) -> str:
    """One paragraph saying which options the demo model's card sets when the user leaves them out."""
    if not card_settings:
        return ""
    shown = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in card_settings.items())
    return ("Without --checkpoint and --vae the embedded demo model runs, and its card overrides the defaults "
            f"above for every option not given: {shown}.")


MODEL_HELP = """\
animate needs model files that are not part of this package (nothing is downloaded).
Without --checkpoint and --vae it runs the embedded demo model, which needs both
  dreamactor_core/assets/demo/demo_dit.safetensors and demo_vae.safetensors
(rebuild them with `python -m dreamactor_core.training.demo all --work DIR`).
For real results give:

  --checkpoint  the Wan2.2-Animate-14B DiT as .safetensors, for example
                  wan2.2_animate_14B_bf16.safetensors (or an fp8 "scaled" file)
                ComfyUI users already keep it in  ComfyUI/models/diffusion_models/
  --vae         the Wan2.1 VAE as .safetensors, e.g. wan_2.1_vae.safetensors
                ComfyUI users keep it in  ComfyUI/models/vae/

Conditioning (each a .safetensors file with one tensor), needed with a real checkpoint:
  --text-embeds      umT5-XXL encoder output of the prompt, [L, 4096]
  --negative-embeds  the same for the negative prompt (needed when --cfg > 1)
  --clip-embeds      CLIP ViT-H/14 penultimate hidden states of the reference, [257, 1280]
                     (for checkpoints with a CLIP branch, as Wan2.2-Animate has)
  --zero-embeds      run without them, on zeros: the official pipeline never does, and on the
                     small conformance model the video is then only 20.3 dB PSNR from the official one

Example:
  python -m dreamactor_core animate --reference me.png --driving dance.mp4 \\
      --checkpoint ComfyUI/models/diffusion_models/wan2.2_animate_14B_bf16.safetensors \\
      --vae ComfyUI/models/vae/wan_2.1_vae.safetensors --out out.mp4
"""
