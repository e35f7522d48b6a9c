"""The sampler node through the stand-in: every signal can be rewired.

Pose from guidance frames or from a pose LATENT (DreamActor VAE Encode of the same
frames), face motion from face crops or from face tokens (DreamActor Face Motion
Encode of the same crops) must give the same video; the oracle DiT makes any
misrouted signal show in the frames. The sampler's LATENT is plain; the frames
compared are Decode to Frames of it.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamactor_core.sampling.windows import from_uint8, to_uint8
from dreamactor_core.utils import DreamActorError
from nodes import model as model_nodes
from nodes import sampling, settings
from sampling_fakes import OracleDiT, PoolVAE


class RawPoolVAE(PoolVAE):
    """The pool VAE with ComfyUI's raw-latent convention: raw = normalized * 2 + 0.25 (any affine map works)."""

    def normalize(self, raw):
        return (raw - 0.25) / 2.0

    def denormalize(self, latent):
        return latent * 2.0 + 0.25

    def encode_raw(self, video, **_):
        return self.denormalize(self.encode(video))

    def decode_frames(self, raw, **_):
        return self.decode(self.normalize(raw)).add(1).mul(0.5)[0].permute(1, 2, 3, 0)


SOLVER = settings.SolverSettings.execute(steps=2, solver="euler", shift=5.0, cfg=2.0)[0]
WINDOWS = settings.WindowSettings.execute(window=9, motion_frames=5, color_match=0.0)[0]
SAMPLER_DEFAULTS = dict(preset="standard", seed=3, width=0, height=0, aspect="letterbox", frame_count=0,
                        solver_settings=SOLVER, window_settings=WINDOWS)


def _images(n=17, h=32, w=48, seed=0):
    """IMAGE batches on the uint8 grid, so float and uint8 routes see the same pixels."""
    g = torch.Generator().manual_seed(seed)

    def image(*shape):
        return torch.randint(0, 256, shape, generator=g).float() / 255.0
    return image(1, h, w, 3), image(n, h, w, 3), image(n, 64, 64, 3)


def _same(a: np.ndarray, b: np.ndarray) -> None:
    """Equal up to an off-by-one where float routes land a value on the other side of a level.

    The oracle reproduces guidance on the uint8 grid, so values sit exactly on levels, where the
    official truncating 8-bit conversion flips one that lands a hair below: a few percent of values.
    """
    diff = np.abs(a.astype(int) - b.astype(int))
    assert a.shape == b.shape and diff.max() <= 1 and diff.mean() < 0.03, (diff.max(), diff.mean())


def _differs(a: np.ndarray, b: np.ndarray) -> None:
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 0.5


def _sample(vae, **inputs):
    args = dict(SAMPLER_DEFAULTS)
    args.update(inputs)
    latent = sampling.Sampler.execute(model=OracleDiT(), vae=vae, **args)[0]
    return _decode(vae, latent), latent


def _decode(vae, latent) -> np.ndarray:
    assert set(latent) == {"samples"}  # a plain LATENT: nothing rides along with the samples
    images, fps = sampling.DecodeToFrames.execute(vae=vae, latent=latent, fps=30.0, tile=0).args
    assert fps == 30.0
    return (images * 255).round().to(torch.uint8).numpy()


def test_pose_latents_and_face_tokens_replace_frames_and_crops():
    vae = RawPoolVAE()
    ref, guide, faces = _images()
    base, latent = _sample(vae, reference=ref, guidance=guide, face_crops=faces)
    assert base.shape == (17, 32, 48, 3)
    # the stitched LATENT holds raw means of every output frame: 17 frames -> 5 latent frames
    assert latent["samples"].shape == (1, 16, 5, 4, 6)
    pose = model_nodes.VAEEncode.execute(vae=vae, images=guide, chunk=1, tile=0)[0]
    tokens = model_nodes.FaceMotionEncode.execute(model=OracleDiT(), face_crops=faces)[0]
    assert tokens.shape[:2] == (1, 5)
    via_latents, _ = _sample(vae, reference=ref, pose_latents=pose, face_crops=faces)
    via_tokens, _ = _sample(vae, reference=ref, guidance=guide, face_tokens=tokens)
    via_both, _ = _sample(vae, reference=ref, pose_latents=pose, face_tokens=tokens)
    for out in (via_latents, via_tokens, via_both):
        _same(out, base)
    # the rewired inputs are really used: other pose latents or other tokens change the video
    moved_pose = {"samples": pose["samples"].flip(2)}
    _differs(_sample(vae, reference=ref, pose_latents=moved_pose, face_crops=faces)[0], base)
    _differs(_sample(vae, reference=ref, guidance=guide, face_tokens=tokens + 0.3)[0], base)


