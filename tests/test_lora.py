"""LoRA files: every key format and prefix gives the output of a checkpoint merged by hand; errors and reports."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from dreamactor_core.model.loader import load_dit
from dreamactor_core.model.lora import LoraError, apply_loras, lora_patches, parse_lora_arg
from test_loader import dit_inputs, fp8_scaled, tiny_dit  # noqa: F401  (tiny_dit is a fixture)

STRENGTH = 0.7
# low-rank targets (a conv weight among them) and full-delta targets (weights, biases, a bare parameter)
LOW_RANK = ("blocks.0.self_attn.q", "blocks.1.ffn.0", "blocks.0.cross_attn.k_img", "patch_embedding",
            "face_adapter.fuser_blocks.0.linear1_kv")
FULL = ("blocks.1.self_attn.o", "blocks.0.norm3", "head.head")
BARE = "blocks.0.modulation"


def _base(base: str, prefix: str) -> str:
    return "lora_unet_" + base.replace(".", "_") if prefix == "lora_unet_" else prefix + base


def make_lora(sd: dict, fmt: str, prefix: str, seed: int = 3, rank: int = 4, alpha: float = 2.0):
    """A LoRA file's tensors and the float32 change it makes (at strength 1) per official key."""
    g = torch.Generator().manual_seed(seed)
    lora, deltas = {}, {}
    if fmt in ("peft", "kohya"):
        up_name, down_name = (".lora_B.weight", ".lora_A.weight") if fmt == "peft" else (".lora_up.weight",
                                                                                          ".lora_down.weight")
        for base in (b for b in LOW_RANK if b + ".weight" in sd):  # models without a CLIP branch lack k_img
            w = sd[base + ".weight"]
            up = torch.randn(w.shape[0], rank, generator=g) * 0.1
            down = torch.randn(rank, *w.shape[1:], generator=g) * 0.1
            if fmt == "kohya":  # kohya files are usually bf16; the change is made from what the file holds
                up, down = up.to(torch.bfloat16), down.to(torch.bfloat16)
            lora[_base(base, prefix) + up_name], lora[_base(base, prefix) + down_name] = up, down
            up, down = up.float(), down.float()
            scale = 1.0
            if fmt == "kohya":
                lora[_base(base, prefix) + ".alpha"] = torch.tensor(alpha)
                scale = alpha / rank
            deltas[base + ".weight"] = (up @ down.flatten(1)).reshape(w.shape) * scale
    else:
        for base in FULL:
            for suffix, key in ((".diff", base + ".weight"), (".diff_b", base + ".bias")):
                deltas[key] = torch.randn(sd[key].shape, generator=g) * 0.05
                lora[_base(base, prefix) + suffix] = deltas[key]
        deltas[BARE] = torch.randn(sd[BARE].shape, generator=g) * 0.05
        lora[_base(BARE, prefix) + ".diff"] = deltas[BARE]
    return lora, deltas


def merged_by_hand(sd: dict, deltas: dict, strength: float) -> dict:
    return {k: v + strength * deltas[k] if k in deltas else v for k, v in sd.items()}


def _run(model, inp):
    with torch.no_grad():
        return model(**inp)


@pytest.fixture
def base_file(tiny_dit, tmp_path):  # noqa: F811
    path = tmp_path / "dit.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_dit.state_dict().items()}, str(path))
    return path


@pytest.mark.parametrize("prefix", ["diffusion_model.", "lora_unet_", ""])
@pytest.mark.parametrize("fmt", ["peft", "kohya", "diff"])
def test_each_format_equals_a_checkpoint_merged_by_hand(tiny_dit, base_file, tmp_path, fmt, prefix):  # noqa: F811
    sd = tiny_dit.state_dict()
    lora, deltas = make_lora(sd, fmt, prefix)
    lora_path = tmp_path / "lora.safetensors"
    save_file(lora, str(lora_path))
    merged = tmp_path / "merged.safetensors"
    save_file(merged_by_hand(sd, deltas, STRENGTH), str(merged))

    model = load_dit(base_file)
    steps = []
    rep = apply_loras(model, [(lora_path, STRENGTH)], progress=lambda d, t: steps.append((d, t)))
    assert rep.changed == len(deltas) and rep.files[0].changed == len(deltas) and not rep.partial
    groups = {".".join(k.split(".")[:2]) if k.startswith("blocks.") else k.split(".")[0] for k in deltas}
    assert steps == [(i, len(groups)) for i in range(1, len(groups) + 1)]  # one module group at a time
    inp = dit_inputs(model.config)
    want, got = _run(load_dit(merged), inp), _run(model, inp)
    assert (got - want).abs().max() <= 1e-5
    assert (got - _run(tiny_dit, inp)).abs().max() > 1e-3  # the LoRA did change the output


