"""The whole pipeline against two runs of the official Wan2.2-Animate pipeline (shared pipeline_small).

Weights go through the public loaders, inputs through ``animate_guidance`` with the default
(official) settings; the noise is not injected: the official stream (one CPU generator seeded
once, drawn window after window) must reproduce it. See that folder's README.
"""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from dreamactor_core.sampling import schedule, solvers
from pipeline_small import NAMES, config, load_common, load_models, replay

MAX_ABS = 1e-4  # the folder's suggested acceptance; README "Same as official" gives the measured figure


@pytest.fixture(scope="module")
def folder(conformance_dir):
    d = conformance_dir / "pipeline_small"
    if not d.is_dir():
        pytest.skip("pipeline_small conformance data not found")
    return d


@pytest.fixture(scope="module")
def models(conformance_dir, folder, tmp_path_factory):
    return load_models(conformance_dir, tmp_path_factory.mktemp("pipeline_small"))


@pytest.mark.parametrize("name", NAMES)
def test_official_video_sigmas_timesteps_and_noise(name, folder, models, monkeypatch):
    cfg = config(folder, name)
    walked, given = [], []
    real_sample = solvers.sample

    def sample(velocity, x, sigmas, solver, **kw):  # record what each window starts from and walks
        walked.append((x.clone(), sigmas.clone()))
        return real_sample(velocity, x, sigmas, solver, **kw)

    monkeypatch.setattr(solvers, "sample", sample)
    hook = models[0].register_forward_pre_hook(lambda m, args: given.append(args[1].clone()))
    try:
        result, video = replay(folder, name, models, load_common(folder))
    finally:
        hook.remove()
    exp = load_file(str(folder / f"{name}.expected.safetensors"))
    noise = load_file(str(folder / f"{name}.inputs.safetensors"))
    windows = len([k for k in exp if k.startswith("sigmas_w")])
    assert len(walked) == windows
    calls = 2 if cfg["guide_scale"] > 1 else 1
    assert len(given) == windows * cfg["steps"] * calls
    for k, (x, sigmas) in enumerate(walked):
        assert torch.equal(x[0], noise[f"noise_w{k}"]), f"window {k}: initial noise"
        assert torch.equal(sigmas.float(), exp[f"sigmas_w{k}"]), f"window {k}: sigmas"
        per_call = torch.stack(given[k * cfg["steps"] * calls:(k + 1) * cfg["steps"] * calls])[:, 0]
        want = exp[f"timesteps_w{k}"].repeat_interleave(calls)
        assert torch.equal(per_call, want.float()), f"window {k}: DiT timesteps"
    assert result.frames.shape == tuple(exp["video_u8_trunc"].shape)
    diff = float((video - exp["video_f32"]).abs().max())
    assert diff <= MAX_ABS, f"{name}: max abs {diff:.2e} against the official video"
    # the official saver truncates; float differences this small move few values across a level
    levels = (torch.from_numpy(result.frames).int() - exp["video_u8_trunc"].int()).abs()
    assert int(levels.max()) <= 1 and float((levels > 0).float().mean()) < 1e-3


def test_schedule_alone_gives_the_stored_grids(folder):
    for name in NAMES:
        cfg = config(folder, name)
        exp = load_file(str(folder / f"{name}.expected.safetensors"))
        sigmas, t = schedule.sampling_schedule(cfg["solver_project"], cfg["steps"], cfg["shift"])
        assert torch.equal(sigmas.float(), exp["sigmas_w0"]) and torch.equal(t.long(), exp["timesteps_w0"])
        # the pack's former grid and float timesteps are a measurable departure
        old, t_old = schedule.sampling_schedule(cfg["solver_project"], cfg["steps"], cfg["shift"],
                                                grid="uniform", timesteps="float")
        assert not torch.equal(t_old, t)
        assert torch.equal(old.float(), exp["sigmas_w0"]) == (cfg["solver_project"] != "unipc")
