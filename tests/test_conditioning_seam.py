"""The conditioning seam and the model contract.

A new guidance signal (here a depth map) is added entirely in this file: its entry is
registered, a "renderer" makes its frames, the VAE encodes them, and a DreamActor-variant
DiT reads it. The sampler, the windows and the pipeline are not edited, and they cut it per
window and pass it to the model by name.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dreamactor_core.model.config import ModelConfig
from dreamactor_core.model.contract import ModelContract, model_contract
from dreamactor_core.model.dit import AnimateDiT
from dreamactor_core.model.embeddings import patch_embedding
from dreamactor_core.model.entries import Conditioning, Entry, register_entry
from dreamactor_core.sampling.guidance import GuidanceSettings, StrengthWindow
from dreamactor_core.sampling.pipeline import AnimateSettings, animate_guidance
from dreamactor_core.utils import DreamActorError
from sampling_fakes import OracleDiT, PoolVAE

# 1. the entry: one latent frame per video latent frame, time on axis 2, zeros in the CFG negative branch
DEPTH = register_entry(Entry("depth_latents", time_axis=2, rate="latent", negative=0.0, signal="depth"))


# 2. the renderer: a constant depth map per frame (nearer over time), grey levels as RGB frames
def render_depth(frames: int, height: int, width: int) -> np.ndarray:
    levels = np.linspace(40, 220, frames).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (frames, height, width, 3)).copy()


def encode_depth(vae, frames: np.ndarray) -> torch.Tensor:
    video = torch.from_numpy(frames).float().permute(3, 0, 1, 2)[None] / 127.5 - 1.0
    return vae.encode(video)


# 3. the model's use: the DreamActor-M1 variant with a depth patch embedding added to the video tokens
class DepthDiT(AnimateDiT):
    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.depth_embedding = patch_embedding(16, config.dim, config.patch)
        self.seen: list[torch.Tensor] = []

    @property
    def contract(self) -> ModelContract:
        return super().contract.consuming("depth_latents")

    def inject_signals(self, h, signals):
        depth = signals.pop("depth_latents")
        self.seen.append(depth)
        r = self.config.num_refs
        h = torch.cat([h[:, :, :r], h[:, :, r:] + self.depth_embedding(depth.to(self.compute_dtype))], dim=2)
        return super().inject_signals(h, signals) if signals else h


def _tiny_variant(cls=DepthDiT):
    torch.manual_seed(0)
    cfg = ModelConfig.dreamactor_m1(dim=32, ffn_dim=64, num_heads=2, num_layers=2, text_len=8, face_every=0,
                                    num_refs=2)
    model = cls(cfg).eval()
    with torch.no_grad():  # the official init zeroes output layers; give every path a signal
        for p in model.parameters():
            if p.dim() >= 2 and p.abs().sum() == 0:
                p.normal_(0, 0.05)
    return model


def _run(model, vae, signals=None, cfg=1.0, frames=17, **guidance):
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    guide = rng.integers(0, 255, (frames, 32, 32, 3), dtype=np.uint8)
    settings = AnimateSettings(steps=3, window=9, refert=1, guidance=GuidanceSettings(cfg=cfg, **guidance))
    latents = []
    animate_guidance(ref, guide, None, model, vae, clip_fea=torch.zeros(257, 1280), settings=settings,
                     signals=signals, latent_sink=latents.append)
    return torch.cat(latents, dim=2)


def test_a_new_signal_reaches_the_model_through_the_seam_without_sampling_code():
    vae = PoolVAE()
    model = _tiny_variant()
    depth = encode_depth(vae, render_depth(17, 32, 32))  # [1, 16, 5, 4, 4]
    plain = _run(model, vae)
    assert model.seen == []
    with_depth = _run(model, vae, {"depth_latents": depth})
    assert float((with_depth - plain).abs().max()) > 1e-3  # the signal changes the video
    # two windows (frames 0-8, 8-16), each given its own latent frames of the clip's depth, every step
    assert len(model.seen) == 2 * 3
    torch.testing.assert_close(model.seen[0], depth[:, :, 0:3])
    torch.testing.assert_close(model.seen[3], depth[:, :, 2:5])
    # CFG: the negative branch gets the entry's declared neutral value (zeros)
    model.seen.clear()
    _run(model, vae, {"depth_latents": depth}, cfg=2.0)
    assert len(model.seen) == 2 * 3 * 2 and torch.count_nonzero(model.seen[1]) == 0
    assert torch.equal(model.seen[0], depth[:, :, 0:3])
    # its strength window is the guidance's, by the entry's signal name: 0 gives the neutral value
    model.seen.clear()
    _run(model, vae, {"depth_latents": depth}, strengths={"depth": StrengthWindow(0.0)})
    assert all(torch.count_nonzero(d) == 0 for d in model.seen)
    # and no sampling, window or training module was edited for it
    core = Path(__file__).resolve().parents[1] / "dreamactor_core"
    for folder in ("sampling", "training"):
        for f in (core / folder).glob("*.py"):
            assert "depth_latents" not in f.read_text(), f


def test_a_signal_the_model_does_not_consume_is_refused_before_sampling():
    vae = PoolVAE()
    plain = _tiny_variant(AnimateDiT)
    depth = encode_depth(vae, render_depth(17, 32, 32))
    calls = []
    plain.register_forward_pre_hook(lambda *a: calls.append(1))
    with pytest.raises(DreamActorError, match="depth_latents: this model does not consume it"):
        _run(plain, vae, {"depth_latents": depth})
    with pytest.raises(DreamActorError, match="depth_latents: 3 latent frames on axis 2, but the 17-frame"):
        _run(_tiny_variant(), vae, {"depth_latents": depth[:, :, :3]})
    with pytest.raises(DreamActorError, match="'normal_latents' is not registered"):
        _run(_tiny_variant(), vae, {"normal_latents": depth})
    assert calls == []


@pytest.mark.parametrize("cfg,calls_per_step", [(1.0, 1), (3.0, 2)])
def test_model_calls_per_step(cfg, calls_per_step):
    """CFG 1 makes exactly one model call per step (no negative branch); CFG > 1 two."""
    vae = PoolVAE()
    model = _tiny_variant(AnimateDiT)
    calls = []
    model.register_forward_pre_hook(lambda *a: calls.append(1))
    _run(model, vae, cfg=cfg)
    assert len(calls) == 2 * 3 * calls_per_step  # 2 windows x 3 steps


def test_the_contract_is_declared_as_data_and_checked_once():
    wan = AnimateDiT(ModelConfig(dim=32, ffn_dim=64, num_heads=2, num_layers=5, text_len=8, face_size=64,
                                 motion_channels_max=16, motion_dim=16, face_hidden=16))
    c = model_contract(wan)
    assert (c.num_refs, c.face_path, c.face_size, c.pose_injection, c.text_len, c.has_clip) == (
        1, "tokens", 64, "add", 8, True)
    assert "ref_latents" not in c.consumes and {"pose_latents", "face_tokens", "clip_fea"} <= c.consumes
    m1 = model_contract(_tiny_variant(AnimateDiT))
    assert (m1.num_refs, m1.face_path, m1.pose_injection) == (2, "none", "concat")
    assert "ref_latents" in m1.consumes and "face_tokens" not in m1.consumes
    assert model_contract(OracleDiT(num_refs=3)).num_refs == 3
    with pytest.raises(DreamActorError, match="declares no model contract"):
        model_contract(torch.nn.Linear(2, 2))
    with pytest.raises(DreamActorError, match="face_path"):
        ModelContract(face_path="mesh")


def test_conditioning_negatives_and_absents():
    c = Conditioning().set("context", torch.ones(1, 2, 4), negative=torch.zeros(1, 2, 4))
    c.set("pose_latents", torch.ones(1, 16, 2, 2, 2), absent=torch.full((1, 16, 2, 2, 2), -1.0))
    c.set("face_pixels", torch.zeros(1, 3, 5, 8, 8))
    assert torch.equal(c.negative("context", c["context"]), torch.zeros(1, 2, 4))
    pose = c["pose_latents"] * 0.5
    assert c.negative("pose_latents", pose) is pose  # "same": the positive's (blended) value
    assert torch.all(c.negative("face_pixels", c["face_pixels"]) == -1)
    assert torch.all(c.absent("pose_latents") == -1) and torch.all(c.absent("face_pixels") == -1)
    with pytest.raises(DreamActorError, match="face_tokens: its negative branch value was not given"):
        Conditioning().set("face_tokens", torch.zeros(1, 2, 5, 8)).negative("face_tokens", None)


def test_the_trainer_passes_a_new_signal_through():
    """A batch entry the model consumes reaches it in training and its weights learn from it."""
    from dreamactor_core.training.dataset import RandomClips
    from dreamactor_core.training.trainer import training_loss

    model = _tiny_variant().train()
    batch = RandomClips(frames=3, refs=2, text_len=8, clip=True).batch(0, 0, 1, 1)
    batch["depth_latents"] = torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    loss = training_loss(model, batch, torch.Generator().manual_seed(0), 5.0, use_face=False)
    loss.backward()
    assert len(model.seen) == 1 and torch.equal(model.seen[0], batch["depth_latents"])
    assert float(model.depth_embedding.weight.grad.abs().sum()) > 0
    # a batch without the entry: the model runs without it
    model.seen.clear()
    training_loss(model, {k: v for k, v in batch.items() if k != "depth_latents"}, torch.Generator(), 5.0, False)
    assert model.seen == []


def test_a_signal_node_reaches_the_sampler_node_through_the_signals_socket():
    """The node side of a new signal: a node that renders and encodes it into the Sampler's generic
    signals socket; the Sampler node is not edited for it."""
    from comfy_api.latest import io

    from nodes import sampling, settings
    from nodes.types import Signals, add_signal
    from test_nodes_sampling import RawPoolVAE

    class DepthSignal(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id="TestDepthSignal", inputs=[io.Image.Input("guidance"), io.Vae.Input("vae"),
                                                                Signals.Input("signals", optional=True)],
                             outputs=[Signals.Output()])

        @classmethod
        def execute(cls, guidance, vae, signals=None):
            n, h, w = (int(v) for v in guidance.shape[:3])
            return io.NodeOutput(add_signal(signals, "depth_latents", encode_depth(vae, render_depth(n, h, w))))

    vae, model = RawPoolVAE(), _tiny_variant()
    g = torch.Generator().manual_seed(0)
    ref, guide = torch.rand(1, 32, 32, 3, generator=g), torch.rand(17, 32, 32, 3, generator=g)
    args = dict(model=model, vae=vae, reference=ref, guidance=guide, preset="standard", seed=3, width=0, height=0,
                aspect="letterbox", frame_count=13,
                solver_settings=settings.SolverSettings.execute(steps=2, solver="euler", shift=5.0, cfg=1.0)[0],
                window_settings=settings.WindowSettings.execute(window=9, motion_frames=5, color_match=0.0)[0])
    plain = sampling.Sampler.execute(**args)[0]["samples"]
    depth = DepthSignal.execute(guidance=guide, vae=vae)[0]
    assert set(depth) == {"depth_latents"} and depth["depth_latents"].shape[2] == 5
    with_depth = sampling.Sampler.execute(**args, signals=depth)[0]["samples"]
    assert float((with_depth - plain).abs().max()) > 1e-3
    # frame_count 13 -> 4 latent frames of the 17-frame clip's 5; the first window gets its first 3
    torch.testing.assert_close(model.seen[0], depth["depth_latents"][:, :, :3])
    with pytest.raises(DreamActorError, match="depth_latents is already set"):
        DepthSignal.execute(guidance=guide, vae=vae, signals=depth)
