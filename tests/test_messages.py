"""Each message a newcomer met names the right input and says what to do (issue: a newcomer's first hour)."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from dreamactor_core.utils import DreamActorError


def test_reference_image_without_a_person_asks_for_an_image_not_a_video():
    from dreamactor_core.signals.extract import extract_motion

    with pytest.raises(DreamActorError) as err:
        extract_motion(np.full((1, 96, 96, 3), 200, np.uint8), 25.0, name="reference")
    assert "reference: no person found in the image; use an image where a person is visible" in str(err.value)
    assert "video" not in str(err.value)
    with pytest.raises(DreamActorError, match="in any of the 2 frames; use a video"):
        extract_motion(np.full((2, 96, 96, 3), 200, np.uint8), 25.0)


def test_text_file_named_png_is_not_an_image(tmp_path):
    from dreamactor_core.signals.video_io import load_image

    fake = tmp_path / "me.png"
    fake.write_text("these are notes, not pixels\n")
    with pytest.raises(DreamActorError) as err:
        load_image(fake)
    text = str(err.value)
    assert "is not an image file" in text and "PNG or JPEG" in text
    assert "pyav" not in text.lower() and "install" not in text


def test_float_pixels_in_0_255_are_rescaled_with_a_warning(caplog):
    from dreamactor_core.sampling.frames import check_frames
    from dreamactor_core.signals.video_io import as_rgb_uint8

    frames = np.full((2, 8, 8, 3), 100.0, np.float32)
    frames[..., 0] = 200.0
    with caplog.at_level(logging.WARNING):
        got = check_frames(frames, "driving video")
    assert got[0, 0, 0].tolist() == [200, 100, 100]  # not saturated to white
    assert "driving video" in caplog.text and "0..255" in caplog.text
    caplog.clear()
    assert as_rgb_uint8(np.full((4, 4, 3), 0.5, np.float32))[0, 0, 0] == 128  # 0..1 floats as before, silently
    assert caplog.text == ""


def test_render_guidance_and_face_crops_size_errors_name_their_inputs(synth_dir):
    from nodes import signals
    from synth_motion import synth_motion

    motion = synth_motion(synth_dir, "pub02_arm_wave", frames=range(0, 2))
    with pytest.raises(DreamActorError, match="DreamActor Render Guidance, input 'width': 0 pixels"):
        signals.RenderGuidance.execute(motion, 0, 64, "openpose", "letterbox")
    with pytest.raises(DreamActorError, match="input 'height'"):
        signals.RenderGuidance.execute(motion, 64, 8, "openpose", "letterbox")
    images = torch.zeros(2, motion.height, motion.width, 3)
    with pytest.raises(DreamActorError, match="DreamActor Face Crops, input 'size': 7 pixels"):
        signals.FaceCrops.execute(images, motion, 7)


def test_sampler_width_8_names_width():
    from nodes import sampling
    from sampling_fakes import OracleDiT, PoolVAE
    from test_nodes_sampling import SAMPLER_DEFAULTS, _images

    ref, guide, faces = _images(n=5)
    args = dict(SAMPLER_DEFAULTS, width=8, height=32)
    with pytest.raises(DreamActorError, match="DreamActor Sampler, input 'width': 8 pixels"):
        sampling.Sampler.execute(model=OracleDiT(), vae=PoolVAE(), reference=ref, guidance=guide, face_crops=faces,
                                 **args)


def test_size_note_does_not_advise_an_input_the_sampler_lacks():
    from dreamactor_core.sampling.frames import snap_size

    _, _, note = snap_size(56, 40, "crop")
    assert note == "size 56x40 is not a multiple of 16: cropping to 48x32"


def test_small_reference_warns(caplog):
    from dreamactor_core.sampling.pipeline import AnimateSettings, animate_guidance
    from dreamactor_core.sampling.guidance import GuidanceSettings
    from sampling_fakes import OracleDiT, PoolVAE

    rng = np.random.default_rng(0)
    ref = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    guide = rng.integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    faces = rng.integers(0, 255, (5, 64, 64, 3), dtype=np.uint8)
    settings = AnimateSettings(steps=1, window=5, refert=1, solver="euler", guidance=GuidanceSettings())
    with caplog.at_level(logging.WARNING):
        out = animate_guidance(ref, guide, faces, OracleDiT(), PoolVAE(), settings=settings)
    assert "reference: only 16x16 pixels" in out.notes[-1] and "give a larger image" in out.notes[-1]
    assert "only 16x16" in caplog.text


def test_model_name_lookup_stays_inside_the_models_folders(tmp_path, monkeypatch):
    from nodes import host

    monkeypatch.setenv("DREAMACTOR_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "models" / "vae").mkdir(parents=True)
    (tmp_path / "home" / "models" / "vae" / "ok.safetensors").write_bytes(b"x")
    (tmp_path / "home" / "models" / "secret.safetensors").write_bytes(b"x")
    (tmp_path / "outside.safetensors").write_bytes(b"x")
    assert host.model_path(["vae"], "ok.safetensors", "vae_name").endswith("ok.safetensors")
    for name in ("../secret.safetensors", "../../../outside.safetensors", str(tmp_path / "outside.safetensors")):
        with pytest.raises(DreamActorError, match="vae_name: .* was not found"):
            host.model_path(["vae"], name, "vae_name")
