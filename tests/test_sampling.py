"""Schedule, solvers, guidance and window conditioning."""
from __future__ import annotations

import gc
import math
import weakref

import numpy as np
import pytest
import torch

from dreamactor_core.sampling import conditioning as C
from dreamactor_core.sampling import schedule, solvers
from dreamactor_core.sampling.guidance import GuidanceSettings, GuidedDenoiser, StrengthWindow
from dreamactor_core.utils import Cancelled, DreamActorError
from sampling_fakes import OracleDiT, PoolVAE


def test_shifted_schedule_endpoints_and_shape():
    s = schedule.flow_sigmas(20, 5.0)
    assert s.shape == (21,) and s[0] == 1.0 and s[-1] == 0.0
    assert torch.all(s[1:] < s[:-1])
    # the shift moves the midpoint toward noise: 5 * 0.5 / (1 + 4 * 0.5)
    assert math.isclose(float(schedule.flow_sigmas(2, 5.0)[1]), 2.5 / 3.0, rel_tol=1e-12)
    assert torch.allclose(schedule.flow_sigmas(8, 1.0), torch.linspace(1, 0, 9, dtype=torch.float64))
    with pytest.raises(DreamActorError, match="steps"):
        schedule.flow_sigmas(0)


def _gaussian_flow(m: float, s: float):
    """Exact velocity and ODE solution for data N(m, s^2) under x = (1-sigma) x0 + sigma n."""
    def std(sig):
        return math.sqrt((1 - sig) ** 2 * s * s + sig * sig)

    def velocity(x, sig, _i):
        z = (x - (1 - sig) * m) / std(sig)
        dstd = ((sig - 1) * s * s + sig) / std(sig)
        return -m + dstd * z

    def exact(x1, sig):
        return (1 - sig) * m + std(sig) * x1
    return velocity, exact


@pytest.mark.parametrize("shift", [1.0, 5.0])
def test_second_order_solvers_beat_euler(shift):
    velocity, exact = _gaussian_flow(m=1.5, s=0.8)
    x1 = torch.linspace(-2, 2, 11, dtype=torch.float64)
    truth = exact(x1, 0.0)
    err = {}
    for solver in solvers.SOLVERS:
        for n in (16, 32, 64):
            out = solvers.sample(velocity, x1.clone(), schedule.flow_sigmas(n, shift), solver)
            err[solver, n] = float((out.double() - truth).abs().max())
    for n in (16, 32, 64):
        assert err["dpmpp_2m", n] < 0.5 * err["euler", n]
        assert err["unipc", n] < 0.5 * err["euler", n]
    if shift == 1.0:  # on the uniform grid the asymptotic orders show: 1 for Euler, 2 for the others
        assert 1.7 < err["euler", 32] / err["euler", 64] < 2.3
        assert err["dpmpp_2m", 32] / err["dpmpp_2m", 64] > 2.8
        assert err["unipc", 32] / err["unipc", 64] > 3.5


def test_unipc_matches_an_independent_implementation():
    """UniPC (bh2, order 2, corrector on) against numbers from diffusers 0.35.2's
    UniPCMultistepScheduler (flow prediction, lower_order_final), computed once on this
    non-uniform grid; their solver and ours agree to float32 rounding."""
    velocity, exact = _gaussian_flow(m=1.5, s=0.8)
    grid = torch.tensor([0.999, 0.95, 0.85, 0.7, 0.5, 0.3, 0.15, 0.05, 0.0], dtype=torch.float64)
    x1 = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=torch.float64)
    reference = torch.tensor([-0.20467241875158299, 0.6470250175469846, 1.4987224538455526, 2.35041989014412,
                              3.2021173264426883], dtype=torch.float64)
    out = solvers.sample(velocity, x1.clone(), grid, "unipc").double()
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=0)
    # the predictor alone (rho = 1/2 with B(h) = expm1(-h)) is DPM-Solver++(2M): it must match
    # our DPM++ 2M step for step, and the corrector must move the result away from it
    from dreamactor_core.sampling.unipc import UniPC

    x, stepper = x1.clone().float(), UniPC(corrector=False)
    for i in range(len(grid) - 1):
        s, t = float(grid[i]), float(grid[i + 1])
        x = stepper.step(x, x - s * velocity(x, s, i), s, t)
    dpm = solvers.sample(velocity, x1.clone().float(), grid, "dpmpp_2m")
    torch.testing.assert_close(x, dpm, atol=1e-5, rtol=0)
    assert (out - dpm.double()).abs().max() > 1e-2


