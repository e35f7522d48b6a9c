"""The per-window context cache: same output bit for bit, made once per window and branch, refused
when it belongs to another call; and the bf16 patch embedding as one matmul."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dreamactor_core.model.layers import Conv3d
from dreamactor_core.sampling.guidance import GuidanceSettings, GuidedDenoiser
from dreamactor_core.utils import DreamActorError
from test_loader import dit_inputs, tiny_dit  # noqa: F401  (tiny_dit is a fixture)


def _no_face(inp: dict) -> dict:
    return {k: v for k, v in inp.items() if k != "face_pixels"}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cached_context_gives_the_same_output(tiny_dit, dtype):  # noqa: F811
    inp = dit_inputs(tiny_dit.config)
    tiny_dit.to_compute_dtype(dtype)
    try:
        with torch.no_grad():
            want = tiny_dit(**inp)
            cache = tiny_dit.prepare_context(inp["context"], inp["clip_fea"])
            got = tiny_dit(**{**inp, "context": None, "clip_fea": None}, context_cache=cache)
    finally:
        tiny_dit.to_compute_dtype(torch.float32)
    assert torch.equal(got, want)
    assert len(cache.kv) == len(tiny_dit.blocks) and cache.text.dtype == dtype


def test_cache_for_another_batch_is_refused(tiny_dit):  # noqa: F811
    inp = dit_inputs(tiny_dit.config)
    cache = tiny_dit.prepare_context(inp["context"], inp["clip_fea"])
    two = {k: torch.cat([v, v]) if k != "t" else v for k, v in _no_face(inp).items()}
    with pytest.raises(DreamActorError, match="context_cache was prepared for batch 1.*batch 2"):
        with torch.no_grad():
            tiny_dit(**two, context_cache=cache)


class _Counter:
    def __init__(self, *modules):
        self.n = 0
        for m in modules:
            m.register_forward_hook(self)

    def __call__(self, *args):
        self.n += 1


@pytest.mark.parametrize("cfg", [1.0, 4.0])
def test_text_clip_and_cross_kv_are_computed_once_per_window_and_branch(tiny_dit, cfg):  # noqa: F811
    from dreamactor_core.sampling.conditioning import WindowConditioning

    inp = _no_face(dit_inputs(tiny_dit.config))
    g = torch.Generator().manual_seed(4)
    cond = WindowConditioning.standard(y=inp["y"], pose_latents=inp["pose_latents"], pose_null=None, face_pixels=None,
                              context=inp["context"], context_null=torch.randn(1, 3, tiny_dit.config.text_dim,
                                                                              generator=g),
                              clip_fea=inp["clip_fea"], num_refs=1, frames=5)
    text, clip = _Counter(tiny_dit.text_embedding), _Counter(tiny_dit.img_emb)
    kv = _Counter(*[b.cross_attn.k for b in tiny_dit.blocks], *[b.cross_attn.k_img for b in tiny_dit.blocks])
    q = _Counter(*[b.cross_attn.q for b in tiny_dit.blocks])
    den = GuidedDenoiser(tiny_dit, cond, GuidanceSettings(cfg=cfg), steps=3)
    x = inp["x"]
    for step, sigma in enumerate((0.9, 0.6, 0.3)):
        v = den(x, sigma, step)
    branches = 1 if cfg == 1.0 else 2
    assert den.calls == 3 * branches  # CFG 1: one model call per step
    assert (text.n, clip.n) == (branches, branches)  # once per window and branch, not per step
    assert kv.n == 2 * len(tiny_dit.blocks) * branches and q.n == 3 * branches * len(tiny_dit.blocks)
    # and the guided velocity is the one computed without any cache
    t = torch.tensor([300.0])
    with torch.no_grad():
        pos = tiny_dit(x, t, cond.entries["context"], clip_fea=cond.entries["clip_fea"], y=cond.y, pose_latents=cond.entries["pose_latents"])
        neg = tiny_dit(x, t, cond.entries.negatives["context"], clip_fea=cond.entries["clip_fea"], y=cond.y, pose_latents=cond.entries["pose_latents"])
    torch.testing.assert_close(v, neg + cfg * (pos - neg), atol=1e-6, rtol=1e-6)


def test_bf16_patch_embedding_as_a_matmul_equals_the_conv():
    g = torch.Generator().manual_seed(0)
    conv = Conv3d(36, 64, kernel_size=(1, 2, 2), stride=(1, 2, 2))
    x = torch.randn(2, 36, 3, 8, 6, generator=g)
    want = F.conv3d(x, conv.weight, conv.bias, stride=(1, 2, 2))
    assert torch.equal(conv(x), want)  # float32 keeps the conv itself
    half = conv.to(torch.bfloat16)
    got = half(x.to(torch.bfloat16))
    ref = F.conv3d(x.to(torch.bfloat16).float(), half.weight.float(), half.bias.float(), stride=(1, 2, 2))
    assert got.shape == ref.shape and got.dtype == torch.bfloat16
    assert (got.float() - ref).abs().max() <= 2e-2 * ref.abs().max()
