"""Solver presets: the distilled preset reproduces the step-distill LoRAs' published schedule, and the
latent-only pipeline (what the sampler node runs) gives the same latents with fewer decodes."""
from __future__ import annotations

import numpy as np
import torch

from dreamactor_core.sampling import schedule
from dreamactor_core.sampling.pipeline import AnimateSettings, animate_guidance
from dreamactor_core.sampling.presets import DISTILLED, preset
from sampling_fakes import OracleDiT, PoolVAE


def test_distilled_preset_is_lightx2vs_four_step_schedule_at_cfg_1():
    # LightX2V: denoising_step_list [1000, 750, 500, 250] on a shift-5 grid -> these model timesteps
    published = [1000.0, 937.5, 833.3333, 625.0]
    _, timesteps = schedule.sampling_schedule(DISTILLED.solver, DISTILLED.steps, DISTILLED.shift,
                                              grid=DISTILLED.grid, timesteps=DISTILLED.timesteps)
    np.testing.assert_allclose(timesteps.numpy(), published, rtol=1e-6)
    assert (DISTILLED.solver, DISTILLED.cfg, DISTILLED.model_calls_per_step) == ("euler", 1.0, 1)
    settings = DISTILLED.apply(AnimateSettings(window=33, refert=1))
    assert (settings.steps, settings.solver, settings.shift, settings.guidance.cfg) == (4, "euler", 5.0, 1.0)
    assert (settings.grid, settings.timesteps) == ("uniform", "float")
    assert (settings.window, settings.refert) == (33, 1)  # windows are not part of a preset


def test_standard_preset_is_the_core_default():
    d, p = AnimateSettings(), preset("standard")
    assert (p.steps, p.solver, p.shift, p.cfg) == (d.steps, d.solver, d.shift, d.guidance.cfg)


class CountingVAE(PoolVAE):
    def __init__(self):
        super().__init__()
        self.decodes = 0

    def decode(self, latent):
        self.decodes += 1
        return super().decode(latent)


def test_latent_only_run_skips_the_last_decode_and_keeps_the_latents():
    g = torch.Generator().manual_seed(0)
    ref = torch.randint(0, 256, (32, 48, 3), generator=g).to(torch.uint8).numpy()
    guide = torch.randint(0, 256, (13, 32, 48, 3), generator=g).to(torch.uint8).numpy()
    settings = AnimateSettings(steps=2, solver="euler", window=9, refert=5)  # windows of 9 and 9 frames
    runs = {}
    for frames_out in (True, False):
        vae, lats = CountingVAE(), []
        out = animate_guidance(ref, guide, None, OracleDiT(), vae, settings=settings, aspect="letterbox",
                               latent_sink=lats.append, frames_out=frames_out)
        runs[frames_out] = (vae.decodes, lats, out)
    assert runs[True][0] == 2 and runs[False][0] == 1  # only the frames carried into window 2 are decoded
    for a, b in zip(runs[True][1], runs[False][1]):
        torch.testing.assert_close(a, b)
    assert runs[False][2].frames is None and runs[False][2].num_frames == 13
