"""Sampling nodes: the windowed DreamActor sampler, pseudo-references, and decode to frames."""
from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import torch
from comfy_api.latest import io, ui

from dreamactor_core.utils import DreamActorError

from . import host
from .comfy_vae import core_vae
from .model import VAE_TOOLTIP, decode_latent
from .model_input import MODEL_TOOLTIP, sampler_model
from .settings import SolverSettingsType, StrengthSettingsType, WindowSettingsType, sampler_settings
from .types import FaceTokens, Signals, image_to_uint8, to_image

CATEGORY = "DreamActor/sampling"
ASPECTS = ["letterbox", "crop", "stretch"]
STYLES = ["dreamactor", "openpose"]


def text_embeddings(conditioning, name: str):
    """CONDITIONING ``[[tensor [1, L, 4096], {...}], ...]`` -> the first entry's tensor (or None)."""
    if conditioning is None:
        return None
    try:
        tensor = conditioning[0][0]
    except (IndexError, KeyError, TypeError):
        raise DreamActorError(f"{name}: expected CONDITIONING from CLIP Text Encode (umT5)") from None
    if not isinstance(tensor, torch.Tensor) or tensor.shape[-1] != 4096:
        raise DreamActorError(f"{name}: expected umT5 embeddings with 4096 features (load umt5_xxl with "
                              f"CLIPLoader type 'wan'), got shape {tuple(getattr(tensor, 'shape', ()))}")
    return tensor.float().cpu()


def clip_features(clip_vision_output):
    """CLIP_VISION_OUTPUT -> its penultimate hidden states ``[1, 257, 1280]`` (or None)."""
    if clip_vision_output is None:
        return None
    feats = getattr(clip_vision_output, "penultimate_hidden_states", None)
    if feats is None and isinstance(clip_vision_output, dict):
        feats = clip_vision_output.get("penultimate_hidden_states")
    if feats is None:
        raise DreamActorError("clip_vision_output: it has no penultimate_hidden_states; use CLIP Vision Encode "
                              "with crop 'none' on the reference")
    return feats.float().cpu()


def _conditioning_inputs():
    return [
        io.Conditioning.Input("positive", optional=True,
                              tooltip="Prompt embeddings from CLIP Text Encode with the umT5 text encoder."),
        io.Conditioning.Input("negative", optional=True, tooltip="Negative prompt embeddings (used when cfg > 1)."),
        io.ClipVisionOutput.Input("clip_vision_output", optional=True,
                                  tooltip="CLIP Vision Encode of the reference (Wan image-to-video features)."),
    ]