def test_solver_progress_cancel_and_memory_release():
    seen = []
    refs = []
    state = {"cancel": False}

    def velocity(x, sig, i):
        refs.append(weakref.ref(x))
        if i == 2:
            state["cancel"] = True
        return torch.ones_like(x)

    x = torch.zeros(1, 16, 3, 4, 4)
    with pytest.raises(Cancelled):
        solvers.sample(velocity, x, schedule.flow_sigmas(10), "euler",
                       progress=lambda d, t: seen.append((d, t)), cancel=lambda: state["cancel"])
    # cancelled before the 4th model call: within one step of the request
    assert len(refs) == 3 and seen == [(1, 10), (2, 10), (3, 10)]
    gc.collect()
    assert all(r() is None for r in refs[1:])  # intermediate states were freed
    with pytest.raises(DreamActorError, match="solver"):
        solvers.sample(velocity, x, schedule.flow_sigmas(2), "rk99")


def test_frame_mask_layout_matches_wan_animate():
    m = C.frame_mask(9, 1, 2, 3)  # 9 frames, 1 known: latent 0 all ones, latents 1-2 zero
    assert m.shape == (1, 4, 3, 2, 3)
    assert torch.all(m[:, :, 0] == 1) and torch.all(m[:, :, 1:] == 0)
    m5 = C.frame_mask(77, 5, 1, 1)[0, :, :, 0, 0]  # refert 5: frames 0..4 = latents 0 and 1
    assert m5[:, :2].eq(1).all() and m5[:, 2:].eq(0).all()
    m3 = C.frame_mask(9, 3, 1, 1)[0, :, :, 0, 0]  # frames 1,2 -> channels 0,1 of latent 1
    assert m3[:, 1].tolist() == [1, 1, 0, 0]
    with pytest.raises(DreamActorError, match="4n\\+1"):
        C.latent_frames(10)


def _window(vae, frames=9, refert=None, size=32, faces=True):
    ref = np.full((size, size, 3), 200, np.uint8)
    enc = C.Encoder(vae)
    ref_lat = enc.references([ref])
    guide = np.random.default_rng(0).integers(0, 255, (frames, size, size, 3), dtype=np.uint8)
    face = np.random.default_rng(1).integers(0, 255, (frames, 64, 64, 3), dtype=np.uint8) if faces else None
    text = C.prepare_text(None, torch.randn(7, 4096), None, torch.randn(257, 1280))
    return C.build_window(enc, ref_lat, guide, face, text, refert, face_size=64), enc, ref_lat, guide


def test_build_window_layout():
    vae = PoolVAE()
    refert = torch.rand(5, 32, 32, 3) * 2 - 1
    cond, enc, ref_lat, guide = _window(vae, 9, refert)
    assert cond.y.shape == (1, 20, 4, 4, 4) and cond.latent_shape == (1, 16, 4, 4, 4)
    assert torch.all(cond.y[:, :4, 0] == 1) and torch.equal(cond.y[:, 4:, :1], ref_lat)
    assert torch.all(cond.y[:, :4, 1:3] == 1) and torch.all(cond.y[:, :4, 3] == 0)
    video = torch.zeros(1, 3, 9, 32, 32)
    video[:, :, :5] = refert.permute(3, 0, 1, 2)
    assert torch.allclose(cond.y[:, 4:, 1:], vae.encode(video))
    assert torch.allclose(cond.entries["pose_latents"], vae.encode(C.to_model_video(guide)))
    assert torch.allclose(cond.entries.absents["pose_latents"], vae.encode(torch.full((1, 3, 9, 32, 32), -1.0)))
    assert cond.entries["face_pixels"].shape == (1, 3, 9, 64, 64) and cond.entries["face_pixels"].min() >= -1
    first, *_ = _window(vae, 9, None)
    assert torch.all(first.y[:, :4, 1:] == 0)  # first window: nothing known