def test_frame_count_trims_latents_and_tokens_alike():
    vae = RawPoolVAE()
    ref, guide, faces = _images()
    base, _ = _sample(vae, reference=ref, guidance=guide, face_crops=faces, frame_count=11)
    assert base.shape[0] == 13  # a LATENT holds 4n+1 frames: the last window's padding is kept
    pose = model_nodes.VAEEncode.execute(vae=vae, images=guide, chunk=1, tile=0)[0]
    tokens = model_nodes.FaceMotionEncode.execute(model=OracleDiT(), face_crops=faces)[0]
    out, _ = _sample(vae, reference=ref, pose_latents=pose, face_tokens=tokens, frame_count=11)
    assert out.shape[0] == 9  # latents give 4n+1 frames: 11 rounds down to 9
    nine, _ = _sample(vae, reference=ref, guidance=guide, face_crops=faces, frame_count=9)
    _same(out, nine)


def test_sampler_input_errors_name_the_inputs():
    vae = RawPoolVAE()
    ref, guide, faces = _images(9)
    pose = model_nodes.VAEEncode.execute(vae=vae, images=guide, chunk=1, tile=0)[0]
    tokens = model_nodes.FaceMotionEncode.execute(model=OracleDiT(), face_crops=faces)[0]
    with pytest.raises(DreamActorError, match="connect exactly one of 'guidance'"):
        _sample(vae, reference=ref, guidance=guide, pose_latents=pose)
    with pytest.raises(DreamActorError, match="connect exactly one of 'guidance'"):
        _sample(vae, reference=ref, face_crops=faces)
    with pytest.raises(DreamActorError, match="connect 'face_crops' or 'face_tokens', not both"):
        _sample(vae, reference=ref, guidance=guide, face_crops=faces, face_tokens=tokens)
    with pytest.raises(DreamActorError, match="input 'pose_latents': expected one Wan video latent"):
        _sample(vae, reference=ref, pose_latents={"samples": torch.zeros(1, 4, 8, 8)})
    with pytest.raises(DreamActorError, match="pose_latents fix the size at 48x32"):
        _sample(vae, reference=ref, pose_latents=pose, width=64, height=64)
    with pytest.raises(DreamActorError, match="input 'face_tokens': expected tokens"):
        _sample(vae, reference=ref, guidance=guide, face_tokens=tokens[0])
    with pytest.raises(DreamActorError, match="face tokens: 2 token frames but the pose guidance has 9"):
        _sample(vae, reference=ref, guidance=guide, face_tokens=tokens[:, :2])


def test_multi_reference_checkpoint_fills_empty_slots_with_the_reference():
    from sampling_fakes import OracleDiT as Oracle

    vae = RawPoolVAE()
    ref, guide, faces = _images(5)
    args = dict(SAMPLER_DEFAULTS)
    latent = sampling.Sampler.execute(model=Oracle(num_refs=3), vae=vae, reference=ref, guidance=guide,
                                      face_crops=faces, **args)
    out = _decode(vae, latent.args[0])
    assert out.shape == (5, 32, 48, 3)
    assert "2 reference slot(s) filled with the first reference" in latent.ui.value
    one = _sample(vae, reference=ref, guidance=guide, face_crops=faces)[0]
    _same(out, one)  # the oracle ignores reference slots: same video as a one-slot model


def test_decode_decodes_the_latent_it_is_given():
    """One window: the decode of the sampler's LATENT is the core pipeline's own frames; an edited
    LATENT decodes to the edit (no frames from the sampler are preferred)."""
    from dreamactor_core.sampling.pipeline import AnimateSettings, animate_guidance

    vae = RawPoolVAE()
    ref, guide, faces = _images(9)
    frames, latent = _sample(vae, reference=ref, guidance=guide, face_crops=faces)
    core = animate_guidance((ref[0].numpy() * 255).round().astype(np.uint8), (guide.numpy() * 255).round().astype(
        np.uint8), (faces.numpy() * 255).round().astype(np.uint8), OracleDiT(), vae, aspect="letterbox",
        settings=SOLVER.apply(AnimateSettings(window=9, refert=5, seed=3, to_8bit="round")))
    _same(frames, core.frames)
    edited = {"samples": latent["samples"] * 0.5}
    _differs(_decode(vae, edited), frames)
    want = vae.decode_frames(edited["samples"])
    np.testing.assert_array_equal(_decode(vae, edited), (want * 255).round().to(torch.uint8).numpy())