def _stitch(latents: list[torch.Tensor], total: int, settings) -> torch.Tensor:
    """Window latents -> one latent; the carried-over frames each later window starts with are dropped,
    and so are latents past the video's end (the last window may run into reflected padding). A video
    latent holds 4n+1 frames: the last latent frame is kept when it covers any of the video."""
    from dreamactor_core.sampling.conditioning import latent_frames
    from dreamactor_core.sampling.windows import plan_windows

    parts = []
    for win, lat in zip(plan_windows(total, settings.window, settings.refert, last=settings.last_window), latents):
        skip = latent_frames(win.carry) if win.carry else 0
        parts.append(lat[:, :, skip:])
    return torch.cat(parts, dim=2)[:, :, :(total + 2) // 4 + 1]


PRESET_TOOLTIP = ("standard: Wan2.2-Animate's own sampling (20 UniPC steps, shift 5, cfg 1). distilled: 4 Euler "
                  "steps at shift 5 and cfg 1, for a model with a Wan step-distill LoRA (lightx2v) applied. A "
                  "connected DreamActor Solver Settings replaces the preset.")


class Sampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        from dreamactor_core.sampling.presets import PRESET_NAMES

        return io.Schema(
            node_id="DreamActorSampler",
            display_name="DreamActor Sampler",
            category=CATEGORY,
            description="Animates the reference along the guidance video with flow-matching sampling, window by "
                        "window (each window continues from the last frames of the previous one), and returns "
                        "the video LATENT. Decode it with DreamActor Decode to Frames or VAE Decode. Pose comes "
                        "from guidance frames or from pose latents, face motion from face crops or from face "
                        "tokens. Solver, window and strength settings are optional settings nodes.",
            inputs=[
                io.Model.Input("model", tooltip=MODEL_TOOLTIP),
                io.Vae.Input("vae", tooltip=VAE_TOOLTIP + " Encodes references and guidance, decodes the frames "
                                                          "carried from one window into the next."),
                io.Image.Input("reference", tooltip="The person to animate (first image)."),
                io.Image.Input("guidance", optional=True,
                               tooltip="Guidance frames from DreamActor Render Guidance. Connect this or pose_latents."),
                io.Latent.Input("pose_latents", optional=True,
                                tooltip="Instead of guidance: a video LATENT of a pose video (e.g. DreamActor VAE "
                                        "Encode of guidance frames, or any other video node's Wan latent). Output "
                                        "size and length follow it (4 frames per latent frame after the first)."),
                io.Image.Input("face_crops", optional=True,
                               tooltip="Face crops from DreamActor Face Crops, one per guidance frame."),
                FaceTokens.Input("face_tokens", optional=True,
                                 tooltip="Instead of face_crops: face motion tokens from DreamActor Face Motion "
                                         "Encode (edited or swapped), one token frame per 4 video frames."),
                io.Image.Input("extra_references", optional=True,
                               tooltip="More reference images (e.g. from DreamActor Pseudo References) for "
                                       "checkpoints with several reference slots."),
                *_conditioning_inputs(),
                io.Image.Input("background_video", optional=True,
                               tooltip="Replacement mode: the driving frames with the character blacked out (the "
                                       "scene to keep). Connect with character_mask; the relighting LoRA helps the "
                                       "new person take the scene's light."),
                io.Mask.Input("character_mask", optional=True,
                              tooltip="Replacement mode: 1 where the new person is generated (e.g. DreamActor "
                                      "Character Mask, or any person mask), one per driving frame."),
                SolverSettingsType.Input("solver_settings", optional=True,
                                         tooltip="DreamActor Solver Settings: steps, solver, shift, cfg. Replaces "
                                                 "the preset."),
                WindowSettingsType.Input("window_settings", optional=True,
                                         tooltip="DreamActor Window Settings: window length, carried frames, colour "
                                                 "match (default: 77-frame windows)."),
                StrengthSettingsType.Input("strength_settings", optional=True,
                                           tooltip="DreamActor Strength Settings: pose and face strengths over the "
                                                   "schedule (default: both 1 throughout)."),
                Signals.Input("signals", optional=True,
                              tooltip="Further signals from signal nodes (e.g. a depth map), for a model variant "
                                      "that reads them; one per guidance frame, as the guidance."),
                io.Combo.Input("preset", options=list(PRESET_NAMES), default="standard", tooltip=PRESET_TOOLTIP),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Noise seed: the same seed gives the same video on the same device."),
                io.Int.Input("width", default=0, min=0, max=4096, step=16,
                             tooltip="Output width (0 = the guidance width). Rounded to a multiple of 16."),
                io.Int.Input("height", default=0, min=0, max=4096, step=16,
                             tooltip="Output height (0 = the guidance height). Rounded to a multiple of 16."),
                io.Combo.Input("aspect", options=ASPECTS, default="letterbox",
                               tooltip="How the reference is fitted to the output size; use the same as Render Guidance."),
                io.Int.Input("frame_count", default=0, min=0, max=100000,
                             tooltip="How many guidance frames to animate (0 = all). With pose_latents it is "
                                     "rounded down to 4n+1."),
            ],
            outputs=[io.Latent.Output(display_name="latent", tooltip="The animation as a plain Wan video LATENT "
                                                                     "(raw VAE means); Decode to Frames or VAE "
                                                                     "Decode turns it into frames.")],
        )

    @classmethod
    def execute(cls, model, vae, reference, preset, seed, width, height, aspect, frame_count, guidance=None,
                pose_latents=None, face_crops=None, face_tokens=None, extra_references=None, positive=None,
                negative=None, clip_vision_output=None, background_video=None, character_mask=None,
                solver_settings=None, window_settings=None, strength_settings=None, signals=None) -> io.NodeOutput:
        from dreamactor_core.sampling.pipeline import animate_guidance

        node = "DreamActor Sampler"
        run = sampler_model(model, node)
        model = run.dit
        settings = sampler_settings(preset, seed, aspect, solver_settings, window_settings, strength_settings)
        if run.shift is not None:  # a ModelSamplingSD3 on the MODEL sets the shift
            settings = replace(settings, shift=run.shift)
        vae = core_vae(vae, node)
        guide, latents = _pose_source(node, vae, guidance, pose_latents, frame_count, width, height, aspect)
        faces, tokens = _face_source(node, face_crops, face_tokens, frame_count, latents is not None)
        ref = image_to_uint8(reference[:1], "reference")[0]
        extras = [] if extra_references is None else list(image_to_uint8(extra_references, "extra_references"))
        replacement = _replacement(node, background_video, character_mask, guide, latents, frame_count, aspect)
        signals = _signals(signals, frame_count)
        windows: list[torch.Tensor] = []  # each window's raw latent, as a LATENT holds it
        with host.node_errors(node, "guidance", also=("background video", "character mask")), torch.inference_mode():
            result = animate_guidance(ref, guide, faces, model, vae, text=text_embeddings(positive, "positive"),
                                      text_null=text_embeddings(negative, "negative"),
                                      clip_fea=clip_features(clip_vision_output), settings=settings,
                                      extra_references=extras, aspect=aspect, pose_latents=latents,
                                      face_tokens=tokens, replacement=replacement, frames_out=False, signals=signals,
                                      progress=host.progress_callback(),
                                      cancel=host.cancel_callback(),
                                      latent_sink=lambda lat: windows.append(vae.denormalize(lat).float().cpu()))
        samples = _stitch(windows, result.num_frames, settings)
        g = settings.guidance
        notes = [f"{result.num_frames} frames, {result.width}x{result.height}",
                 f"{settings.steps} {settings.solver} steps, shift {settings.shift:g}, cfg {g.cfg:g} "
                 f"({'solver settings' if solver_settings is not None else preset + ' preset'})",
                 *run.notes, *result.notes]
        made = 4 * (samples.shape[2] - 1) + 1
        if made != result.num_frames:  # a video latent holds 4n+1 frames; the last window was padded to that
            notes.append(f"the LATENT holds {made} frames (4n+1): the last {made - result.num_frames} run past the "
                         "guidance's end")
        if negative is not None and g.cfg <= 1.0:
            notes.append("negative prompt unused at cfg 1 (one model call per step)")
        return io.NodeOutput({"samples": samples}, ui=ui.PreviewText("\n".join(notes)))


def _signals(signals, frame_count: int):
    """The signals dict cut to the first ``frame_count`` frames (each entry by its own time axis and rate)."""
    if not signals or not frame_count:
        return signals
    from dreamactor_core.sampling.conditioning import cut_entry
    from dreamactor_core.sampling.windows import Window

    return {name: cut_entry(name, value, Window(0, 0, int(frame_count), 0)) for name, value in signals.items()}


def _replacement(node: str, background_video, character_mask, guide, latents, frame_count: int, aspect: str):
    """The replacement-mode inputs framed like the guidance, or None in animation mode."""
    from dreamactor_core.sampling.replace import check_replacement, fit_replacement

    if background_video is None and character_mask is None:
        return None
    if background_video is None or character_mask is None:
        raise DreamActorError(f"{node}: replacement mode needs both 'background_video' and 'character_mask'; "
                              "connect both (or neither for animation mode)")
    bg = image_to_uint8(background_video, "background_video")
    h, w = guide.shape[1:3] if guide is not None else (latents.shape[3] * 8, latents.shape[4] * 8)
    frames = guide.shape[0] if guide is not None else 4 * (latents.shape[2] - 1) + 1
    # Checked here with the sockets' names, before any encoding or sampling.
    with host.node_errors(node, "character_mask", also=("background_video",)):
        bg, mask = fit_replacement(bg, character_mask, int(w), int(h), aspect, frames=int(frame_count))
        return check_replacement(bg, mask, int(frames), int(w), int(h), names=("background_video", "character_mask"))


def _pose_source(node: str, vae, guidance, pose_latents, frame_count: int, width: int, height: int, aspect: str):
    """(uint8 guidance frames or None, normalized pose latents or None) from the sampler's inputs."""
    from dreamactor_core.sampling.frames import fit_frames

    if (guidance is None) == (pose_latents is None):
        raise DreamActorError(f"{node}: connect exactly one of 'guidance' (frames) and 'pose_latents' (a LATENT)")
    for name, value in (("width", width), ("height", height)):
        if value:  # 0 means "the guidance's own size"
            host.check_pixels(node, name, value)
    if guidance is not None:
        guide = image_to_uint8(guidance, "guidance")
        if frame_count:
            guide = guide[:frame_count]
        if width and height and (guide.shape[2], guide.shape[1]) != (width, height):
            guide = fit_frames(guide, int(width), int(height), aspect)
        return guide, None
    samples = pose_latents.get("samples") if isinstance(pose_latents, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim != 5 or samples.shape[:2] != (1, 16):
        shape = tuple(getattr(samples, "shape", ()))
        raise DreamActorError(f"{node}, input 'pose_latents': expected one Wan video latent [1,16,T,H,W] "
                              f"(e.g. from DreamActor VAE Encode), got {shape}")
    lat_h, lat_w = int(samples.shape[3]) * 8, int(samples.shape[4]) * 8
    if width and height and (width, height) != (lat_w, lat_h):
        raise DreamActorError(f"{node}, input 'width'/'height': pose_latents fix the size at {lat_w}x{lat_h}; "
                              "set width and height to 0 (or encode guidance rendered at the size you want)")
    if frame_count:
        samples = samples[:, :, : (int(frame_count) - 1) // 4 + 1]
    from dreamactor_core.sampling.conditioning import module_device

    with host.node_errors(node, "pose_latents"):
        latents = vae.normalize(samples.to(module_device(vae)).float())  # LATENT holds raw means
    return None, latents


def _face_source(node: str, face_crops, face_tokens, frame_count: int, from_latents: bool):
    """(uint8 face crops or None, face tokens or None) from the sampler's inputs."""
    if face_crops is not None and face_tokens is not None:
        raise DreamActorError(f"{node}: connect 'face_crops' or 'face_tokens', not both")
    if face_tokens is not None:
        if not isinstance(face_tokens, torch.Tensor) or face_tokens.ndim != 4 or face_tokens.shape[0] != 1:
            shape = tuple(getattr(face_tokens, "shape", ()))
            raise DreamActorError(f"{node}, input 'face_tokens': expected tokens [1, T, K, D] from DreamActor Face "
                                  f"Motion Encode, got {shape}")
        if frame_count:
            face_tokens = face_tokens[:, : (int(frame_count) - 1) // 4 + 1]
        return None, face_tokens
    if face_crops is None:
        return None, None
    faces = image_to_uint8(face_crops, "face_crops")
    if frame_count:
        faces = faces[: (int(frame_count) - 1) // 4 * 4 + 1 if from_latents else int(frame_count)]
    return faces, None


class DecodeToFrames(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorDecodeToFrames",
            display_name="DreamActor Decode to Frames",
            category=CATEGORY,
            description="Decodes a video LATENT (the sampler's, or any Wan video latent) into frames, chunk by "
                        "chunk straight into the output (a long video's frames exist once), and passes the fps "
                        "on, ready for Create Video / Save Video.",
            inputs=[
                io.Vae.Input("vae", tooltip=VAE_TOOLTIP),
                io.Latent.Input("latent", tooltip="From DreamActor Sampler (or any Wan video latent)."),
                io.Float.Input("fps", default=25.0, min=0.1, max=240.0, step=0.01,
                               tooltip="Frame rate of the driving video (connect Load Video's fps), passed on."),
                io.Int.Input("tile", default=0, min=0, max=4096, step=32,
                             tooltip="Spatial tile size in pixels for decoding (0 = whole frame)."),
            ],
            outputs=[io.Image.Output(display_name="images", tooltip="The animation's frames (IMAGE batch)."),
                     io.Float.Output(display_name="fps", tooltip="The driving video's frame rate, for Create Video.")],
        )

    @classmethod
    def execute(cls, vae, latent, fps, tile) -> io.NodeOutput:
        return io.NodeOutput(decode_latent(vae, latent, tile, "DreamActor Decode to Frames"), float(fps))


def parse_angles(text: str) -> list[float]:
    """``"-45, 45"`` -> ``[-45.0, 45.0]``; errors name the ``angles`` input."""
    try:
        return [float(v) for v in re.split(r"[,;\s]+", text.strip()) if v]
    except ValueError:
        raise DreamActorError(f"angles: cannot read '{text}'; write yaw angles in degrees such as '-45, 45'") from None


class PseudoReferences(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorPseudoReferences",
            display_name="DreamActor Pseudo References",
            category=CATEGORY,
            description="Animates the reference through a short turn-around built from its own skeleton and head "
                        "sphere, and picks frames at the chosen yaw angles as extra reference images (the paper's "
                        "complementary appearance guidance). Check them in the preview, or replace them.",
            inputs=[
                io.Model.Input("model", tooltip=MODEL_TOOLTIP),
                io.Vae.Input("vae", tooltip=VAE_TOOLTIP),
                io.Image.Input("reference", tooltip="The person to animate (first image)."),
                *_conditioning_inputs(),
                io.Int.Input("width", default=512, min=16, max=4096, step=16, tooltip="Width of the turn-around."),
                io.Int.Input("height", default=512, min=16, max=4096, step=16, tooltip="Height of the turn-around."),
                io.Combo.Input("aspect", options=ASPECTS, default="letterbox",
                               tooltip="How the reference is fitted to width x height."),
                io.Combo.Input("style", options=STYLES, default="dreamactor",
                               tooltip="Guidance drawing of the turn-around; use the style your checkpoint was "
                                       "trained on (openpose for Wan2.2-Animate, dreamactor for the DreamActor-M1 "
                                       "variant)."),
                io.String.Input("angles", default="-45, 45", tooltip="Yaw angles (degrees) of the views to keep."),
                io.Int.Input("frames", default=17, min=5, max=81, step=4,
                             tooltip="Length of the turn-around clip (4n+1)."),
                io.Int.Input("steps", default=20, min=1, max=200, tooltip="Sampling steps."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Noise seed."),
            ],
            outputs=[io.Image.Output(display_name="references", tooltip="The reference seen from the chosen angles "
                                                                            "(IMAGE batch), for extra_references.")],
        )

    @classmethod
    def execute(cls, model, vae, reference, width, height, aspect, style, angles, frames, steps, seed,
                positive=None, negative=None, clip_vision_output=None) -> io.NodeOutput:
        from dreamactor_core.sampling.pipeline import AnimateSettings, animate_guidance
        from dreamactor_core.sampling.pseudo_refs import make_pseudo_references
        from dreamactor_core.signals.extract import extract_motion

        node = "DreamActor Pseudo References"
        run = sampler_model(model, node)
        model = run.dit
        vae = core_vae(vae, node)
        with host.node_errors(node, "angles"):
            yaws = parse_angles(angles)
        ref = image_to_uint8(reference[:1], "reference")[0]
        with host.node_errors(node, "reference"):
            ref_motion = extract_motion(ref[None], 25.0, name="reference")
        settings = AnimateSettings(steps=int(steps), seed=int(seed), window=int(frames), refert=1,  # one window
                                   aspect=aspect, **({} if run.shift is None else {"shift": run.shift}))
        text, text_null = text_embeddings(positive, "positive"), text_embeddings(negative, "negative")
        clip = clip_features(clip_vision_output)

        def animate_clip(guidance: np.ndarray, faces: np.ndarray) -> np.ndarray:
            return animate_guidance(ref, guidance, faces, model, vae, text=text, text_null=text_null, clip_fea=clip,
                                    settings=settings, aspect=aspect, cancel=host.cancel_callback()).frames

        with host.node_errors(node, "reference"), torch.inference_mode():
            views = make_pseudo_references(ref, ref_motion, animate_clip, int(width), int(height), angles=yaws,
                                           frames=int(frames), aspect=aspect, style=style)
        if not views:
            raise DreamActorError(f"{node}, input 'angles': give at least one yaw angle")
        images = to_image(np.stack([img for _, img in views]))
        return io.NodeOutput(images, ui=ui.PreviewImage(images, cls=cls))


NODES = [Sampler, DecodeToFrames, PseudoReferences]
