"""The demo evaluation's metrics on inputs whose answer is known."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "demo_eval", Path(__file__).resolve().parent.parent / "benchmarks" / "demo_eval.py")
ev = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ev)


def _image(seed=0, shape=(32, 32, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def test_psnr_known_values():
    a = np.full((8, 8, 3), 100, np.uint8)
    assert ev.psnr(a, a) == float("inf")
    b = a + 10  # every pixel off by 10: mse 100
    assert ev.psnr(b, a) == pytest.approx(10 * np.log10(255 ** 2 / 100), abs=1e-9)


def test_ssim_identity_bounds_and_order():
    a = _image(0)
    assert ev.ssim(a, a) == pytest.approx(1.0, abs=1e-9)
    noisy = np.clip(a.astype(int) + np.random.default_rng(1).integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    other = _image(2)
    s_noisy, s_other = ev.ssim(noisy, a), ev.ssim(other, a)
    assert 0.5 < s_noisy < 1.0 and -0.2 < s_other < 0.2 and s_noisy > s_other
    # a constant image against itself shifted in brightness: luminance term only, (2*100*110+c1)/(100^2+110^2+c1)
    c1 = (0.01 * 255) ** 2
    flat = np.full((16, 16, 3), 100, np.uint8)
    assert ev.ssim(flat + 10, flat) == pytest.approx((2 * 100 * 110 + c1) / (100 ** 2 + 110 ** 2 + c1), abs=1e-6)
    # videos score frame by frame
    assert ev.ssim(np.stack([a, noisy]), np.stack([a, a])) == pytest.approx((1 + s_noisy) / 2, abs=1e-9)


def _scene():
    """A row-gradient background with a square 'person' moving one pixel per frame."""
    h = w = 24
    rows = np.linspace(30, 200, h)
    bg = np.stack([rows, rows[::-1], np.full(h, 90.0)], -1)[:, None, :].repeat(w, 1)
    frames, masks = [], []
    for t in range(3):
        m = np.zeros((h, w), np.float32)
        m[6:14, 5 + t:11 + t] = 1.0
        f = bg.copy()
        f[m > 0] = (250, 20, 240)
        frames.append(f.astype(np.uint8))
        masks.append(m)
    return np.stack(frames), np.stack(masks), bg


def test_background_and_silhouette_iou():
    frames, masks, bg = _scene()
    est = ev.background_from_target(frames, masks)
    assert np.abs(est - bg).max() < 1.0  # rows recovered from the uncovered pixels
    assert ev.silhouette_iou(frames, masks, est) == pytest.approx(1.0)
    # frame 0 shown for every frame: the square is off by 1 and 2 pixels of its 6-pixel width
    still = np.repeat(frames[:1], 3, 0)
    expected = np.mean([1.0, 5 * 8 / (7 * 8), 4 * 8 / (8 * 8)])
    assert ev.silhouette_iou(still, masks, est) == pytest.approx(expected)
    # the empty scene overlaps nothing
    empty = np.repeat(bg[None].astype(np.uint8), 3, 0)
    assert ev.silhouette_iou(empty, masks, est) == 0.0


def test_keypoint_error_maps_mediapipe_to_coco():
    gt_names = list(reversed(ev.COCO17))  # any order: joints are matched by name
    gt = np.zeros((2, 17, 2))
    for k, name in enumerate(gt_names):
        gt[:, k] = (ev.COCO17.index(name), 2 * ev.COCO17.index(name))
    body = np.full((2, 33, 3), np.nan)
    for j, mp in enumerate(ev.MP33_OF_COCO17):
        body[0, mp, :2] = (j + 3.0, 2 * j + 4.0)  # off by (3, 4): 5 pixels
    err, found, mirrored, labelled = ev.keypoint_error(body, gt, gt_names)
    assert err == pytest.approx(5.0) and found == 0.5 and mirrored == 0.0 and labelled == pytest.approx(5.0)
    assert np.isnan(ev.keypoint_error(np.full((2, 33, 3), np.nan), gt, gt_names)[0])
    # with the image size, joints whose true position lies outside the image are left out
    body[0, ev.MP33_OF_COCO17[-1], :2] += 1000.0  # a wild guess for the last joint...
    gt_out = gt.copy()
    gt_out[:, gt_names.index(ev.COCO17[-1])] = (-5.0, 40.0)  # ...which the image does not show
    err_in = ev.keypoint_error(body, gt_out, gt_names, size=(64, 64))[0]
    assert err_in == pytest.approx(5.0)
    assert ev.keypoint_error(body, gt_out, gt_names)[0] > 50.0


def test_keypoint_error_forgives_a_whole_body_label_swap_only():
    names = list(ev.COCO17)
    rng = np.random.default_rng(0)
    gt = rng.uniform(10, 100, (3, 17, 2))
    body = np.full((3, 33, 3), np.nan)
    body[:, ev.MP33_OF_COCO17, :2] = gt
    body[1, ev.MP33_OF_COCO17, :2] = gt[1, ev.COCO17_MIRROR]  # frame 1 read as seen from behind
    err, found, mirrored, labelled = ev.keypoint_error(body, gt, names)
    assert err == pytest.approx(0.0, abs=1e-9) and found == 1.0 and mirrored == pytest.approx(1 / 3)
    swap = np.linalg.norm(gt[1] - gt[1, ev.COCO17_MIRROR], axis=-1).mean()
    assert labelled == pytest.approx(swap / 3)
    # one wrong joint is not a mirror image: it keeps its whole error
    body[2, ev.MP33_OF_COCO17[9], :2] = gt[2, 10]  # left wrist put on the right wrist
    one = np.linalg.norm(gt[2, 9] - gt[2, 10]) / 17
    assert ev.keypoint_error(body, gt, names)[0] == pytest.approx(one / 3)


def test_score_counts_raw_detections_only():
    """Frames where nobody is drawn are not detections, even between frames where somebody is."""
    from dreamactor_core.training.synth_dataset import make_eval_pair
    from dreamactor_core.training.synth_humans import SynthHumanEngine

    pair = make_eval_pair(SynthHumanEngine(128, 128, fps=10.0), np.random.default_rng(3), 6, kind="wave")
    bg = ev.background_from_target(pair["target"], pair["target_masks"]).round().astype(np.uint8)
    frames = pair["target"].copy()
    frames[2:4] = bg  # a two-frame hole: the extractor's default gap filling would bridge it
    exact = ev.score(pair["target"], pair)
    holed = ev.score(frames, pair)
    assert exact["detected"] == 1.0 and exact["kp_err"] < 6.0 and exact["iou"] > 0.85
    assert holed["detected"] == pytest.approx(4 / 6)
    assert holed["iou"] == pytest.approx(exact["iou"] * 4 / 6, abs=0.02)


def test_vae_metadata_statistics(tmp_path):
    """A VAE file with latent_mean/latent_std metadata normalises with them; bad metadata is refused."""
    import json

    import torch
    from safetensors.torch import save_file

    from dreamactor_core.model.loader import load_vae
    from dreamactor_core.model.vae import VAEConfig, WanVAE
    from dreamactor_core.utils import DreamActorError

    torch.manual_seed(0)
    sd = {k: v.contiguous() for k, v in WanVAE(VAEConfig(dim=4)).state_dict().items()}
    mean, std = [0.5 * i for i in range(16)], [1.0 + i for i in range(16)]
    path = tmp_path / "vae.safetensors"
    save_file(sd, str(path), metadata={"latent_mean": json.dumps(mean), "latent_std": json.dumps(std)})
    vae = load_vae(path)
    mu = torch.randn(1, 16, 1, 2, 2)
    expected = (mu - torch.tensor(mean).view(1, -1, 1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1, 1)
    torch.testing.assert_close(vae.normalize(mu), expected)
    save_file(sd, str(path), metadata={"latent_mean": json.dumps(mean[:3]), "latent_std": json.dumps(std)})
    with pytest.raises(DreamActorError, match="16 values"):
        load_vae(path)


def test_shipped_demo_model_loads():
    """The embedded demo files load with our loaders as the documented configuration."""
    from dreamactor_core.model.loader import load_dit, load_vae
    from dreamactor_core.model.vae import VAEConfig
    from dreamactor_core.training import demo

    dit_path, vae_path = demo.demo_paths()
    if not (dit_path.is_file() and vae_path.is_file()):
        pytest.skip("demo model files are not installed")
    assert dit_path.stat().st_size + vae_path.stat().st_size < 20 * 2 ** 20
    dit, vae = load_dit(dit_path), load_vae(vae_path)
    cfg = dit.config
    assert (cfg.dim, cfg.num_heads, cfg.num_layers, cfg.pose_mode, cfg.ref_attn, cfg.has_face) == (
        demo.DIT_CONFIG["dim"], demo.DIT_CONFIG["num_heads"], demo.DIT_CONFIG["num_layers"], "concat", True, False)
    assert vae.config.dim == demo.VAE_DIM and vae.config.latent_std != VAEConfig().latent_std
    card = demo.demo_card(dit_path)
    assert card["sampling"]["width"] == demo.SIZE and card["steps"] > 0



def test_vae_time_layers_start_as_a_frame_by_frame_coder():
    """After the recipe's time-layer init, a 9-frame clip decodes as frames 0, 4 and 8 coded alone, repeated."""
    import torch

    from dreamactor_core.model.vae import VAEConfig, WanVAE
    from dreamactor_core.training.vae_training import init_time_layers_per_frame

    torch.manual_seed(0)
    vae = WanVAE(VAEConfig(dim=4))
    init_time_layers_per_frame(vae)
    x = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    with torch.no_grad():
        clip = vae.decode_raw(vae.encode_raw(x))
        alone = {i: vae.decode_raw(vae.encode_raw(x[:, :, i:i + 1]))[:, :, 0] for i in (0, 4, 8)}
    for frame, source in zip(range(9), (0, 4, 4, 4, 4, 8, 8, 8, 8)):
        torch.testing.assert_close(clip[:, :, frame], alone[source], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(alone[0], alone[4])  # the frames really differ



def test_vae_training_writes_a_loadable_vae_with_its_statistics(tmp_path):
    """A few steps of the VAE recipe on random clips give a file ``load_vae`` reads, with the
    measured latent statistics and the held-out PSNR in its metadata."""
    import torch

    from dreamactor_core.model.loader import load_vae
    from dreamactor_core.model.vae import VAEConfig
    from dreamactor_core.training.demo import demo_card
    from dreamactor_core.training.vae_training import train_vae

    frames = np.random.default_rng(0).integers(0, 256, (6, 9, 32, 32, 3), dtype=np.uint8)
    out = tmp_path / "vae.safetensors"
    info = train_vae(frames, out, steps=3, dim=4, crop=16, save_every=2, window=5)
    assert info["steps"] == 3 and info["clips"] == 2 and np.isfinite(info["held_out_psnr"])
    vae = load_vae(out)
    assert vae.config.dim == 4 and vae.config.latent_std != VAEConfig().latent_std
    assert demo_card(out)["held_out_psnr"] == info["held_out_psnr"]
    z = vae.encode(torch.zeros(1, 3, 5, 32, 32))
    assert z.shape == (1, 16, 2, 4, 4) and torch.isfinite(z).all()


def test_decoder_fine_tuning_keeps_the_latents(tmp_path):
    """``train_encoder=False`` changes the decoder only, so latents a DiT was trained on stay valid;
    the new file's card keeps the card of the run it went on from."""
    import torch

    from dreamactor_core.model.loader import load_vae
    from dreamactor_core.training.demo import demo_card
    from dreamactor_core.training.vae_training import train_vae

    frames = np.random.default_rng(1).integers(0, 256, (6, 5, 16, 16, 3), dtype=np.uint8)
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    train_vae(frames, first, steps=2, dim=4, crop=16, window=5)
    train_vae(frames, second, steps=2, dim=4, crop=16, window=5, init=first, per_frame_time_init=False,
              train_encoder=False, lr=1e-2)
    a, b = load_vae(first), load_vae(second)
    video = torch.from_numpy(frames[:1]).float().div(127.5).sub(1).permute(0, 4, 1, 2, 3)
    torch.testing.assert_close(a.encode_raw(video), b.encode_raw(video))
    # the normalised latents too: the statistics are carried over, not re-measured
    assert (a.config.latent_mean, a.config.latent_std) == (b.config.latent_mean, b.config.latent_std)
    torch.testing.assert_close(a.encode(video), b.encode(video))
    assert not torch.equal(a.decode_raw(a.encode_raw(video)), b.decode_raw(b.encode_raw(video)))
    card = demo_card(second)
    assert card["encoder_trained"] is False and card["history"][0]["encoder_trained"] is True


def test_vae_training_ssim_loss_agrees_with_the_benchmark_ssim():
    """The differentiable SSIM the VAE recipe trains with is the SSIM the evaluation scores with."""
    import torch

    from dreamactor_core.training.vae_training import ssim

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 48, 40, 3)).astype(np.uint8)
    smooth = np.linspace(20, 230, 48)[None, :, None, None].repeat(2, 0).repeat(40, 2).repeat(3, 3)
    for ref, other in ((a, np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255)),
                       (smooth.astype(np.uint8), np.clip(smooth + rng.normal(0, 4, smooth.shape), 0, 255))):
        other = other.astype(np.uint8)
        to_t = lambda v: torch.from_numpy(v).float().div(127.5).sub(1).permute(3, 0, 1, 2)[None]  # noqa: E731
        x = to_t(other).requires_grad_(True)
        s = ssim(x, to_t(ref))
        assert float(s.detach()) == pytest.approx(ev.ssim(other, ref), abs=2e-3)  # borders are padded a little differently
        s.backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
