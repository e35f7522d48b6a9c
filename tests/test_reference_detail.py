"""Reference detail: the reference's own pixels come back where the output left it unchanged."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamactor_core.sampling.guidance import GuidanceSettings
from dreamactor_core.sampling.pipeline import AnimateSettings, animate_guidance
from dreamactor_core.sampling.reference_detail import restore_reference_detail
from dreamactor_core.sampling.windows import from_uint8, to_uint8
from dreamactor_core.utils import DreamActorError
from sampling_fakes import OracleDiT, PoolVAE

U = 1.0 / 127.5  # one step of 255 in [-1, 1] units


def _scene(change: float, frames: int = 3, size: int = 24, seed: int = 0):
    """(decoded frames, reference, still decode): the still decode loses detail; the frames
    differ from it by ``change`` (of 255) everywhere."""
    g = torch.Generator().manual_seed(seed)
    reference = torch.rand(size, size, 3, generator=g) * 1.6 - 0.8
    still = (reference * 0.7).expand(frames, -1, -1, -1).clone()  # a lossy decode of the still reference
    return still + change * U, reference, still


def test_unchanged_output_gets_the_reference_exactly():
    for noise in (0.0, 3.0):  # below half the noise floor, the model's own noise is dropped too
        frames, reference, still = _scene(noise)
        out = restore_reference_detail(frames, reference, still)
        torch.testing.assert_close(out, reference.expand_as(out), atol=1e-6, rtol=0)
        assert (frames - reference).abs().max() > 0.1  # the plain decode had lost detail


def test_moderate_change_keeps_the_reference_detail_and_a_clear_change_the_decode():
    frames, reference, still = _scene(14.0)  # past 1.5 x the noise floor (12), under half the change level (16)
    out = restore_reference_detail(frames, reference, still)
    torch.testing.assert_close(out, (reference + 14.0 * U).clamp(-1, 1).expand_as(out), atol=1e-6, rtol=0)
    frames, reference, still = _scene(60.0)  # past 1.5 x the change level: the content is new
    torch.testing.assert_close(restore_reference_detail(frames, reference, still), frames.clamp(-1, 1))


def test_strength_blends_and_bad_settings_are_named():
    frames, reference, still = _scene(0.0)
    assert restore_reference_detail(frames, reference, still, strength=0.0) is frames
    half = restore_reference_detail(frames, reference, still, strength=0.5)
    torch.testing.assert_close(half, 0.5 * (frames + reference), atol=1e-6, rtol=0)
    with pytest.raises(DreamActorError, match="reference_detail: 1.5 must be between 0"):
        restore_reference_detail(frames, reference, still, strength=1.5)
    with pytest.raises(DreamActorError, match="change level"):
        restore_reference_detail(frames, reference, still, noise_floor=8, change_level=8)
    with pytest.raises(DreamActorError, match="same size"):
        restore_reference_detail(frames[:, :8], reference, still)


def test_pipeline_keeps_the_reference_where_the_guidance_keeps_it():
    """An oracle model reproduces its guidance through a lossy VAE: the left half shows the reference,
    the right half something new. With reference detail the left half is the reference's pixels
    exactly; the new right half is the plain decode."""
    rng = np.random.default_rng(0)
    ref = rng.integers(40, 215, (32, 64, 3), dtype=np.uint8)
    guide = np.repeat(ref[None], 9, 0)
    guide[:, :, 32:] = 0
    dit, vae = OracleDiT(has_clip=False), PoolVAE()
    with torch.no_grad():
        dit.w.fill_(1.0)  # the target latent is the guidance's own latent
    base = dict(steps=2, window=9, refert=1, solver="euler", guidance=GuidanceSettings(cfg=1.0))
    plain, kept = (animate_guidance(ref, guide, None, dit, vae,
                                    settings=AnimateSettings(**base, reference_detail=s)).frames for s in (0.0, 1.0))
    assert np.abs(plain[:, :, :24].astype(int) - ref[:, :24]).mean() > 20  # the VAE blurs the reference
    # the reference's pixels as the official truncating 8-bit conversion writes them (an exact level
    # can come out one lower); to_8bit="round" gives them back unchanged
    ref_out = to_uint8(from_uint8(ref[:, :24]))
    np.testing.assert_array_equal(kept[:, :, :24], np.broadcast_to(ref_out, kept[:, :, :24].shape))
    rounded = animate_guidance(ref, guide, None, dit, vae, settings=AnimateSettings(
        **base, reference_detail=1.0, to_8bit="round")).frames
    np.testing.assert_array_equal(rounded[:, :, :24], np.broadcast_to(ref[:, :24], kept[:, :, :24].shape))
    assert np.abs(kept[:, :, 40:].astype(int) - plain[:, :, 40:]).max() <= 1
    with pytest.raises(DreamActorError, match="reference_detail"):
        animate_guidance(ref, guide, None, dit, vae, settings=AnimateSettings(**base, reference_detail=-1.0))