def test_two_loras_add_up(tiny_dit, base_file, tmp_path):  # noqa: F811
    sd = tiny_dit.state_dict()
    a, da = make_lora(sd, "peft", "diffusion_model.", seed=5)
    b, db = make_lora(sd, "diff", "", seed=6)
    save_file(a, str(tmp_path / "a.safetensors"))
    save_file(b, str(tmp_path / "b.safetensors"))
    hand = merged_by_hand(merged_by_hand(sd, da, 0.5), db, -1.0)
    save_file(hand, str(tmp_path / "hand.safetensors"))
    model = load_dit(base_file)
    rep = apply_loras(model, [(tmp_path / "a.safetensors", 0.5), (tmp_path / "b.safetensors", -1.0)])
    assert rep.changed == len(da) + len(db)
    inp = dit_inputs(model.config)
    assert (_run(model, inp) - _run(load_dit(tmp_path / "hand.safetensors"), inp)).abs().max() <= 1e-5


def test_lora_for_another_model_is_an_error_and_changes_nothing(tiny_dit, base_file, tmp_path):  # noqa: F811
    sdxl = {"lora_unet_input_blocks_1_0_in_layers_2.lora_down.weight": torch.zeros(4, 8),
            "lora_unet_input_blocks_1_0_in_layers_2.lora_up.weight": torch.zeros(8, 4)}
    save_file(sdxl, str(tmp_path / "sdxl.safetensors"))
    model = load_dit(base_file)
    with pytest.raises(LoraError, match=r"'sdxl.safetensors' matches no tensor of this model.*input_blocks"):
        apply_loras(model, [(tmp_path / "sdxl.safetensors", 1.0)])
    save_file({"something.else": torch.zeros(2)}, str(tmp_path / "odd.safetensors"))
    with pytest.raises(LoraError, match="none of its keys has a LoRA suffix"):
        apply_loras(model, [(tmp_path / "odd.safetensors", 1.0)])
    # a good file listed first is not applied when a later one fails its checks
    good, _ = make_lora(tiny_dit.state_dict(), "peft", "")
    save_file(good, str(tmp_path / "good.safetensors"))
    with pytest.raises(LoraError):
        apply_loras(model, [(tmp_path / "good.safetensors", 1.0), (tmp_path / "sdxl.safetensors", 1.0)])
    for k, v in tiny_dit.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_wrong_size_and_broken_pairs_are_errors(tiny_dit, base_file, tmp_path):  # noqa: F811
    model = load_dit(base_file)
    big = {"blocks.0.self_attn.q.lora_A.weight": torch.zeros(4, 128),
           "blocks.0.self_attn.q.lora_B.weight": torch.zeros(128, 4)}
    save_file(big, str(tmp_path / "big.safetensors"))
    with pytest.raises(LoraError, match=r"blocks.0.self_attn.q.weight is \[64, 64\].*another model size"):
        apply_loras(model, [(tmp_path / "big.safetensors", 1.0)])
    save_file({"blocks.0.self_attn.q.lora_up.weight": torch.zeros(64, 4)}, str(tmp_path / "half.safetensors"))
    with pytest.raises(LoraError, match="has no matching down matrix"):
        apply_loras(model, [(tmp_path / "half.safetensors", 1.0)])


def test_partial_match_reports_what_it_changed_and_left_out(tiny_dit, base_file, tmp_path):  # noqa: F811
    lora, deltas = make_lora(tiny_dit.state_dict(), "peft", "diffusion_model.")
    for i in range(3):  # a module this variant lacks (Ref Attn), in three blocks
        lora[f"diffusion_model.blocks.{i}.ref_attn.q.lora_A.weight"] = torch.zeros(4, 64)
        lora[f"diffusion_model.blocks.{i}.ref_attn.q.lora_B.weight"] = torch.zeros(64, 4)
    lora["diffusion_model.img_emb.proj.9.diff"] = torch.zeros(3)
    save_file(lora, str(tmp_path / "partial.safetensors"))
    model = load_dit(base_file)
    rep = apply_loras(model, [(tmp_path / "partial.safetensors", 1.0)])
    assert rep.partial and rep.changed == len(deltas)
    assert rep.files[0].left_out == {"blocks.*.ref_attn.q": 6, "img_emb.proj.*": 1}
    text = "\n".join(rep.lines())
    assert f"changed {len(deltas)} tensors" in text and "blocks.*.ref_attn.q (6)" in text


