"""Chunked / streamed VAE == whole clip; tiles; input checks, progress and cancel."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dreamactor_core.model.vae import Tiling, VAEConfig, WanVAE
from dreamactor_core.model.vae_blocks import CausalConv3d, Downsample, FrameAttention, Stream, Upsample
from dreamactor_core.utils import Cancelled, DreamActorError
from fixture_weights import full_state_dict


@pytest.fixture(scope="module")
def vae(conformance_dir):
    sd = full_state_dict(conformance_dir / "wan21_vae_small")
    model = WanVAE(VAEConfig.from_shapes({k: v.shape for k, v in sd.items()}))
    model.load_state_dict(sd)
    return model.eval()


def smooth_video(frames: int, size: int, seed: int = 0) -> torch.Tensor:
    """A smooth random clip in [-1, 1] (low-resolution noise, trilinear upsampling)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, (frames + 3) // 4 + 1, size // 16, size // 16, generator=g) * 2 - 1
    return F.interpolate(low, size=(frames, size, size), mode="trilinear", align_corners=True)


def whole_clip(vae: WanVAE, x: torch.Tensor, encode: bool) -> torch.Tensor:
    """One call over the whole clip, no stream: the whole-clip formulation of the README."""
    with torch.no_grad():
        if encode:
            return vae.conv1(vae.encoder(x))[:, :16]
        return vae.decoder(vae.conv2(x))


def test_chunked_equals_whole_clip(vae):
    video = smooth_video(17, 32)
    ref = whole_clip(vae, video, encode=True)
    assert ref.shape == (1, 16, 5, 4, 4)
    for chunk in (1, 3):
        got = vae.encode_raw(video, chunk=chunk)
        assert (got - ref).abs().max() < 1e-5, f"encode chunk={chunk}"
    dec_ref = whole_clip(vae, ref, encode=False)
    assert dec_ref.shape == (1, 3, 17, 32, 32)
    for chunk in (1, 5):
        got = vae.decode_raw(ref, chunk=chunk)
        assert (got - dec_ref).abs().max() < 1e-5, f"decode chunk={chunk}"


def test_official_chunk_schedule(vae):
    """Encoder calls see 1, 4, 4, ... frames; decoder calls 1 latent frame -> 1, 4, 4, ... frames."""
    calls = []
    hooks = [m.register_forward_hook(lambda mod, args, out: calls.append((type(mod).__name__, args[0].shape[2],
                                                                           out.shape[2])))
             for m in (vae.encoder, vae.decoder)]
    try:
        video = smooth_video(9, 32)
        vae.decode_raw(vae.encode_raw(video))
    finally:
        for h in hooks:
            h.remove()
    assert calls == [("Encoder", 1, 1), ("Encoder", 4, 1), ("Encoder", 4, 1),
                     ("Decoder", 1, 1), ("Decoder", 1, 4), ("Decoder", 1, 4)]


def test_stream_state_stays_small(vae):
    """Each causal layer keeps at most 2 frames (Downsample: at most 1 pending), whatever the clip length."""
    stream = Stream()
    with torch.no_grad():
        first = vae.decoder(vae.conv2(torch.randn(1, 16, 1, 4, 4)), stream)
        for _ in range(4):
            vae.decoder(vae.conv2(torch.randn(1, 16, 1, 4, 4)), stream)
    assert first.shape[2] == 1
    for m in vae.decoder.modules():
        state = stream.get(m)
        if isinstance(m, CausalConv3d) and m.past:
            assert state is not None and state.shape[2] <= 2
        if isinstance(m, Downsample) and state is not None:
            assert state.shape[2] <= 1


def _spatially_local(vae: WanVAE) -> WanVAE:
    """A copy whose output pixel depends only on its own input pixel (centre taps, no attention)."""
    local = WanVAE(vae.config)
    local.load_state_dict(vae.state_dict())
    with torch.no_grad():
        for m in local.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)) and m.kernel_size[-1] == 3:
                centre = m.weight[..., 1:2, 1:2].clone()
                m.weight.zero_()
                m.weight[..., 1:2, 1:2] = centre
            if isinstance(m, FrameAttention):
                m.proj.weight.zero_()
                m.proj.bias.zero_()
    return local.eval()