def test_reference_detail_node_puts_the_reference_back_on_the_decoded_frames():
    """The oracle reproduces its guidance, here the reference itself: after Reference Detail the frames
    are the reference's pixels instead of their blurred decode; strength 0 leaves them alone."""
    from nodes import detail

    vae = RawPoolVAE()
    ref, _, _ = _images(13)
    dit = OracleDiT()
    with torch.no_grad():
        dit.w.fill_(1.0)
    args = dict(SAMPLER_DEFAULTS, model=dit, vae=vae, reference=ref, guidance=ref.expand(13, -1, -1, -1))
    latent = sampling.Sampler.execute(**args)[0]
    images = sampling.DecodeToFrames.execute(vae=vae, latent=latent, fps=25.0, tile=0)[0]
    want = np.broadcast_to((ref[0].numpy() * 255).round().astype(np.uint8), (13, 32, 48, 3))
    _differs((images * 255).round().to(torch.uint8).numpy(), want)
    for clip in (9, 13):  # a last clip of 4 frames is padded to 5 for the still decode
        kept = detail.ReferenceDetail.execute(images=images, reference=ref, vae=vae, strength=1.0,
                                              aspect="letterbox", clip_frames=clip)[0]
        np.testing.assert_array_equal((kept * 255).round().to(torch.uint8).numpy(), want)
    same = detail.ReferenceDetail.execute(images=images, reference=ref, vae=vae, strength=0.0, aspect="letterbox",
                                          clip_frames=9)[0]
    assert same is images
    with pytest.raises(DreamActorError, match="reference_detail: 2.0 must be between 0"):
        detail.ReferenceDetail.execute(images=images, reference=ref, vae=vae, strength=2.0, aspect="letterbox",
                                       clip_frames=9)


def test_distilled_preset_makes_one_model_call_per_step():
    """preset 'distilled' is 4 steps at cfg 1: one model call per step per window, a negative prompt
    unused and said so; cfg 2 through Solver Settings makes two."""
    vae = RawPoolVAE()
    ref, guide, faces = _images(9)
    neg = [[torch.zeros(1, 3, 4096), {}]]
    args = dict(SAMPLER_DEFAULTS, solver_settings=None, preset="distilled", reference=ref, guidance=guide,
                face_crops=faces, negative=neg)
    dit = OracleDiT()
    out = sampling.Sampler.execute(model=dit, vae=vae, **args)
    assert len(dit.calls) == 4
    np.testing.assert_allclose(dit.calls, [1000.0, 937.5, 833.3333, 625.0], rtol=1e-6)  # LightX2V's 4 timesteps
    assert "4 euler steps, shift 5, cfg 1 (distilled preset)" in out.ui.value
    assert "negative prompt unused at cfg 1" in out.ui.value
    dit = OracleDiT()
    cfg2 = settings.SolverSettings.execute(steps=4, solver="euler", shift=5.0, cfg=2.0)[0]
    out = sampling.Sampler.execute(model=dit, vae=vae, **dict(args, solver_settings=cfg2))
    assert len(dit.calls) == 8 and "cfg 2 (solver settings)" in out.ui.value
    assert "negative prompt unused" not in out.ui.value
    with pytest.raises(DreamActorError, match="input 'preset': unknown 'fast'"):
        sampling.Sampler.execute(model=dit, vae=vae, **dict(args, preset="fast"))


def test_background_video_and_character_mask_switch_to_replacement_mode():
    vae = RawPoolVAE()
    ref, guide, faces = _images()
    # a scene constant per 8x8 cell and in time: the fake VAE's round trip keeps it exactly
    cells = torch.randint(0, 256, (4, 6, 3), generator=torch.Generator().manual_seed(5)).float() / 255
    scene = cells.repeat_interleave(8, 0).repeat_interleave(8, 1)[None].expand(17, -1, -1, -1)
    mask = torch.zeros(17, 32, 48)
    mask[:, 8:24, 16:32] = 1.0
    background = scene * (1 - mask[..., None])
    out, _ = _sample(vae, reference=ref, guidance=guide, face_crops=faces, background_video=background,
                     character_mask=mask)
    plain, _ = _sample(vae, reference=ref, guidance=guide, face_crops=faces)
    truth = (scene.numpy() * 255).round().astype(int)
    outside = mask[0].numpy() < 0.5
    assert np.abs(out.astype(int) - truth)[:, outside].max() <= 1
    assert np.abs(plain.astype(int) - truth)[:, outside].mean() > 20
    with pytest.raises(DreamActorError, match="needs both 'background_video' and 'character_mask'"):
        _sample(vae, reference=ref, guidance=guide, face_crops=faces, character_mask=mask)
    bad = {"DreamActor Sampler, input 'character_mask': it is empty": torch.zeros(17, 32, 48),
           "input 'character_mask': it covers every pixel": torch.ones(17, 32, 48),
           "input 'character_mask': 16 frames but the driving video has 17": mask[:16],
           "input 'character_mask': character mask: 24x16 px but the background video is 48x32": mask[:, ::2, ::2]}
    for message, wrong in bad.items():
        with pytest.raises(DreamActorError, match=message):
            _sample(vae, reference=ref, guidance=guide, face_crops=faces, background_video=background,
                    character_mask=wrong)
    with pytest.raises(DreamActorError, match="input 'background_video': 9 frames but the driving video has 17"):
        _sample(vae, reference=ref, guidance=guide, face_crops=faces, background_video=background[:9],
                character_mask=mask)
