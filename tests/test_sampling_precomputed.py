"""Precomputed signals in the pipeline: pose latents instead of guidance frames, face tokens instead of crops.

With the oracle DiT (its output is a known function of the conditioning) and the
linear pool VAE, giving the VAE latents of the whole guidance video, or the face
tokens of all crops, must reproduce the frames-and-crops result exactly, also
across window boundaries (windows start on latent boundaries and the carried
frames cover each window's first latents).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamactor_core.sampling.conditioning import face_pixels, to_model_video
from dreamactor_core.sampling.guidance import GuidanceSettings
from dreamactor_core.sampling.pipeline import AnimateSettings, animate_guidance
from dreamactor_core.sampling.windows import Window, take_latents
from dreamactor_core.utils import DreamActorError
from sampling_fakes import OracleDiT, PoolVAE
from test_pipeline import _inputs as _pipeline_inputs


def _inputs():
    return _pipeline_inputs(17, seed=3)  # 17 frames, 32x48


def _settings(**kw):
    # 17 frames in windows of 9 carrying 5: windows start at 0, 4 and 8 (latent frames 0, 1, 2)
    base = dict(steps=2, window=9, refert=5, solver="euler", seed=11, guidance=GuidanceSettings(cfg=2.0))
    base.update(kw)
    return AnimateSettings(**base)


def _run(ref, guide, faces, **kw):
    dit = OracleDiT()
    out = animate_guidance(ref, guide, faces, dit, PoolVAE(), text=torch.ones(3, 4096) * 0.01,
                           settings=kw.pop("settings", _settings()), **kw)
    return out, dit


def test_pose_latents_reproduce_guidance_frames_across_windows():
    ref, guide, faces = _inputs()
    base, dit_a = _run(ref, guide, faces)
    latents = PoolVAE().encode(to_model_video(guide))
    assert latents.shape == (1, 16, 5, 4, 6)
    out, dit_b = _run(ref, None, faces, pose_latents=latents)
    assert out.frames.shape == base.frames.shape == (17, 32, 48, 3)
    assert len(dit_b.calls) == len(dit_a.calls) == 3 * 2 * 2  # 3 windows, 2 steps, cfg
    np.testing.assert_array_equal(out.frames, base.frames)
    # the pose really steers the result: other latents give another video
    other, _ = _run(ref, None, faces, pose_latents=latents.flip(2))
    assert np.abs(other.frames.astype(int) - base.frames.astype(int)).mean() > 1.0


def test_face_tokens_reproduce_face_crops():
    ref, guide, faces = _inputs()
    base, _ = _run(ref, guide, faces)
    tokens = OracleDiT().encode_face(face_pixels(faces, 64))
    assert tokens.shape[1] == 5
    out, _ = _run(ref, guide, None, face_tokens=tokens)
    np.testing.assert_array_equal(out.frames, base.frames)
    both, _ = _run(ref, None, None, pose_latents=PoolVAE().encode(to_model_video(guide)), face_tokens=tokens)
    np.testing.assert_array_equal(both.frames, base.frames)
    moved, _ = _run(ref, guide, None, face_tokens=tokens + 0.5)
    assert not np.array_equal(moved.frames, base.frames)


def test_take_latents_slices_by_time_and_pads():
    t = torch.arange(5.0).view(1, 1, 5, 1, 1)
    assert take_latents(t, Window(1, 8, 9, 5), 2).flatten().tolist() == [2.0, 3.0, 4.0]
    assert take_latents(t, Window(2, 12, 13, 5), 2).flatten().tolist() == [3.0, 4.0, 4.0, 4.0]
    with pytest.raises(DreamActorError, match="motion frames: .* multiple of 4"):
        take_latents(t, Window(1, 7, 9, 2), 2)


def test_precomputed_inputs_give_clear_errors():
    ref, guide, faces = _inputs()
    latents = PoolVAE().encode(to_model_video(guide))
    tokens = OracleDiT().encode_face(face_pixels(faces, 64))
    with pytest.raises(DreamActorError, match="pose latents: give guidance frames or pose latents, not both"):
        _run(ref, guide, faces, pose_latents=latents)
    with pytest.raises(DreamActorError, match="face tokens: give face crops or face tokens, not both"):
        _run(ref, guide, faces, face_tokens=tokens)
    with pytest.raises(DreamActorError, match="face tokens: 4 token frames but the pose guidance has 17"):
        _run(ref, guide, None, face_tokens=tokens[:, :4])
    with pytest.raises(DreamActorError, match="pose latents: expected a normalized video latent"):
        _run(ref, None, faces, pose_latents=latents[0])
    with pytest.raises(DreamActorError, match="latent size 3x6 must be even"):
        _run(ref, None, faces, pose_latents=latents[:, :, :, :3])
    with pytest.raises(DreamActorError, match="guidance: it has zero frames"):
        _run(ref, None, faces)
    with pytest.raises(DreamActorError, match="motion frames: .* not a multiple of 4"):
        _run(ref, None, faces, pose_latents=latents, settings=_settings(refert=2))