def test_fp8_stored_weights_are_dequantized_patched_and_kept_in_compute_dtype(tiny_dit, tmp_path):  # noqa: F811
    sd = {k: v.contiguous() for k, v in tiny_dit.state_dict().items()}
    fp8_path = tmp_path / "fp8.safetensors"
    save_file(fp8_scaled(sd, only=lambda k, v: v.ndim == 2 and k.startswith("blocks.")), str(fp8_path))
    lora, deltas = make_lora(sd, "kohya", "lora_unet_")
    save_file(lora, str(tmp_path / "lora.safetensors"))
    deq = load_dit(fp8_path, weight_dtype=torch.float32)  # the fp8 weights times their scales, in float32
    save_file(merged_by_hand(deq.state_dict(), deltas, STRENGTH), str(tmp_path / "hand.safetensors"))

    model = load_dit(fp8_path)
    q = model.blocks[0].self_attn.q
    assert q.weight.dtype == torch.float8_e4m3fn and q.scale_weight is not None
    apply_loras(model, [(tmp_path / "lora.safetensors", STRENGTH)])
    assert q.weight.dtype == torch.float32 and q.scale_weight is None
    assert model.blocks[0].self_attn.k.weight.dtype == torch.float8_e4m3fn  # untouched layers stay fp8
    inp = dit_inputs(model.config)
    assert (_run(model, inp) - _run(load_dit(tmp_path / "hand.safetensors"), inp)).abs().max() <= 1e-5


@pytest.mark.parametrize("fp8", [False, True])
def test_block_swap_patches_the_host_copies(tiny_dit, tmp_path, fp8):  # noqa: F811
    sd = {k: v.contiguous() for k, v in tiny_dit.state_dict().items()}
    if fp8:
        sd = fp8_scaled(sd, only=lambda k, v: v.ndim == 2 and k.startswith("blocks."))
    path = tmp_path / "dit.safetensors"
    save_file(sd, str(path))
    lora, _ = make_lora(tiny_dit.state_dict(), "peft", "")
    save_file(lora, str(tmp_path / "lora.safetensors"))
    plain, swapped = load_dit(path), load_dit(path, block_swap=2)
    assert swapped.block_swap is not None
    for m in (plain, swapped):
        apply_loras(m, [(tmp_path / "lora.safetensors", STRENGTH)])
    inp = dit_inputs(plain.config)
    want = _run(plain, inp)
    for _ in range(2):  # the swap hooks put back the host copy after each block: it must be the patched one
        assert (_run(swapped, inp) - want).abs().max() == 0


def test_lora_patches_for_other_patchers(tiny_dit, tmp_path):  # noqa: F811
    sd = tiny_dit.state_dict()
    lora, deltas = make_lora(sd, "kohya", "lora_unet_", alpha=8.0)
    save_file(lora, str(tmp_path / "k.safetensors"))
    patches, left_out = lora_patches(tmp_path / "k.safetensors", {k: v.shape for k, v in sd.items()})
    assert set(patches) == set(deltas) and left_out == {}
    p = patches["blocks.0.self_attn.q.weight"]
    assert p.kind == "lora" and p.scale == 2.0 and p.tensors[0].shape == (64, 4)
    kind, (up, down), scale = p
    assert torch.allclose(up @ down * scale, deltas["blocks.0.self_attn.q.weight"], atol=1e-6)


def test_parse_lora_arg():
    assert parse_lora_arg("a/b.safetensors") == ("a/b.safetensors", 1.0)
    assert parse_lora_arg("a/b.safetensors:0.5") == ("a/b.safetensors", 0.5)
    assert parse_lora_arg(r"C:\loras\x.safetensors") == (r"C:\loras\x.safetensors", 1.0)
    assert parse_lora_arg(r"C:\loras\x.safetensors:-1") == (r"C:\loras\x.safetensors", -1.0)
