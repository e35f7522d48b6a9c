"""The pipeline from guidance frames (fake models) and from a synthetic driving clip (tiny real models)."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch

from dreamactor_core.sampling.guidance import GuidanceSettings
from dreamactor_core.sampling.pipeline import AnimateSettings, animate_guidance, snap_size
from dreamactor_core.utils import Cancelled, DreamActorError
from sampling_fakes import OracleDiT, PoolVAE


def _inputs(n=13, h=32, w=48, seed=0):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    guide = rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8)
    faces = rng.integers(0, 255, (n, 64, 64, 3), dtype=np.uint8)
    return ref, guide, faces


def _settings(**kw):
    base = dict(steps=3, window=9, refert=1, solver="euler", seed=7, guidance=GuidanceSettings(cfg=2.0))
    base.update(kw)
    return AnimateSettings(**base)


def test_animate_guidance_frames_fps_and_progress():
    ref, guide, faces = _inputs()
    seen = []
    dit = OracleDiT()
    out = animate_guidance(ref, guide, faces, dit, PoolVAE(), fps=12.5, text=torch.randn(4, 4096),
                           clip_fea=torch.randn(257, 1280), settings=_settings(),
                           progress=lambda d, t: seen.append((d, t)))
    assert out.frames.shape == (13, 32, 48, 3) and out.frames.dtype == np.uint8 and out.fps == 12.5
    assert out.num_frames == 13
    # 13 frames, window 9 carrying 1: two windows of 3 steps, two model calls per step (cfg 2)
    assert seen == [(i, 6) for i in range(1, 7)] and len(dit.calls) == 12
    assert set(out.timings) >= {"encode", "face", "sampling", "decode", "guidance"}


def test_same_seed_same_output_other_seed_differs():
    ref, guide, faces = _inputs()
    dit, vae = OracleDiT(), PoolVAE()
    dit.keep = 0.3  # leave the noise visible in the result

    def run(seed):
        return animate_guidance(ref, guide, faces, dit, vae, settings=_settings(seed=seed, steps=2,
                                                                                     solver="dpmpp_2m")).frames
    a, b, c = run(1), run(1), run(2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_cancel_mid_sampling_returns_within_one_step_and_frees_memory():
    ref, guide, faces = _inputs()
    dit = OracleDiT()
    refs = []
    state = {"cancel": False}

    def on_call(model, x):
        refs.append(weakref.ref(x))
        if len(model.calls) == 4:  # second step of the first window
            state["cancel"] = True
    dit.on_call = on_call
    with pytest.raises(Cancelled):
        animate_guidance(ref, guide, faces, dit, PoolVAE(), settings=_settings(steps=10),
                         cancel=lambda: state["cancel"])
    assert len(dit.calls) == 4  # the step in flight finished, no further model call
    gc.collect()
    assert all(r() is None for r in refs)


def test_bad_inputs_have_clear_messages():
    ref, guide, faces = _inputs()
    dit, vae = OracleDiT(), PoolVAE()
    with pytest.raises(DreamActorError, match="face crops: 9 frames but the pose guidance has 13"):
        animate_guidance(ref, guide, faces[:9], dit, vae, settings=_settings())
    with pytest.raises(DreamActorError, match="zero frames"):
        animate_guidance(ref, guide[:0], faces[:0], dit, vae, settings=_settings())
    with pytest.raises(DreamActorError, match="reference: zero frames|reference: it has zero frames"):
        animate_guidance(np.zeros((0, 8, 8, 3), np.uint8), guide, faces, dit, vae, settings=_settings())
    from dreamactor_core.sampling.pipeline import animate
    with pytest.raises(DreamActorError, match="driving video: it has zero frames"):
        animate(ref, np.zeros((0, 32, 48, 3), np.uint8), 25.0, dit, vae)
    tall = np.zeros((64, 32, 3), np.uint8)
    with pytest.raises(DreamActorError, match="aspect"):
        animate_guidance(tall, guide, faces, dit, vae, settings=_settings())
    with pytest.raises(DreamActorError, match="CLIP vision"):
        animate_guidance(ref, guide, faces, dit, vae, settings=_settings(strict=True))


def test_sizes_not_multiple_of_16_crop_or_pad(caplog):
    ref, guide, faces = _inputs(n=5, h=40, w=56)
    dit, vae = OracleDiT(), PoolVAE()
    with caplog.at_level("WARNING"):
        cropped = animate_guidance(ref, guide, faces, dit, vae, settings=_settings(size_fix="crop"))
    assert cropped.frames.shape[1:3] == (32, 48) and "cropping to 48x32" in cropped.notes[0]
    assert "not a multiple of 16" in caplog.text
    padded = animate_guidance(ref, guide, faces, dit, vae, settings=_settings(size_fix="pad"))
    assert (padded.width, padded.height) == (64, 48) and padded.frames.shape[1:3] == (40, 56)
    assert "padding to 64x48" in padded.notes[0]
    assert snap_size(64, 32) == (64, 32, None)


def test_extra_references_fill_reference_slots():
    ref, guide, faces = _inputs(n=5)
    extra = np.full((32, 48, 3), 30, np.uint8)
    dit = OracleDiT(num_refs=2)
    out = animate_guidance(ref, guide, faces, dit, PoolVAE(), settings=_settings(),
                           extra_references=[extra, extra])
    assert "1 extra reference image(s) ignored" in out.notes[0]
    assert out.frames.shape == (5, 32, 48, 3)


# --- pseudo-references -------------------------------------------------------------------------
BODY = [0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]


@pytest.mark.parametrize("target", [30, 60, -45, 89])
def test_turnaround_matches_ground_truth_turn(synth_dir, target):
    """Turning the frontal frame of the turn clip by the GT yaw difference lands on the GT pose of that yaw."""
    from dreamactor_core.sampling.pseudo_refs import turnaround_motion
    from synth_motion import synth_motion

    m = synth_motion(synth_dir, "pub04_turn_landscape")
    yaw = m.head_angles[:, 0]
    i0, j = int(np.argmin(abs(yaw))), int(np.argmin(abs(yaw - target)))
    turned = turnaround_motion(m.slice(i0, i0 + 1), [float(yaw[j] - yaw[i0])])
    box = m.person_box[j]
    diag = np.hypot(box[2] - box[0], box[3] - box[1])
    a = turned.body_px[0, BODY, :2] - turned.body_px[0, [23, 24], :2].mean(0)
    b = m.body_px[j, BODY, :2] - m.body_px[j, [23, 24], :2].mean(0)
    err = np.linalg.norm(a - b, axis=1) / diag
    assert err.mean() < 0.035 and err.max() < 0.08
    assert abs(turned.head_angles[0, 0] - yaw[j]) < 1.0


def test_pseudo_references_pick_requested_yaws(synth_dir):
    from dreamactor_core.sampling.pseudo_refs import make_pseudo_references, sweep_yaws, turnaround_motion
    from dreamactor_core.signals.render_dreamactor import render_guidance
    from synth_motion import synth_motion

    ref_motion = synth_motion(synth_dir, "pub02_arm_wave", frames=[0])
    image = np.zeros((512, 512, 3), np.uint8)
    clips = []

    def animate_clip(guidance, faces):
        clips.append((guidance.shape, faces.shape))
        return guidance  # a "model" that paints its pose input

    refs = make_pseudo_references(image, ref_motion, animate_clip, 64, 64, angles=(-60.0, 60.0), frames=17,
                                  crop=lambda fr, m: np.zeros((len(fr), 32, 32, 3), np.uint8))
    assert clips == [((17, 64, 64, 3), (17, 32, 32, 3))]
    yaws = sweep_yaws(17, 60.0)
    assert [a for a, _ in refs] == [-60.0, 60.0]
    expected = render_guidance(turnaround_motion(ref_motion, yaws), 64, 64)
    assert np.array_equal(refs[0][1], expected[12]) and np.array_equal(refs[1][1], expected[4])
    assert not np.array_equal(refs[0][1], refs[1][1])


def test_align_to_reference_recovers_placement(synth_dir):
    from dreamactor_core.sampling.alignment import align_to_reference
    from dreamactor_core.signals.framing import Transform, map_motion
    from synth_motion import synth_motion

    m = synth_motion(synth_dir, "pub02_arm_wave", frames=range(0, 20))
    moved = map_motion(m, Transform(0.6, 0.6, 90.0, -30.0), 400, 300)  # the "driving camera"
    back = align_to_reference(moved, m.slice(0, 1))
    assert (back.width, back.height) == (m.width, m.height)
    ok = np.isfinite(m.body_px[..., 0])
    assert np.abs(back.body_px[..., :2][ok] - m.body_px[..., :2][ok]).max() < 1e-3
    assert back.meta["aligned_to_reference"]["by"] == "torso"


def test_animate_from_synthetic_driving_clip_to_mp4(synth_dir, tmp_path):
    """Extraction -> retarget -> align -> render -> face crops -> windows -> decode -> mp4 (fake DiT/VAE)."""
    from dreamactor_core.sampling.pipeline import animate
    from dreamactor_core.sampling.video_sink import Mp4Sink
    from dreamactor_core.signals.video_io import load_image, read_video

    driving, fps = read_video(synth_dir / "pub02_arm_wave.mp4", max_frames=9)
    ref = load_image(synth_dir / "pub01_walk_in_place.png")
    out = tmp_path / "out.mp4"
    dit = OracleDiT(num_refs=3)  # the DreamActor-M1 variant: room for two pseudo-references
    slots = []
    dit.on_call = lambda model, x: slots.append(x.shape[2])
    seen = []
    settings = _settings(width=64, height=64, window=5, pseudo_ref_angles=(-45.0, 45.0), pseudo_ref_frames=9)
    with Mp4Sink(out, fps, audio_from=synth_dir / "pub02_arm_wave.mp4") as sink:
        res = animate(ref, driving, fps, dit, PoolVAE(), settings=settings, sink=sink,
                      progress=lambda d, t: seen.append(d))
    frames, out_fps = read_video(out)
    assert frames.shape == (9, 64, 64, 3) and out_fps == fps and res.frames is None
    assert seen == list(range(1, 7))  # 9 frames = windows [0, 5) and [4, 9) (refert 1), 3 steps each
    assert res.timings["extraction"] > 0 and res.timings["sampling"] > 0
    # the turn-around ran first (one 9-frame window, 3 steps, 2 calls each for cfg 2), then the
    # two video windows; every call has 3 reference slots + 3 or 2 video latent frames
    assert [a for a, _ in res.pseudo_refs] == [-45.0, 45.0]
    assert all(img.shape == (64, 64, 3) for _, img in res.pseudo_refs)
    assert slots == [6] * 6 + [5] * 12
    turn, video = dit.ref_slots[0][0], dit.ref_slots[-1][0]
    assert torch.equal(turn[:, 1], turn[:, 0]) and torch.equal(turn[:, 2], turn[:, 0])  # filled with the ref
    assert torch.equal(video[:, 0], turn[:, 0]) and not torch.equal(video[:, 1], video[:, 0])
    assert not torch.equal(video[:, 1], video[:, 2])  # two different views


def test_size_fix_treats_reference_like_guidance():
    """With crop/pad the reference is cut/padded exactly like the guidance, so they stay aligned."""
    from dreamactor_core.sampling.conditioning import Encoder

    rng = np.random.default_rng(3)
    frame = rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)
    guide = np.repeat(frame[None], 5, axis=0)
    vae = PoolVAE()
    for mode, (y0, x0, h, w) in {"crop": (4, 4, 32, 48), "pad": (None, None, 48, 64)}.items():
        dit = OracleDiT(has_clip=False)
        animate_guidance(frame, guide, None, dit, vae,
                         settings=_settings(size_fix=mode, steps=1, guidance=GuidanceSettings()))
        ref_in_y = dit.ref_slots[0]
        if mode == "crop":
            expected = frame[y0:y0 + h, x0:x0 + w]
        else:
            expected = np.pad(frame, ((4, 4), (4, 4), (0, 0)), mode="edge")
        assert torch.allclose(ref_in_y, Encoder(vae).references([expected]), atol=1e-6)


def _spy_windows(monkeypatch, n: int, **settings):
    """Run ``n`` frames and return the guidance and face frames each window was built from."""
    from dreamactor_core.sampling import pipeline

    ref, guide, faces = _inputs(n=n)
    seen = []
    real = pipeline.build_window

    def spy(encoder, refs, g, f, *a, **kw):
        seen.append((g.copy(), f.copy()))
        return real(encoder, refs, g, f, *a, **kw)

    monkeypatch.setattr(pipeline, "build_window", spy)
    out = animate_guidance(ref, guide, faces, OracleDiT(), PoolVAE(), settings=_settings(**settings))
    assert out.frames.shape[0] == n
    return guide, faces, seen


@pytest.mark.parametrize("last", ["reflect", "shrink"])
def test_last_window_guidance_is_reflected_full_length_or_shrunk(monkeypatch, last):
    """13 frames, windows of 9 carrying 1: the second window starts at 8 and runs past the end."""
    guide, faces, seen = _spy_windows(monkeypatch, 13, last_window=last)
    assert len(seen) == 2
    # the conformance README's rule: indices 0..12, 11, 10, ... for reflection; the shrunk window is 5 frames
    idx = [8, 9, 10, 11, 12, 11, 10, 9, 8] if last == "reflect" else [8, 9, 10, 11, 12]
    assert np.array_equal(seen[1][0], guide[idx]) and np.array_equal(seen[1][1], faces[idx])
    assert np.array_equal(seen[0][0], guide[:9])


def test_video_shorter_than_a_window_gets_one_reflected_window(monkeypatch):
    guide, faces, seen = _spy_windows(monkeypatch, 5)
    idx = [0, 1, 2, 3, 4, 3, 2, 1, 0]  # the conformance README's ping-pong extension to 9 frames
    assert len(seen) == 1 and np.array_equal(seen[0][0], guide[idx]) and np.array_equal(seen[0][1], faces[idx])
