"""Named solver presets: steps, solver, schedule shift and CFG that belong together.

``standard`` is whatever :class:`.pipeline.AnimateSettings` defaults to (Wan2.2-Animate's own
sampling), read from there so the two never drift apart. ``distilled`` is for a Wan step-distill
LoRA of the lightx2v family (e.g. ``lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16``) merged
into the model: those LoRAs were trained to denoise in 4 steps without CFG.

Where the distilled numbers come from (facts, as published by the LoRAs' authors and users):

* LightX2V's own step-distill inference (``WanStepDistillScheduler``) uses
  ``denoising_step_list = [1000, 750, 500, 250]`` on a 1000-step grid shifted with
  ``sample_shift = 5`` and CFG disabled, i.e. model timesteps 1000, 937.5, 833.3, 625 (floats); its update is
  ``x0 = x - sigma * v`` then ``x_next = x0 + sigma_next * v``, a plain Euler step of the flow ODE.
  Our uniform grid with shift 5 and 4 steps gives exactly those timesteps (tested).
* Their authors say 8 steps also work, with the same shift-5 grid's timesteps.
* kijai's WanVideoWrapper runs the LoRA at CFG 1 with its ``flowmatch_distill`` scheduler (fixed
  4 steps: 999, 750, 500, 250) or with lcm / dpm++ at 4-8 steps and shift 5-8.

So the preset is 4 Euler steps at shift 5 and CFG 1; 6 or 8 steps (a Solver Settings node) trade
time for detail. Window and carry-over settings are not part of a preset: they stay the defaults.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..utils import DreamActorError


@dataclass(frozen=True)
class SolverSettings:
    """Steps, solver, schedule shift and CFG scale of one sampling run."""

    steps: int
    solver: str
    shift: float
    cfg: float
    grid: str | None = None  # sigma grid and timestep kind (schedule.sampling_schedule); None keeps the settings'
    timesteps: str | None = None

    def apply(self, settings):
        """A copy of ``settings`` (an ``AnimateSettings``) sampling with these values."""
        guidance = replace(settings.guidance, cfg=float(self.cfg))
        schedule = {k: v for k, v in (("grid", self.grid), ("timesteps", self.timesteps)) if v is not None}
        return replace(settings, steps=int(self.steps), solver=self.solver, shift=float(self.shift),
                       guidance=guidance, **schedule)

    @property
    def model_calls_per_step(self) -> int:
        """CFG 1 or below means no negative branch: one model call per step, else two."""
        return 1 if self.cfg <= 1.0 else 2


def _standard() -> SolverSettings:
    from .pipeline import AnimateSettings

    d = AnimateSettings()
    return SolverSettings(steps=d.steps, solver=d.solver, shift=d.shift, cfg=d.guidance.cfg)


# LightX2V feeds its DiT 1000 * sigma as a float on the plain shifted grid (no integer timesteps)
DISTILLED = SolverSettings(steps=4, solver="euler", shift=5.0, cfg=1.0, grid="uniform", timesteps="float")
PRESET_NAMES = ("standard", "distilled")


def preset(name: str) -> SolverSettings:
    """The solver settings of preset ``name`` (``standard`` or ``distilled``)."""
    if name == "standard":
        return _standard()
    if name == "distilled":
        return DISTILLED
    raise DreamActorError(f"preset: unknown '{name}'; choose one of {', '.join(PRESET_NAMES)}")
