"""Replacement mode's conditioning, checked against Wan2.2-Animate's published algorithm.

The fixture below is derived by hand from Wan2.2-Animate's replacement branch
(``wan/animate.py``, ``WanAnimate.generate`` with ``replace_flag``, and ``get_i2v_mask``):

1. ``msk = 1 - mask`` per pixel frame (the mask is 1 on the character);
2. it is resized to the latent grid with ``F.interpolate(mode="nearest")``: for a factor
   of 8 the cell (i, j) takes pixel (8i, 8j), its top-left pixel;
3. the first ``mask_reft_len`` frames (the carried frames) are set to 1;
4. the first frame is repeated 4 times, and every 4 frames become the 4 channels of one
   latent frame;
5. the latent half of ``y`` encodes the carried frames followed by the background frames
   after them (the first window: the background alone).

For 5 frames of 16x16 px (a 2x2 latent grid) whose top-left pixels of the four cells
are on (1) as listed in ``ON`` and every other pixel the opposite, the expected mask
channels are written out in ``EXPECTED_FIRST`` (no carried frame) and
``EXPECTED_CARRIED_1`` (one carried frame). A sampler that resized with area averaging or
centre sampling would get the opposite values, so the fixture pins the sampling point.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamactor_core.sampling import conditioning as C
from dreamactor_core.sampling.replace import Replacement, blackout, check_replacement, replace_mask
from dreamactor_core.utils import DreamActorError
from sampling_fakes import PoolVAE

# Value of the character mask at the top-left pixel of each 8x8 cell, per frame.
ON = [[[1, 0], [0, 0]], [[0, 1], [0, 0]], [[0, 0], [1, 0]], [[0, 0], [0, 1]], [[1, 1], [0, 0]]]
# [4 channels, 2 latent frames, 2, 2]: latent 0 = frame 0 four times, latent 1 = frames 1..4.
EXPECTED_FIRST = [
    [[[0, 1], [1, 1]], [[1, 0], [1, 1]]],
    [[[0, 1], [1, 1]], [[1, 1], [0, 1]]],
    [[[0, 1], [1, 1]], [[1, 1], [1, 0]]],
    [[[0, 1], [1, 1]], [[0, 0], [1, 1]]],
]
# One carried frame: frame 0 is known everywhere; latent 1 unchanged.
EXPECTED_CARRIED_1 = [[[[1, 1], [1, 1]], ch[1]] for ch in EXPECTED_FIRST]


def _mask() -> np.ndarray:
    m = np.zeros((5, 16, 16), np.float32)
    for t, grid in enumerate(ON):
        for i in range(2):
            for j in range(2):
                m[t, 8 * i:8 * i + 8, 8 * j:8 * j + 8] = 1 - grid[i][j]
                m[t, 8 * i, 8 * j] = grid[i][j]
    return m


def test_mask_channels_match_the_published_algorithm():
    m = _mask()
    assert torch.equal(replace_mask(m, 0, 2, 2)[0], torch.tensor(EXPECTED_FIRST, dtype=torch.float32))
    assert torch.equal(replace_mask(m, 1, 2, 2)[0], torch.tensor(EXPECTED_CARRIED_1, dtype=torch.float32))


def _window(refert=None):
    vae = PoolVAE()
    enc = C.Encoder(vae)
    rng = np.random.default_rng(0)
    ref_lat = enc.references([rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)])
    guide = rng.integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    driving = rng.integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    mask = _mask()
    background = blackout(driving, mask)
    text = C.prepare_text(None, torch.randn(3, 4096), None, torch.randn(257, 1280))
    cond = C.build_window(enc, ref_lat, guide, None, text, refert, replacement=Replacement(background, mask))
    return cond, vae, ref_lat, background


def test_replacement_y_matches_the_published_algorithm():
    for refert, expected in ((None, EXPECTED_FIRST), (torch.rand(1, 16, 16, 3) * 2 - 1, EXPECTED_CARRIED_1)):
        cond, vae, ref_lat, background = _window(refert)
        assert cond.y.shape == (1, 20, 3, 2, 2)
        # reference slot: mask ones and the reference latent, as in animation mode
        assert torch.all(cond.y[:, :4, 0] == 1) and torch.equal(cond.y[:, 4:, :1], ref_lat)
        assert torch.equal(cond.y[0, :4, 1:], torch.tensor(expected, dtype=torch.float32))
        video = torch.from_numpy(background).float().div(127.5).sub(1).permute(3, 0, 1, 2)[None]
        if refert is not None:
            video[:, :, :1] = refert.permute(3, 0, 1, 2)[None]
        assert torch.allclose(cond.y[:, 4:, 1:], vae.encode(video), atol=1e-6)


def test_background_is_blacked_out_under_the_mask():
    frames = np.full((2, 4, 4, 3), 200, np.uint8)
    mask = np.zeros((2, 4, 4), np.float32)
    mask[:, 1:3, 1:3] = 1.0
    mask[:, 0, 0] = 0.5
    bg = blackout(frames, mask)
    assert (bg[:, 1:3, 1:3] == 0).all() and (bg[:, 3, 3] == 200).all() and (bg[:, 0, 0] == 100).all()


def test_bad_background_or_mask_is_named():
    frames = np.zeros((5, 16, 16, 3), np.uint8)
    mask = _mask()
    assert check_replacement(frames, torch.from_numpy(mask), 5, 16, 16).mask.shape == (5, 16, 16)
    with pytest.raises(DreamActorError, match="character mask: 4 frames but the driving video has 5"):
        check_replacement(frames, mask[:4], 5, 16, 16)
    with pytest.raises(DreamActorError, match="character mask: 8x16 px but the driving video is 16x16"):
        check_replacement(frames, mask[:, :, :8], 5, 16, 16)
    with pytest.raises(DreamActorError, match="background video: 3 frames"):
        check_replacement(frames[:3], mask, 5, 16, 16)
    with pytest.raises(DreamActorError, match="character mask: it is empty"):
        check_replacement(frames, np.zeros_like(mask), 5, 16, 16)
    with pytest.raises(DreamActorError, match="character mask: it covers every pixel"):
        check_replacement(frames, np.ones_like(mask), 5, 16, 16)
    with pytest.raises(DreamActorError, match="character mask: values must lie in"):
        check_replacement(frames, mask * 2, 5, 16, 16)


def test_pipeline_keeps_the_background_outside_the_mask_across_windows():
    from dreamactor_core.sampling.guidance import GuidanceSettings
    from dreamactor_core.sampling.pipeline import AnimateSettings, animate_guidance
    from sampling_fakes import OracleDiT

    rng = np.random.default_rng(3)
    n, h, w = 13, 32, 48
    cells = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
    scene = np.repeat(np.repeat(cells, 8, 0), 8, 1)  # constant per latent cell: the fake VAE keeps it exactly
    driving = np.repeat(scene[None], n, 0)
    mask = np.zeros((n, h, w), np.float32)
    mask[:, 8:24, 16:32] = 1.0
    settings = AnimateSettings(steps=3, window=9, refert=1, solver="euler", seed=7, guidance=GuidanceSettings(cfg=1.0))
    ref = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    guide = rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8)
    faces = rng.integers(0, 255, (n, 64, 64, 3), dtype=np.uint8)
    out = animate_guidance(ref, guide, faces, OracleDiT(), PoolVAE(), text=torch.randn(4, 4096),
                           clip_fea=torch.randn(257, 1280), settings=settings,
                           replacement=Replacement(blackout(driving, mask), mask))
    outside = mask[0] < 0.5
    assert out.frames.shape == (n, h, w, 3)
    diff = np.abs(out.frames.astype(int) - driving.astype(int))
    assert diff[:, outside].max() <= 1  # both windows keep the scene
    assert diff[:, ~outside].mean() > 20  # the character region is generated, not copied
    plain = animate_guidance(ref, guide, faces, OracleDiT(), PoolVAE(), text=torch.randn(4, 4096),
                             clip_fea=torch.randn(257, 1280), settings=settings)
    assert np.abs(plain.frames.astype(int) - driving.astype(int))[:, outside].mean() > 20
    with pytest.raises(DreamActorError, match="character mask: 12 frames but the driving video has 13"):
        animate_guidance(ref, guide, faces, OracleDiT(), PoolVAE(), settings=settings,
                         replacement=Replacement(blackout(driving, mask), mask[:12]))


def test_keep_scene_restores_only_cells_the_character_never_touches():
    from dreamactor_core.sampling.replace import keep_scene

    latent, y = torch.randn(1, 16, 3, 2, 2), torch.randn(1, 20, 3, 2, 2)
    mask = np.zeros((5, 16, 16), np.float32)
    mask[3, 9, 9] = 0.2  # one faint pixel of frame 3 touches cell (1, 1) of latent 1
    mask[0, 0, 0] = 1.0  # frame 0 touches cell (0, 0) of latent 0
    out = keep_scene(latent, y, mask, 0, 1)
    assert torch.equal(out[:, :, 0], latent[:, :, 0])  # the reference slot is the model's
    assert torch.equal(out[:, :, 1, 0, 0], latent[:, :, 1, 0, 0])
    assert torch.equal(out[:, :, 1, 0, 1], y[:, 4:, 1, 0, 1])
    assert torch.equal(out[:, :, 2, 1, 1], latent[:, :, 2, 1, 1])
    assert torch.equal(out[:, :, 2, 0, 0], y[:, 4:, 2, 0, 0])
    carried = keep_scene(latent, y, mask, 1, 1)  # frame 0 carried: latent 0 is known whole
    assert torch.equal(carried[:, :, 1], y[:, 4:, 1])