def test_ref_fill_puts_the_reference_where_no_frame_is_carried():
    vae = PoolVAE()
    enc = C.Encoder(vae)
    ref_lat = enc.references([np.full((32, 32, 3), 200, np.uint8), np.full((32, 32, 3), 20, np.uint8)])
    guide = np.random.default_rng(0).integers(0, 255, (13, 32, 32, 3), dtype=np.uint8)
    text = C.prepare_text(None, torch.randn(7, 4096), None, None)
    for carried, kept in ((0, 0), (1, 1), (5, 2), (6, 3)):
        refert = None if not carried else torch.rand(carried, 32, 32, 3) * 2 - 1
        plain = C.build_window(enc, ref_lat, guide, None, text, refert)
        filled = C.build_window(enc, ref_lat, guide, None, text, refert, ref_fill=True)
        r = 2  # reference slots come first; only the first reference fills the video frames
        assert torch.equal(filled.y[:, :, :r], plain.y[:, :, :r])
        assert torch.equal(filled.y[:, :4], plain.y[:, :4])  # the mask still says "not known"
        assert torch.equal(filled.y[:, 4:, r:r + kept], plain.y[:, 4:, r:r + kept])
        assert torch.equal(filled.y[:, 4:, r + kept:], ref_lat[:, :, :1].expand(-1, -1, 4 - kept, -1, -1))
        assert kept == 4 or not torch.equal(filled.y[:, 4:, r + kept:], plain.y[:, 4:, r + kept:])


def test_training_y_matches_the_sampler_first_window():
    """The trainer's conditioning (cached grey latent) equals the sampler's first window, with and without ref_fill."""
    from dreamactor_core.training.dataset import build_y

    vae = PoolVAE()
    enc = C.Encoder(vae)
    ref_lat = enc.references([np.full((32, 32, 3), 90, np.uint8)] * 3)
    guide = np.zeros((9, 32, 32, 3), np.uint8)
    text = C.prepare_text(None, torch.randn(7, 4096), None, None)
    grey = vae.encode(torch.zeros(1, 3, 9, 32, 32))
    for fill in (False, True):
        cond = C.build_window(enc, ref_lat, guide, None, text, ref_fill=fill)
        assert torch.allclose(build_y(ref_lat, grey, ref_fill=fill), cond.y)


def test_build_window_rejects_mismatched_counts():
    vae = PoolVAE()
    enc = C.Encoder(vae)
    ref_lat = enc.references([np.zeros((32, 32, 3), np.uint8)])
    text = C.prepare_text(None)
    with pytest.raises(DreamActorError, match="face crops: 5 frames but the pose guidance has 9"):
        C.build_window(enc, ref_lat, np.zeros((9, 32, 32, 3), np.uint8), np.zeros((5, 64, 64, 3), np.uint8), text)
    with pytest.raises(DreamActorError, match="reference"):
        C.build_window(enc, ref_lat, np.zeros((9, 64, 32, 3), np.uint8), None, text)


def test_prepare_text_missing_inputs(caplog):
    cfg = OracleDiT().contract
    with caplog.at_level("WARNING"):
        t = C.prepare_text(cfg)
    assert t.context.abs().sum() == 0 and t.clip_fea.shape == (1, 257, 1280)
    assert "no text embeddings" in caplog.text and "clip_fea" in caplog.text
    with pytest.raises(DreamActorError, match="CLIP vision"):
        C.prepare_text(cfg, torch.zeros(3, 4096), strict=True)
    assert C.prepare_text(OracleDiT(has_clip=False).contract, strict=True).clip_fea is None
    with pytest.raises(DreamActorError, match="umT5"):
        C.prepare_text(cfg, torch.zeros(3, 768))


def test_guidance_negative_branch_and_strength_windows():
    vae = PoolVAE()
    cond, *_ = _window(vae)
    dit = OracleDiT()
    seen = []
    orig = dit.forward

    def spy(x, t, context, clip_fea=None, y=None, pose_latents=None, face_pixels=None, face_tokens=None):
        seen.append((context, pose_latents, face_tokens))
        return orig(x, t, context, clip_fea, y, pose_latents, face_pixels, face_tokens)
    dit.forward = spy
    settings = GuidanceSettings(cfg=3.0, pose=StrengthWindow(0.5, 0.0, 0.5), face=StrengthWindow(1.0, 0.5, 1.0))
    g = GuidedDenoiser(dit, cond, settings, steps=4)
    x = torch.randn(cond.latent_shape)
    v = g(x, 0.9, 0)  # percent 0: pose at 0.5, face off
    assert len(seen) == 2 and g.calls == 2
    (c_pos, p_pos, f_pos), (c_neg, p_neg, f_neg) = seen
    assert torch.equal(c_pos, cond.entries["context"]) and torch.equal(c_neg, cond.entries.negatives["context"])
    half = cond.entries.absents["pose_latents"] + 0.5 * (cond.entries["pose_latents"] - cond.entries.absents["pose_latents"])
    assert torch.allclose(p_pos, half) and torch.allclose(p_neg, half)
    neg_tokens = dit.encode_face(torch.full_like(cond.entries["face_pixels"], -1.0))
    assert torch.equal(f_neg, neg_tokens) and torch.equal(f_pos, neg_tokens)  # face off before 50 %
    vp = orig(x, torch.tensor([900.0]), c_pos, cond.entries["clip_fea"], cond.y, p_pos, None, f_pos)
    vn = orig(x, torch.tensor([900.0]), c_neg, cond.entries["clip_fea"], cond.y, p_neg, None, f_neg)
    assert torch.allclose(v, vn + 3.0 * (vp - vn), atol=1e-5)
    seen.clear()
    g(x, 0.3, 3)  # percent 0.75: pose off (absent = black-video latents), face on
    assert torch.equal(seen[0][1], cond.entries.absents["pose_latents"])
    assert torch.equal(seen[0][2], dit.encode_face(cond.entries["face_pixels"]))
    one = GuidedDenoiser(dit, cond, GuidanceSettings(cfg=1.0), steps=4)
    one(x, 0.5, 1)
    assert one.calls == 1  # cfg 1 skips the negative branch
    with pytest.raises(DreamActorError, match="start"):
        StrengthWindow(1.0, 0.8, 0.2)


