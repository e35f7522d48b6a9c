"""Small settings nodes for the sampler: solver, windows and signal strengths, each its own socket.

The sampler's common case is a preset and a seed; these nodes are plugged in only to change what a
preset or the defaults decide. Their widget defaults are the core's defaults (``AnimateSettings``),
so a settings node left untouched samples exactly as the sampler does without it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from comfy_api.latest import io

from . import host

CATEGORY = "DreamActor/sampling"
SOLVERS = ["unipc", "dpmpp_2m", "euler"]
# Settings travel between nodes as these core objects, under the pack's own socket types.
SolverSettingsType = io.Custom("DREAMACTOR_SOLVER_SETTINGS")
WindowSettingsType = io.Custom("DREAMACTOR_WINDOW_SETTINGS")
StrengthSettingsType = io.Custom("DREAMACTOR_STRENGTH_SETTINGS")


@dataclass(frozen=True)
class WindowChoice:
    """Frames per window, frames carried into the next window, and the colour pull between windows."""

    window: int
    motion_frames: int
    color_match: float


def _defaults():
    from dreamactor_core.sampling.pipeline import AnimateSettings

    return AnimateSettings()


class SolverSettings(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        d = _defaults()
        return io.Schema(
            node_id="DreamActorSolverSettings",
            display_name="DreamActor Solver Settings",
            category=CATEGORY,
            description="Steps, solver, schedule shift and CFG for DreamActor Sampler's solver_settings input. "
                        "Connected, they replace the sampler's preset.",
            inputs=[
                io.Int.Input("steps", default=d.steps, min=1, max=200,
                             tooltip="Sampling steps (model calls at cfg 1)."),
                io.Combo.Input("solver", options=SOLVERS, default=d.solver,
                               tooltip="unipc: second-order predictor-corrector, Wan2.2's own default. "
                                       "dpmpp_2m: second order. euler: first order, what step-distill LoRAs use."),
                io.Float.Input("shift", default=d.shift, min=0.1, max=100.0, step=0.1,
                               tooltip="Timestep shift of the flow-matching schedule (Wan uses 5). A MODEL "
                                       "patched by ModelSamplingSD3 uses that node's shift instead."),
                io.Float.Input("cfg", default=d.guidance.cfg, min=0.0, max=30.0, step=0.1,
                               tooltip="Classifier-free guidance scale. 1 or below means no CFG: one model call per "
                                       "step, the negative prompt ignored (as Wan2.2-Animate); above 1, two calls."),
            ],
            outputs=[SolverSettingsType.Output(display_name="solver_settings",
                                               tooltip="For DreamActor Sampler's solver_settings input.")],
        )

    @classmethod
    def execute(cls, steps, solver, shift, cfg) -> io.NodeOutput:
        from dreamactor_core.sampling.guidance import GuidanceSettings
        from dreamactor_core.sampling.presets import SolverSettings as Solver

        with host.node_errors("DreamActor Solver Settings", "cfg"):
            GuidanceSettings(cfg=float(cfg))  # range check now, not after the model is loaded
        return io.NodeOutput(Solver(steps=int(steps), solver=solver, shift=float(shift), cfg=float(cfg)))


class WindowSettings(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        d = _defaults()
        return io.Schema(
            node_id="DreamActorWindowSettings",
            display_name="DreamActor Window Settings",
            category=CATEGORY,
            description="How DreamActor Sampler splits a long video: frames per window, frames carried from one "
                        "window into the next, and the colour pull between windows.",
            inputs=[
                io.Int.Input("window", default=d.window, min=5, max=257, step=4,
                             tooltip="Frames per window (4n+1). Longer videos are made window by window."),
                io.Int.Input("motion_frames", default=d.refert, min=1, max=33, step=4,
                             tooltip="Frames carried from one window into the next as motion context (4n+1; "
                                     "Wan2.2-Animate uses 1)."),
                io.Float.Input("color_match", default=d.color_match, min=0.0, max=1.0, step=0.05,
                               tooltip="Pull the frames each window carries into the next towards the previous "
                                       "window's colours, so later windows do not drift (0 = off)."),
            ],
            outputs=[WindowSettingsType.Output(display_name="window_settings",
                                               tooltip="For DreamActor Sampler's window_settings input.")],
        )

    @classmethod
    def execute(cls, window, motion_frames, color_match) -> io.NodeOutput:
        from dreamactor_core.sampling.windows import plan_windows

        with host.node_errors("DreamActor Window Settings", "window / motion_frames"):
            plan_windows(int(window) * 2, int(window), int(motion_frames))  # the same checks the sampler makes
        return io.NodeOutput(WindowChoice(int(window), int(motion_frames), float(color_match)))


class StrengthSettings(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        frac = dict(min=0.0, max=1.0, step=0.01)
        return io.Schema(
            node_id="DreamActorStrengthSettings",
            display_name="DreamActor Strength Settings",
            category=CATEGORY,
            description="How strongly pose and face motion steer the video, each over a part of the schedule "
                        "(0 = first step, 1 = last), for DreamActor Sampler's strength_settings input.",
            inputs=[
                io.Float.Input("pose_strength", default=1.0, min=0.0, max=2.0, step=0.05,
                               tooltip="How strongly the pose guidance steers the motion."),
                io.Float.Input("pose_start", default=0.0, **frac,
                               tooltip="Schedule fraction where pose guidance starts."),
                io.Float.Input("pose_end", default=1.0, **frac, tooltip="Schedule fraction where pose guidance ends."),
                io.Float.Input("face_strength", default=1.0, min=0.0, max=2.0, step=0.05,
                               tooltip="How strongly the face motion steers expressions."),
                io.Float.Input("face_start", default=0.0, **frac,
                               tooltip="Schedule fraction where face guidance starts."),
                io.Float.Input("face_end", default=1.0, **frac, tooltip="Schedule fraction where face guidance ends."),
            ],
            outputs=[StrengthSettingsType.Output(display_name="strength_settings",
                                                 tooltip="For DreamActor Sampler's strength_settings input.")],
        )

    @classmethod
    def execute(cls, pose_strength, pose_start, pose_end, face_strength, face_start, face_end) -> io.NodeOutput:
        from dreamactor_core.sampling.guidance import StrengthWindow

        with host.node_errors("DreamActor Strength Settings", "strengths"):
            pose = StrengthWindow(float(pose_strength), float(pose_start), float(pose_end))
            face = StrengthWindow(float(face_strength), float(face_start), float(face_end))
        return io.NodeOutput((pose, face))


def sampler_settings(preset: str, seed: int, aspect: str, solver=None, windows: WindowChoice | None = None,
                     strengths=None):
    """The core's ``AnimateSettings`` from the sampler's preset, seed and optional settings nodes."""
    from dreamactor_core.sampling.presets import preset as named_preset

    settings = replace(_defaults(), seed=int(seed), aspect=aspect)
    with host.node_errors("DreamActor Sampler", "preset"):
        chosen = solver if solver is not None else named_preset(preset)
    settings = chosen.apply(settings)
    if windows is not None:
        settings = replace(settings, window=windows.window, refert=windows.motion_frames,
                           color_match=windows.color_match)
    if strengths is not None:
        pose, face = strengths
        settings = replace(settings, guidance=replace(settings.guidance, pose=pose, face=face))
    return settings


NODES = [SolverSettings, WindowSettings, StrengthSettings]