def test_tile_geometry_and_blending_exact_on_a_local_model(vae):
    """With a spatially local network every tile equals its crop of the full result, so any blend
    error would come from wrong offsets or weights: tiled must equal untiled."""
    local = _spatially_local(vae)
    video = smooth_video(1, 64)  # tiling is per frame; time is covered by the chunking tests
    lat = local.encode(video)
    for tile in (Tiling(40, 16), 32):
        assert (local.encode(video, tile=tile) - lat).abs().max() < 1e-5
        assert (local.decode(lat, tile=tile) - local.decode(lat)).abs().max() < 1e-5


def test_tiled_decode_close_to_untiled(vae):
    """Real (random) weights: seams stay bounded and shrink with bigger tiles and overlaps.
    Random weights have a much wider receptive field than a trained VAE, hence the loose bound."""
    lat = vae.encode(smooth_video(1, 128))
    full = vae.decode(lat)
    assert torch.equal(vae.decode(lat, tile=Tiling(128, 32)), full)  # one tile == untiled

    def rel(tile):
        diff = vae.decode(lat, tile=tile) - full
        return (diff.norm() / full.norm()).item()

    small, big = rel(Tiling(64, 8)), rel(Tiling(96, 40))
    assert big < 0.25 and big < small


@pytest.mark.parametrize("clip", ["astronaut.png", "pub02_arm_wave.mp4"])
def test_tiled_decode_matches_untiled_with_a_trained_vae(synth_dir, clip):
    """A trained VAE (the shipped demo's) sees a few pixels around each one, so with overlapping
    tiles the seams disappear: a real portrait and a 5-frame clip at 192x192 in four tiles."""
    import numpy as np

    from dreamactor_core.model.loader import load_vae
    from dreamactor_core.signals.framing import resize_frames
    from dreamactor_core.signals.video_io import load_image, read_video
    from dreamactor_core.training.demo import demo_paths

    trained = load_vae(demo_paths()[1])
    frames = load_image(synth_dir / clip)[None] if clip.endswith(".png") else read_video(synth_dir / clip, 5)[0]
    frames = resize_frames(frames, 192, 192, "crop")
    video = torch.from_numpy(np.ascontiguousarray(frames)).float().div(127.5).sub(1).permute(3, 0, 1, 2)[None]
    with torch.no_grad():
        lat = trained.encode(video)
        full = trained.decode(lat)
        for tile, floor_db in ((Tiling(128, 32), 44.0), (Tiling(64, 16), 36.0)):
            mse = ((trained.decode(lat, tile=tile) - full) / 2).pow(2).mean().item()
            assert 10 * np.log10(1 / mse) > floor_db, (tile, mse)


def test_input_checks(vae):
    with pytest.raises(DreamActorError, match="4k\\+1"):
        vae.encode(torch.zeros(1, 3, 8, 32, 32))
    with pytest.raises(DreamActorError, match="multiples of 8"):
        vae.encode(torch.zeros(1, 3, 5, 36, 32))
    with pytest.raises(DreamActorError, match=r"\[B,3,T,H,W\]"):
        vae.encode(torch.zeros(1, 4, 5, 32, 32))
    with pytest.raises(DreamActorError, match="NaN"):
        vae.encode(torch.full((1, 3, 5, 32, 32), float("nan")))
    with pytest.raises(DreamActorError, match="latent"):
        vae.decode(torch.zeros(1, 4, 2, 4, 4))
    with pytest.raises(DreamActorError, match="tile"):
        vae.decode(torch.zeros(1, 16, 2, 4, 4), tile=Tiling(64, 40))
    with pytest.raises(DreamActorError, match="chunk"):
        vae.decode(torch.zeros(1, 16, 2, 4, 4), chunk=0)


def test_progress_and_cancel(vae):
    seen = []
    vae.decode(torch.zeros(1, 16, 3, 4, 4), progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    seen.clear()
    vae.encode(torch.zeros(1, 3, 5, 64, 48), tile=Tiling(32, 8), progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (12, 12)  # tile starts 0, 24, 32 down and 0, 16 across -> 6 tiles x 2 chunks
    with pytest.raises(Cancelled):
        vae.decode(torch.zeros(1, 16, 3, 4, 4), cancel=lambda: True)


def test_upsample_passes_first_frame_and_doubles_the_rest():
    up = Upsample(8, temporal=True)
    x = torch.randn(1, 8, 3, 2, 2)
    y = up(x)
    assert y.shape == (1, 4, 5, 4, 4)
    streamed = torch.cat([up(x[:, :, i:i + 1], s) for s in [Stream()] for i in range(3)], dim=2)
    assert torch.allclose(streamed, y, atol=1e-6)