def test_cfg_reproduces_the_official_negative_branch(conformance_dir):
    """Guided velocity on the conformance DiT = out_uncond + s (out - out_uncond) of the official code."""
    from safetensors.torch import load_file

    from dreamactor_core.model.config import ModelConfig
    from dreamactor_core.model.dit import AnimateDiT
    from fixture_weights import full_state_dict

    d = conformance_dir / "animate_dit_small"
    sd = full_state_dict(d)
    model = AnimateDiT(ModelConfig.from_shapes({k: v.shape for k, v in sd.items()}, text_len=16)).eval()
    model.load_state_dict(sd)
    inp = load_file(str(d / "animate_dit_small.inputs.safetensors"))
    exp = load_file(str(d / "animate_dit_small.expected.safetensors"))
    cond = C.WindowConditioning.standard(
        y=inp["y"][None], pose_latents=inp["pose_latents"], pose_null=torch.zeros_like(inp["pose_latents"]),
        face_pixels=inp["face_pixels_u8"].float() / 127.5 - 1, context=inp["context"][None],
        context_null=inp["context_null"][None], clip_fea=inp["clip_fea"], num_refs=1, frames=9)
    # the positive face tokens are the fixture's own (the DiT conformance test checks encode_face);
    # this keeps the test to one pass of the 512x512 motion encoder, for the negative face
    tokens = load_file(str(d / "animate_dit_small.intermediates.safetensors"))["face_encoder_out"]
    model.encode_face = lambda pixels: tokens if pixels is cond.entries["face_pixels"] else pytest.fail("unexpected pixels")
    scale = 4.0
    g = GuidedDenoiser(model, cond, GuidanceSettings(cfg=scale), steps=10)
    sigma = float(inp["t"][0]) / 1000.0
    v = g(inp["x"][None], sigma, 0)[0]
    want = exp["out_uncond"] + scale * (exp["out"] - exp["out_uncond"])
    # out_uncond was made from the whole all -1 clip, so this also checks the one-frame shortcut
    assert float((v - want).abs().max()) < 1e-4 * scale


def test_official_schedule_grids_and_integer_timesteps():
    """Wan2.2-Animate's grids: UniPC from base 0.999 (t = 999), DPM++ from 1; the DiT gets int(1000 sigma)."""
    sig, t = schedule.sampling_schedule("unipc", 20, 5.0)
    assert t[:6].tolist() == [999, 989, 978, 965, 952, 937] and t[-3:].tolist() == [468, 356, 208]
    assert sig.dtype == torch.float64 and sig[-1] == 0 and abs(float(sig[0]) - 0.99979985) < 1e-7
    assert torch.equal(sig, sig.float().double())  # the official solvers step on float32 sigmas
    sig, t = schedule.sampling_schedule("dpmpp_2m", 6, 5.0)
    assert t.tolist() == [1000, 961, 909, 833, 714, 500] and float(sig[0]) == 1.0
    sig, t = schedule.sampling_schedule("unipc", 20, 5.0, grid="uniform", timesteps="float")
    assert torch.equal(sig, schedule.flow_sigmas(20, 5.0)) and float(t[0]) == 1000.0
    with pytest.raises(DreamActorError, match="grid"):
        schedule.sampling_schedule("unipc", 20, 5.0, grid="karras")
