"""Classifier-free guidance and per-signal strengths for one denoiser call per step.

The denoiser knows no signal by name: a window's conditioning is a set of named entries
(:mod:`dreamactor_core.model.entries`), and the model's contract says which it consumes.
The negative branch gets each entry's declared negative: Wan2.2-Animate's negative text
and face crops that are all -1 (a black face, i.e. "no expression"), and the same pose,
reference, mask and CLIP features as the positive branch.

A signal's strength acts only inside a window ``[start, end]`` of the schedule (percent
0 = first step, 1 = end; see :mod:`.schedule`). A strength ``s`` blends every entry of that
signal between its "absent" value and its real value: ``absent + s * (real - absent)``.
Absent pose is the latent of a black pose video (what the pose branch sees when there is
nobody to follow); absent face is the negative branch's face tokens. So ``s = 0`` switches
a signal off without feeding the model anything it never saw in training, and ``s = 1`` is
the official behaviour.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..model.contract import model_contract
from ..model.entries import blend, entry
from ..utils import DreamActorError
from .conditioning import WindowConditioning


@dataclass
class StrengthWindow:
    """A signal strength applied from ``start`` to ``end`` percent of the schedule."""

    strength: float = 1.0
    start: float = 0.0
    end: float = 1.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.start <= self.end <= 1.0):
            raise DreamActorError(
                f"strength window: need 0 <= start <= end <= 1, got start={self.start}, end={self.end}")
        if not -10.0 <= self.strength <= 10.0:
            raise DreamActorError(f"strength: {self.strength} is out of range [-10, 10]")

    def at(self, percent: float) -> float:
        """Strength at schedule ``percent`` (0 outside the window)."""
        return float(self.strength) if self.start <= percent <= self.end else 0.0


@dataclass
class GuidanceSettings:
    """CFG scale plus strength windows per signal (cfg <= 1 = one model call per step, no CFG).

    ``pose`` and ``face`` are the built-in signals' windows; ``strengths`` holds those of any
    other signal, by the ``signal`` name its entries declare.
    """

    cfg: float = 1.0
    pose: StrengthWindow = field(default_factory=StrengthWindow)
    face: StrengthWindow = field(default_factory=StrengthWindow)
    strengths: dict = field(default_factory=dict)

    def strength(self, signal: str | None) -> StrengthWindow | None:
        """The strength window of ``signal`` (None: always full strength)."""
        if signal == "pose":
            return self.pose
        if signal == "face":
            return self.face
        return self.strengths.get(signal)

    @property
    def pose_always_full(self) -> bool:
        """True when the pose strength is 1 over the whole schedule (no "absent pose" needed)."""
        p = self.pose
        return p.strength == 1.0 and p.start == 0.0 and p.end == 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.cfg <= 30.0:
            raise DreamActorError(f"cfg: {self.cfg} is out of range [0, 30]; Wan2.2-Animate uses 1.0")


class GuidedDenoiser:
    """Velocity function ``(x, sigma, step) -> v`` for :func:`.solvers.sample`.

    The model prepares the window's conditioning once (``prepare_conditioning``: face tokens,
    text K/V); every step then blends each entry by its signal's strength and calls the model
    with the entries its contract consumes: once at CFG 1, twice otherwise.
    """

    def __init__(self, model, cond: WindowConditioning, settings: GuidanceSettings, steps: int,
                 cache: dict | None = None, timesteps: torch.Tensor | None = None):
        self.model = model
        self.contract = model_contract(model)
        self.cond = cond
        self.settings = settings
        self.steps = int(steps)
        # the model's timestep per step (schedule.sampling_schedule); None: 1000 * sigma
        self.timesteps = None if timesteps is None else [float(v) for v in timesteps]
        self.calls = 0
        self.entries = model.prepare_conditioning(cond.entries.copy(), {} if cache is None else cache)
        self.names = [n for n in self.entries.names() if n in self.contract.consumes]

    def positive(self, percent: float) -> dict:
        """The positive branch's entries at schedule ``percent`` (each scaled by its signal's strength)."""
        out = {}
        for name in self.names:
            value = self.entries[name]
            signal = entry(name).signal
            window = self.settings.strength(signal)
            s = 1.0 if window is None else window.at(percent)
            if s != 1.0:
                absent = self.entries.absent(name)
                if absent is None:
                    raise DreamActorError(f"{signal} strength != 1 needs the absent value of {name} "
                                          "(for pose: the black-video latents, pose_null)")
                value = blend(absent, value, s)
            out[name] = value
        return out

    def negative(self, positive: dict) -> dict:
        """The negative branch's entries, each its declared negative."""
        return {name: self.entries.negative(name, positive[name]) for name in self.names}

    def _call(self, x, t, entries: dict):
        self.calls += 1
        return self.model(x, t, **entries)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, sigma: float, step: int) -> torch.Tensor:
        percent = step / self.steps
        t_in = sigma * 1000.0 if self.timesteps is None else self.timesteps[step]
        t = torch.full((x.shape[0],), t_in, dtype=torch.float32, device=x.device)
        pos = self.positive(percent)
        v = self._call(x, t, pos).float()
        cfg = self.settings.cfg
        if cfg > 1.0:  # as Wan2.2-Animate: a scale of 1 or below means no unconditional branch
            v_neg = self._call(x, t, self.negative(pos)).float()
            v = v_neg + cfg * (v - v_neg)
        if not torch.isfinite(v).all():
            raise FloatingPointError(f"the model returned NaN/inf at step {step} (sigma {sigma:.4f}); "
                                     "try compute dtype float32 or bfloat16 instead of float16")
        return v
