"""Training a small Wan2.1-architecture VAE from scratch on CPU (the demo model's VAE).

The architecture is exactly the official one (so ``load_vae`` reads the result); what is
ours is how it starts and what it sees. A narrow Wan VAE trained from the default init
spends a long time near "predict the mean colour" (every block normalises pixels over
channels, and random convs blur colours into a common offset), so :func:`init_as_identity`
starts it as a working blocky autoencoder and :func:`init_time_layers_per_frame` starts its
time layers as a frame-by-frame coder. Training then refines both on random crops of
still frames and short clips.
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..sampling.blur import gaussian_blur

log = logging.getLogger("dreamactor.vae_training")


def to_video(frames_u8: np.ndarray) -> torch.Tensor:
    """uint8 [B, T, H, W, 3] -> float [B, 3, T, H, W] in [-1, 1]."""
    from ..sampling.windows import from_uint8

    return from_uint8(frames_u8).permute(0, 4, 1, 2, 3).contiguous()


def _vae_forward(vae, video: torch.Tensor, gen: torch.Generator,
                 train_encoder: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole-clip autoencoder pass with a reparameterised sample; returns (reconstruction, KL)."""
    with torch.set_grad_enabled(train_encoder and torch.is_grad_enabled()):
        h = vae.conv1(vae.encoder(video))
    mu, logvar = h[:, :16], h[:, 16:].clamp(-30.0, 20.0)
    z = mu + torch.randn(mu.shape, generator=gen).to(mu.device) * torch.exp(0.5 * logvar)
    kl = 0.5 * torch.mean(mu.square() + logvar.exp() - 1.0 - logvar)
    return vae.decoder(vae.conv2(z)), kl


