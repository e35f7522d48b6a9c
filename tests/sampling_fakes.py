"""Small stand-ins for the DiT and VAE used by the sampling tests.

``OracleDiT`` predicts the flow velocity toward a fixed function of its
conditioning (reference latent in the reference slots, the known latents
where the mask of ``y`` is 1, pose latents plus a face/text term elsewhere),
so an exact solver reaches that target and tests can check where every input
went. ``PoolVAE`` is a linear "VAE" with the Wan geometry (first frame alone,
then 4 frames per latent, 8x in space, 16 channels).
"""
from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F

from dreamactor_core.model.contract import ConditionedModel, ModelContract


class PoolVAE(nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        a = torch.linalg.qr(torch.randn(16, 3, generator=g))[0] * 2.0
        self.register_buffer("a", a)  # [16, 3], orthogonal columns scaled by 2
        self.calls = 0

    @torch.no_grad()
    def encode(self, video):
        self.calls += 1
        b, c, t, h, w = video.shape
        first = video[:, :, :1]
        rest = video[:, :, 1:].reshape(b, c, (t - 1) // 4, 4, h, w).mean(3)
        x = torch.cat([first, rest], 2)
        x = F.avg_pool3d(x, (1, 8, 8))
        return torch.einsum("kc,bcthw->bkthw", self.a, x)

    @torch.no_grad()
    def decode(self, latent):
        rgb = torch.einsum("kc,bkthw->bcthw", self.a, latent) / 4.0
        rgb = rgb.repeat_interleave(8, 3).repeat_interleave(8, 4)
        video = torch.cat([rgb[:, :, :1], rgb[:, :, 1:].repeat_interleave(4, 2)], 2)
        return video.clamp(-1, 1)


class OracleDiT(ConditionedModel, nn.Module):
    def __init__(self, num_refs=1, has_clip=True, face_size=64):
        super().__init__()
        self.config = SimpleNamespace(num_refs=num_refs, has_clip=has_clip, text_len=512, face_size=face_size,
                                      has_face=True)
        consumes = {"context", "y", "pose_latents", "face_tokens"} | ({"clip_fea"} if has_clip else set())
        self._contract = ModelContract(num_refs=num_refs, face_path="tokens", face_size=face_size,
                                       pose_injection="add", has_clip=has_clip, consumes=consumes)
        self.w = nn.Parameter(torch.tensor(0.5))
        self.calls = []
        self.on_call = None
        self.keep = 0.0  # > 0 lets the initial noise show in the result
        self.ref_slots = []  # reference latents seen in y, per call

    @property
    def contract(self):
        return self._contract

    def prepare_conditioning(self, cond, cache):
        """Face crops -> tokens (both branches), as AnimateDiT does, with the plain encoder."""
        if "face_pixels" in cond:
            pixels = cond["face_pixels"]
            cond.drop("face_pixels").set("face_tokens", self.encode_face(pixels),
                                         negative=self.encode_face(torch.full_like(pixels, -1.0)))
        elif "face_tokens" in cond:  # precomputed: the negative is still a black clip of that length
            tokens, s = cond["face_tokens"], self.config.face_size
            black = torch.full((tokens.shape[0], 3, 4 * (tokens.shape[1] - 1) + 1, s, s), -1.0)
            cond.set("face_tokens", tokens, negative=self.encode_face(black))
        return cond

    def encode_face(self, face_pixels):
        b, c, f, s, _ = face_pixels.shape
        lat_t = (f - 1) // 4 + 1
        m = face_pixels.mean((1, 3, 4))  # [B, F]
        idx = torch.arange(lat_t) * 4
        return m[:, idx, None, None].expand(b, lat_t, 5, 8).contiguous()

    def target(self, t, context, clip_fea, y, pose_latents, face_tokens):
        r = self.config.num_refs
        mask = y[:, :4]
        lat = y[:, 4:]
        video = torch.zeros_like(lat[:, :, r:])
        if pose_latents is not None:
            video = video + self.w * pose_latents
        if face_tokens is not None:
            video = video + face_tokens.mean((2, 3))[:, None, :, None, None]
        video = video + context.mean() * 10.0
        if clip_fea is not None:
            video = video + clip_fea.mean()
        known = mask[:, :1, r:]
        video = known * lat[:, :, r:] + (1 - known) * video
        return torch.cat([lat[:, :, :r], video], 2)

    def forward(self, x, t, context, clip_fea=None, y=None, pose_latents=None, face_pixels=None, face_tokens=None):
        self.calls.append(float(t[0]))
        self.ref_slots.append(y[:, 4:, :self.config.num_refs].clone())
        if self.on_call is not None:
            self.on_call(self, x)
        x0 = self.target(t, context, clip_fea, y, pose_latents, face_tokens) + self.keep * x
        sigma = (t / 1000.0).view(-1, 1, 1, 1, 1)
        return (x - x0) / sigma.clamp_min(1e-4)


def tiny_checkpoints(folder, *, seed: int = 0):
    """Write a tiny random Wan2.2-Animate DiT and Wan2.1 VAE in the official key layout.

    dim 32, 2 heads, 5 layers (one face adapter; layers must be a multiple of 5), text_len 8,
    VAE base width 8. The motion encoder keeps its fixed ~23M parameters, stored as bf16.
    Returns ``(dit_path, vae_path)``.
    """
    from pathlib import Path

    from safetensors.torch import save_file

    from dreamactor_core.model.config import ModelConfig
    from dreamactor_core.model.dit import AnimateDiT
    from dreamactor_core.model.vae import VAEConfig, WanVAE

    folder = Path(folder)
    torch.manual_seed(seed)
    dit = AnimateDiT(ModelConfig(dim=32, ffn_dim=64, num_heads=2, num_layers=5, text_len=8))
    with torch.no_grad():  # the official init zeroes output layers; give every path a signal
        for name, p in dit.named_parameters():
            if p.dim() >= 2 and p.abs().sum() == 0:
                p.normal_(0, 0.02)
    vae = WanVAE(VAEConfig(dim=8))
    dit_path, vae_path = folder / "tiny_animate_dit.safetensors", folder / "tiny_wan21_vae.safetensors"
    sd = {k: (v.to(torch.bfloat16) if k.startswith("motion_encoder") and v.dim() > 1 else v).contiguous()
          for k, v in dit.state_dict().items()}
    save_file(sd, str(dit_path))
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, str(vae_path))
    return dit_path, vae_path