def _crop(video: torch.Tensor, rng: np.random.Generator, size: int | None = 32) -> torch.Tensor:
    if size is None:
        return video
    y, x = (int(v) * 8 for v in rng.integers((video.shape[-1] - size) // 8 + 1, size=2))
    return video[..., y:y + size, x:x + size]


def _identity_(conv, t_index: int = -1) -> None:
    """Zero a conv, then pass input channel i to output channel i through its centre tap
    (the newest time slice for 3D kernels)."""
    w = conv.weight
    w.zero_()
    if conv.bias is not None:
        conv.bias.zero_()
    n = min(w.shape[0], w.shape[1])
    idx = torch.arange(n)
    centre = tuple(k // 2 for k in w.shape[-2:])
    if w.dim() == 5:
        w[idx, idx, t_index, centre[0], centre[1]] = 1.0
    else:
        w[idx, idx, centre[0], centre[1]] = 1.0


@torch.no_grad()
def init_as_identity(vae) -> None:
    """Start the VAE as a working (blocky) autoencoder that training then refines.

    With default init, a narrow Wan VAE barely passes colour at all: its blocks normalise
    every pixel over channels, random convs blur colours into a common offset, and a width-8
    model spent a thousand steps near "predict the mean". So every path that carries the
    signal starts as an identity: the first conv puts ``rgb + 1`` (non-negative, so the
    SiLUs keep it) in channels 0-2 and a constant 1 in channel 3 (after a channel
    normalisation the colour survives as its ratio to that constant); shortcuts, resampling
    convs and the (de)quantising convs pass channels through; residual branches and the
    attention output start at zero. The posterior starts nearly deterministic
    (log-variance -10). Only the decoder's last conv (the read-out) keeps its random init.
    """
    from ..model.vae_blocks import Downsample, FrameAttention, ResidualBlock, Upsample

    z = vae.config.z_dim
    enc, dec = vae.encoder, vae.decoder
    _identity_(enc.conv1)
    enc.conv1.bias[:4] = 1.0  # rgb + 1 in channels 0-2, and channel 3 (no input) a constant 1
    for m in vae.modules():
        if isinstance(m, ResidualBlock):
            torch.nn.init.zeros_(m.residual[6].weight)
            torch.nn.init.zeros_(m.residual[6].bias)
            if m.shortcut is not None:
                _identity_(m.shortcut)
        elif isinstance(m, FrameAttention):
            torch.nn.init.zeros_(m.proj.weight)
            torch.nn.init.zeros_(m.proj.bias)
        elif isinstance(m, (Downsample, Upsample)):
            _identity_(m.resample[1])
    _identity_(enc.head[2])
    _identity_(vae.conv1)
    vae.conv1.weight[z:].zero_()
    vae.conv1.bias[z:].fill_(-10.0)
    _identity_(vae.conv2)
    _identity_(dec.conv1)


@torch.no_grad()
def init_time_layers_per_frame(vae) -> None:
    """Make every time-mixing layer start as if the VAE coded frames one by one.

    Causal 3x3x3 convs keep only their newest time slice (the one a lone frame trains);
    temporal downsampling keeps the newest frame of each pair and temporal upsampling
    repeats a frame twice. The video autoencoder then starts as the image autoencoder on
    every other frame, instead of mixing frames through random kernels it must unlearn.
    """
    from ..model.vae_blocks import CausalConv3d, Downsample, Upsample

    for m in vae.modules():
        if isinstance(m, (Downsample, Upsample)) and m.time_conv is not None:
            w = m.time_conv.weight  # [C_out, C, 3, 1, 1]
            eye = torch.eye(w.shape[1], dtype=w.dtype)[:, :, None, None]
            w.zero_()
            m.time_conv.bias.zero_()
            for half in range(w.shape[0] // w.shape[1]):  # Upsample makes two frames per frame
                w[half * w.shape[1]:(half + 1) * w.shape[1], :, -1] = eye
        elif isinstance(m, CausalConv3d) and m.past > 0 and m.weight.shape[3] > 1:
            m.weight[:, :, :-1].zero_()


def train_vae(frames: np.ndarray, out_path: Path, steps: int = 2000, lr: float = 1e-3, kl_weight: float = 1e-5,
              seed: int = 0, init: Path | None = None, crop: int | None = 64, dim: int = 8,
              save_every: int = 250, clips_per_step: int = 2, per_frame_time_init: bool = True,
              window: int = 9, train_encoder: bool = True, ssim_weight: float = 0.0,
              device: str | torch.device = "cpu") -> dict:
    """Train a small Wan2.1 VAE on ``frames`` (uint8 [clips, T, H, W, 3]; the last four clips are
    held out), from scratch or on from the VAE file ``init``; measure its latent statistics
    and save it (fp16).

    Every step sees eight still frames and ``clips_per_step`` 5-frame clips (random crops on the 8-pixel
    latent grid: the net is convolutional, and a crop costs a fraction of a frame). Stills are
    cheap (a lone frame runs as 2D convolutions) and teach appearance; the clips teach the
    causal time layers. The file is rewritten every ``save_every`` steps, so a run stopped
    early still leaves a usable VAE; the reconstruction PSNR of held-out clips is logged then.
    With ``per_frame_time_init`` the time layers start as a frame-by-frame coder (see
    :func:`init_time_layers_per_frame`); use it from scratch and when going on from a VAE
    trained with ``clips_per_step=0``, whose time kernels were never trained.
    ``train_encoder=False`` fine-tunes the decoder alone: the latents stay exactly as they
    were, so a DiT already trained on them decodes through the better decoder unchanged.
    ``ssim_weight`` adds ``w * (1 - SSIM)`` to the loss: L1 and L2 alone settle on blurred edges
    (the mean of the plausible answers), which SSIM's local contrast and structure terms punish.
    ``device`` is where the VAE trains (the frames stay in host memory; each step's crops are moved).
    """
    from ..model.vae import VAEConfig, WanVAE

    torch.manual_seed(seed)
    device = torch.device(device)
    held_out = to_video(frames[-4:, :window]).to(device)  # the last clips are never trained on
    data = frames[:-4]
    vae = WanVAE(VAEConfig(dim=dim))
    init_as_identity(vae)
    history, stats = [], None
    if init is not None:
        from safetensors import safe_open
        from safetensors.torch import load_file

        vae.load_state_dict({k: v.float() for k, v in load_file(str(init)).items()})
        with safe_open(str(init), framework="pt") as f:  # keep the card of the run we go on from
            meta = f.metadata() or {}
        card = json.loads(meta.get("dreamactor_demo", "{}"))
        history = [*card.pop("history", []), card] if card else []
        if not train_encoder and "latent_mean" in meta and "latent_std" in meta:
            # the latents a DiT was trained on were normalised with these; re-measuring them with the
            # fp16-rounded encoder would shift them by ~1e-3
            stats = json.loads(meta["latent_mean"]), json.loads(meta["latent_std"])
    vae.to(device)
    if per_frame_time_init:  # from scratch, or on from a VAE trained on stills only
        init_time_layers_per_frame(vae)
    if not train_encoder:  # decoder-only fine-tuning: latents (and a DiT trained on them) stay valid
        for p in (*vae.encoder.parameters(), *vae.conv1.parameters()):
            p.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in vae.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    t0, losses, info = time.perf_counter(), [], {}
    clip_crop = None if crop is None else min(crop, max(32, crop * 3 // 4 // 8 * 8))
    for step in range(steps):
        for g in opt.param_groups:  # short warm-up, then cosine decay
            g["lr"] = lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / steps))
        clips = rng.integers(len(data), size=clips_per_step)
        starts = rng.integers(data.shape[1] - 4, size=clips_per_step)
        still = _crop(to_video(data[rng.integers(len(data), size=8), rng.integers(data.shape[1])][:, None]), rng, crop)
        inputs = [still.to(device)]
        if clips_per_step:
            inputs.append(_crop(to_video(np.stack([data[c, s:s + 5] for c, s in zip(clips, starts)])), rng,
                                clip_crop).to(device))
        loss = 0.0
        for x in inputs:
            rec, kl = _vae_forward(vae, x, gen, train_encoder)
            loss = loss + F.l1_loss(rec, x) + F.mse_loss(rec, x) + kl_weight * kl
            if ssim_weight:
                loss = loss + ssim_weight * (1.0 - ssim(rec, x))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        if (step + 1) % 10 == 0:
            log.info("vae step %d/%d loss %.4f (%.0fs)", step + 1, steps, np.mean(losses[-10:]),
                     time.perf_counter() - t0)
        if (step + 1) % save_every == 0 or step + 1 == steps:
            vae.eval()
            info = {"steps": step + 1, "seconds": round(time.perf_counter() - t0, 1), "dim": dim,
                    "final_loss": float(np.mean(losses[-20:])), "clips": int(len(data)), "size": int(data.shape[2]),
                    **reconstruction_scores(vae, held_out),
                    "encoder_trained": train_encoder, "clips_per_step": clips_per_step, "lr": lr,
                    "ssim_weight": ssim_weight}
            if history:
                info["history"] = history
            log.info("vae %s", info)
            save_vae(vae, out_path, *(stats or latent_stats(vae, data, window=window)), info)
            vae.train()
    return info


def ssim(a: torch.Tensor, b: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM (Gaussian window, K1 0.01, K2 0.03) of videos [B, 3, T, H, W] in [-1, 1]; differentiable."""
    radius = int(3.5 * sigma + 0.5)  # 11 taps at sigma 1.5, as the usual 11x11 window
    # SSIM is defined on [0, L] (its luminance term is not shift invariant): map [-1, 1] to [0, 1]
    a2, b2 = ((v.transpose(1, 2).reshape(-1, 1, *v.shape[-2:]) + 1.0) * 0.5 for v in (a, b))

    def blur(v):
        return gaussian_blur(v, sigma, radius, mode="reflect")

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mu_a, mu_b = blur(a2), blur(b2)
    var_a, var_b = blur(a2 * a2) - mu_a ** 2, blur(b2 * b2) - mu_b ** 2
    cov = blur(a2 * b2) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.mean()


@torch.no_grad()
def reconstruction_scores(vae, video: torch.Tensor) -> dict:
    """Held-out PSNR (dB) and SSIM of ``video`` ([B, 3, T, H, W] in [-1, 1]) through the VAE."""
    rec = vae.decode_raw(vae.encode_raw(video)).clamp(-1.0, 1.0)
    return {"held_out_psnr": round(float(10.0 * torch.log10(4.0 / F.mse_loss(rec, video))), 2),
            "held_out_ssim": round(float(ssim(rec, video)), 4)}


@torch.no_grad()
def latent_stats(vae, data: np.ndarray, clips: int = 32, window: int = 9) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the VAE's raw latent means over 9-frame windows of the data."""
    device = next(vae.parameters()).device
    mus = [vae.encode_raw(to_video(data[i:i + 1, :window]).to(device)) for i in range(min(clips, len(data)))]
    mu = torch.cat(mus, 2)
    mean = mu.mean((0, 2, 3, 4))
    std = mu.std((0, 2, 3, 4)).clamp_min(1e-3)
    return [round(float(v), 5) for v in mean], [round(float(v), 5) for v in std]


def save_vae(vae, path: Path, mean: list[float], std: list[float], info: dict) -> None:
    """Official Wan2.1 VAE key layout in fp16, latent statistics in the metadata."""
    from safetensors.torch import save_file

    sd = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in vae.state_dict().items()}
    meta = {"latent_mean": json.dumps(mean), "latent_std": json.dumps(std), "dreamactor_demo": json.dumps(info)}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(path), metadata=meta)
