"""Three-stage training on a tiny DreamActor-M1 variant: which weights move, exact resume, and 2-rank FSDP."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dreamactor_core.model.config import ModelConfig
from dreamactor_core.model.dit import AnimateDiT
from dreamactor_core.training.config import FACE_PARAMS, StageConfig, TrainConfig
from dreamactor_core.training.dataset import RandomClips
from dreamactor_core.training.stages import trainable_names
from dreamactor_core.training.trainer import train

REPO = Path(__file__).resolve().parent.parent
TINY = dict(dim=32, ffn_dim=64, num_heads=2, num_layers=2, text_len=8, face_every=1, pose_mode="concat",
            in_dim=52, ref_attn=True, num_refs=2, has_clip=False, face_size=32, motion_channels_max=32,
            face_hidden=64)


def _config(out: Path, **kw) -> TrainConfig:
    stages = [StageConfig("body_head", ["*"], 2, lr=1e-3, use_face=False),
              StageConfig("face", FACE_PARAMS, 2, lr=1e-3),
              StageConfig("joint", ["*"], 2, lr=1e-3)]
    return TrainConfig(model=dict(TINY), stages=stages, out_dir=str(out), checkpoint_every=2, **kw)


def _data() -> RandomClips:
    return RandomClips(frames=2, height=4, width=4, refs=2, text_len=8, face_frames=5, face_size=32)


def _weights(path: Path) -> dict:
    return {k.split("::", 1)[1]: v for k, v in load_file(str(path)).items() if k.startswith("model::")}


def _assert_same_outputs(got_model, want_model, frames: int) -> None:
    """Both models give the same velocity on one random input (reference slots + 2 latent frames)."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(1, 16, frames, 4, 4, generator=g), torch.randn(1, 20, frames, 4, 4, generator=g)
    pose, ctx = torch.randn(1, 16, 2, 4, 4, generator=g), torch.randn(1, 8, 4096, generator=g)
    with torch.no_grad():
        want = want_model(x, torch.tensor([500.0]), ctx, y=y, pose_latents=pose)
        got = got_model(x, torch.tensor([500.0]), ctx, y=y, pose_latents=pose)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_each_stage_trains_only_its_parameters(tmp_path):
    cfg = _config(tmp_path)
    torch.manual_seed(cfg.seed)
    init = {k: v.clone() for k, v in AnimateDiT(ModelConfig(**TINY)).state_dict().items()}
    result = train(cfg, _data(), resume=False)
    assert result.steps_done == 6 and result.exported is not None
    snaps = [init] + [_weights(tmp_path / f"step_{s:07d}.safetensors") for s in (2, 4, 6)]
    model = AnimateDiT(ModelConfig(**TINY))
    face = set(trainable_names(model, FACE_PARAMS))
    params = {n for n, _ in model.named_parameters()}
    moved = [{n for n in params if not torch.equal(a[n], b[n])} for a, b in zip(snaps, snaps[1:])]
    assert moved[0] == params - face, "stage 1 (body + head) must train everything but the face path"
    assert moved[1] == face, "stage 2 must train only the face motion encoder and Face Attn"
    assert moved[2] == params, "stage 3 trains everything"


def test_resume_continues_exactly(tmp_path):
    full = train(_config(tmp_path / "a"), _data(), resume=False)
    part = train(_config(tmp_path / "b"), _data(), resume=False, max_steps=3)
    assert part.steps_done == 3 and part.exported is None
    rest = train(_config(tmp_path / "b"), _data(), resume=True)
    assert rest.steps_done == 6
    assert part.losses + rest.losses == full.losses
    a, b = load_file(str(full.exported)), load_file(str(rest.exported))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    from dreamactor_core.model.loader import load_dit

    loaded = load_dit(full.exported)  # the exported file records what its weights cannot tell
    assert (loaded.config.num_refs, loaded.config.text_len) == (2, 8)
    assert all(torch.equal(loaded.state_dict()[k], a[k]) for k in a)


def _torchrun_train(tmp_path, name: str, cfg: dict, ranks: int, shape: dict) -> tuple[dict, dict]:
    """Train under torchrun with ``ranks`` CPU processes; returns (report, rank 0's final weights)."""
    (tmp_path / f"{name}.json").write_text(json.dumps(cfg))
    (tmp_path / name).mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(ranks),
           "-m", "dreamactor_core.training", "train", "--config", str(tmp_path / f"{name}.json"),
           "--out", str(tmp_path / f"{name}_out"), "--random-data", json.dumps(shape),
           "--dump-weights", str(tmp_path / name)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    weights = [load_file(str(tmp_path / name / f"rank{r}.safetensors")) for r in range(ranks)]
    assert all(torch.equal(w[k], weights[0][k]) for w in weights[1:] for k in w), "ranks disagree on the weights"
    return json.loads(proc.stdout.strip().splitlines()[-1]), weights[0]


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun with gloo is exercised on Linux")
def test_torchrun_two_cpu_ranks_match_one_process(tmp_path):
    """Two ranks with batch 1 == one rank accumulating two micro-batches, bit for bit.

    Each rank's half-gradient is summed in one addition by the reduction, and the accumulating
    process makes the same two halves (scaling by 1/2 is exact) and adds them once, so no tolerance
    is needed. The one process runs under torchrun too: sharded alike, its autograd graph (and so
    the order in which a tensor used by several blocks sums its gradients) is the ranks' graph.
    """
    model = dict(TINY, face_every=0, ref_attn=False, num_refs=1)
    stages = [{"name": "all", "train": ["*"], "steps": 3, "lr": 1e-3}]
    shape = {"frames": 2, "height": 4, "width": 4, "refs": 1, "text_len": 8}
    cfg = {"model": model, "stages": stages, "checkpoint_every": 3, "batch_size": 1, "seed": 3}  # grad_clip 1 clips: the norm starts near 1.6
    report, two = _torchrun_train(tmp_path, "two", cfg, 2, shape)
    alone, one = _torchrun_train(tmp_path, "one", dict(cfg, accumulate=2), 1, shape)
    assert report["steps"] == alone["steps"] == 3
    assert report["losses"] == alone["losses"]
    differ = [k for k in two if not torch.equal(two[k], one[k])]
    assert not differ, f"two ranks and one accumulating process end with different weights in {differ}"


def test_variant_starts_from_an_animate_checkpoint(tmp_path):
    """Concat pose + Face Attn everywhere, initialised from a Wan2.2-Animate-layout file: same output at start."""
    from safetensors.torch import save_file

    from dreamactor_core.training.init_weights import init_from_checkpoint

    src_cfg = ModelConfig(dim=32, ffn_dim=64, num_heads=2, num_layers=5, text_len=8, has_clip=False,
                          face_size=32, motion_channels_max=32, face_hidden=64)
    torch.manual_seed(0)
    src = AnimateDiT(src_cfg).eval()
    with torch.no_grad():  # with no pose bias, additive pose == concatenated pose channels exactly
        src.pose_patch_embedding.bias.zero_()
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(tmp_path / "animate.safetensors"))
    dst = AnimateDiT(ModelConfig.dreamactor_m1(dim=32, ffn_dim=64, num_heads=2, num_layers=5, text_len=8,
                                               has_clip=False, face_size=32, motion_channels_max=32,
                                               face_hidden=64, ref_attn=False, num_refs=1, face_every=5)).eval()
    report = init_from_checkpoint(dst, str(tmp_path / "animate.safetensors"))
    assert report["widened"] == 1 and report["kept_init"] == 0
    _assert_same_outputs(dst, src, frames=3)


def test_gradient_checkpointing_gives_the_same_steps(tmp_path):
    plain = train(_config(tmp_path / "plain"), _data(), resume=False, max_steps=2)
    ckpt = train(_config(tmp_path / "ckpt", grad_checkpointing=True), _data(), resume=False, max_steps=2)
    assert all("forward" in vars(b) for b in ckpt.model.blocks)  # every block runs under torch checkpoint
    assert not any("forward" in vars(b) for b in plain.model.blocks)
    torch.testing.assert_close(torch.tensor(ckpt.losses), torch.tensor(plain.losses), rtol=1e-5, atol=1e-6)
    a, b = plain.model.state_dict(), ckpt.model.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_learning_rate_schedule_warms_up_then_holds_or_decays():
    from dreamactor_core.training.trainer import lr_at
    from dreamactor_core.utils import DreamActorError

    held = StageConfig("s", ["*"], steps=10, lr=1e-3, warmup=2)
    decayed = StageConfig("s", ["*"], steps=10, lr=1e-3, warmup=2, decay="cosine")
    assert [lr_at(held, i) for i in (0, 1, 5, 9)] == pytest.approx([5e-4, 1e-3, 1e-3, 1e-3])
    lrs = [lr_at(decayed, i) for i in range(10)]
    assert lrs[:3] == pytest.approx([5e-4, 1e-3, 1e-3])  # step 2 opens the decay at the peak
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:])) and 0 < lrs[-1] < 0.05 * 1e-3
    assert lr_at(decayed, 6) == pytest.approx(5e-4)  # half-way through the decay
    with pytest.raises(DreamActorError, match="decay"):
        StageConfig("s", ["*"], steps=10, decay="linear")


def test_log_lines_carry_the_mean_loss_and_the_demo_card_reads_it(tmp_path, caplog):
    import logging

    from dreamactor_core.training.demo import logged_losses

    cfg = _config(tmp_path / "run", log_every=2)
    with caplog.at_level(logging.INFO, logger="dreamactor"):
        result = train(cfg, _data(), max_steps=4, resume=False)
    lines = [r.getMessage() for r in caplog.records if " loss " in r.getMessage()]
    assert len(lines) == 2
    log_file = tmp_path / "train.log"
    log_file.write_text("\n".join(lines) + "\nstep 6/9 stage body_head loss 0.50000\n")  # an older line: no mean
    parsed = logged_losses(log_file)
    assert parsed[2] == pytest.approx(sum(result.losses[:2]) / 2, abs=1e-5)
    assert parsed[4] == pytest.approx(sum(result.losses[2:4]) / 2, abs=1e-5)
    assert parsed[6] == 0.5


def test_demo_recipe_trains_and_exports_a_larger_dit_when_asked(tmp_path):
    """``--dit-config`` overrides reach the run's config and the export, which loads back as that model."""
    from dreamactor_core.model.loader import load_dit
    from dreamactor_core.training import demo
    from dreamactor_core.training.state_io import export_model

    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "index.json").write_text(json.dumps({"windows": 3}))
    wider = {"dim": 64, "ffn_dim": 96, "num_heads": 4, "num_layers": 1, "patch": [1, 1, 1]}
    cfg = demo.dit_train_config(tmp_path / "cache", tmp_path / "run", steps=5, model=wider)
    assert {k: cfg.model[k] for k in wider} == wider and cfg.model["num_refs"] == demo.DIT_CONFIG["num_refs"]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(cfg.to_json())
    torch.manual_seed(0)
    trained = AnimateDiT(ModelConfig(**TrainConfig.from_json(tmp_path / "run" / "config.json").model)).eval()
    export_model(tmp_path / "run" / "model.safetensors", trained)
    info = demo.export_trained(tmp_path / "run", tmp_path / "demo_dit.safetensors")
    assert info["steps"] == 5 and info["windows"] == 3
    back = load_dit(tmp_path / "demo_dit.safetensors")
    assert (back.config.dim, back.config.num_heads, back.config.num_layers, tuple(back.config.patch)) == (64, 4, 1, (1, 1, 1))
    want = {k: v.half().float() for k, v in trained.state_dict().items() if not k.endswith(".kernel")}
    torch.testing.assert_close({k: back.state_dict()[k].float() for k in want}, want)
    with pytest.raises(ValueError, match="unknown model settings \\['width'\\]"):
        demo.dit_train_config(tmp_path / "cache", tmp_path / "run", steps=5, model={"width": 3})


def test_exported_model_loads_back_with_its_head_count(tmp_path):
    """Without a face path the weights cannot tell the head count; the exported file's metadata does."""
    from dreamactor_core.model.loader import load_dit
    from dreamactor_core.training.state_io import export_model

    cfg = ModelConfig.dreamactor_m1(dim=64, ffn_dim=96, num_heads=4, num_layers=2, text_len=8, has_clip=False,
                                    ref_attn=True, num_refs=2, face_every=0, ref_fill=True)
    torch.manual_seed(0)
    model = AnimateDiT(cfg).eval()
    export_model(tmp_path / "m.safetensors", model)
    loaded = load_dit(tmp_path / "m.safetensors")
    assert (loaded.config.num_heads, loaded.config.num_refs, loaded.config.text_len) == (4, 2, 8)
    assert loaded.config.ref_fill is True
    _assert_same_outputs(loaded, model, frames=4)


def test_bad_ref_fill_metadata_is_a_clear_checkpoint_error(tmp_path):
    from safetensors.torch import save_file

    from dreamactor_core.model.loader import CheckpointError, load_dit

    cfg = ModelConfig.dreamactor_m1(dim=64, ffn_dim=96, num_heads=4, num_layers=1, text_len=8, has_clip=False,
                                    face_every=0)
    sd = {k: v.contiguous() for k, v in AnimateDiT(cfg).state_dict().items()}
    save_file(sd, str(tmp_path / "m.safetensors"), metadata={"num_heads": "4", "ref_fill": "maybe"})
    with pytest.raises(CheckpointError, match="ref_fill='maybe' is not a boolean"):
        load_dit(tmp_path / "m.safetensors")
    save_file(sd, str(tmp_path / "m.safetensors"), metadata={"num_heads": "4"})
    assert load_dit(tmp_path / "m.safetensors").config.ref_fill is False  # Wan2.2-Animate's layout


def _write_cache(root: Path) -> None:
    """Two cached windows in the builder's format; reference slot k holds the value k."""
    from safetensors.torch import save_file

    root.mkdir()
    refs = torch.arange(3.0).view(1, 3, 1, 1).expand(16, 3, 2, 2).contiguous()
    sample = {"ref_latents": refs, "latents": torch.zeros(16, 3, 2, 2), "pose_latents": torch.zeros(16, 3, 2, 2),
              "grey_latents": torch.zeros(16, 3, 2, 2)}
    # frames 13 and 9 lie in the window 8..16, frame 0 does not
    save_file(sample, str(root / "a_w01.safetensors"), metadata={"refs": "[13, 9, 0]", "start": "8"})
    # an older cache without "start": window 0 starts at frame 0, so only frame 0 is inside
    save_file(sample, str(root / "b_w00.safetensors"), metadata={"refs": "[13, 9, 0]"})
    index = {"buckets": {"square": ["a_w01.safetensors", "b_w00.safetensors"]},
             "settings": {"window": 9, "stride": 8}}
    (root / "index.json").write_text(json.dumps(index))


def test_single_reference_samples_repeat_a_frame_from_outside_the_window(tmp_path):
    from dreamactor_core.training.dataset import CachedClips

    _write_cache(tmp_path / "cache")
    allowed = {"a_w01.safetensors": {2.0}, "b_w00.safetensors": {0.0, 1.0}}
    data = CachedClips(tmp_path / "cache", text_len=4, single_ref=1.0)
    seen = {name: set() for name in allowed}
    for step in range(40):
        g = torch.Generator().manual_seed(data.seed * 7919 + step)
        torch.multinomial(data.weights, 1, generator=g)
        names = [data.buckets["square"][i] for i in torch.randint(2, (4,), generator=g).tolist()]
        ref_y = data.batch(step, 0, 1, 4)["y"][:, 4:, :3, 0, 0]  # [B, 16, slots]
        for name, slots in zip(names, ref_y):
            assert torch.all(slots == slots[0, 0]), "every slot holds the same reference"
            assert float(slots[0, 0]) in allowed[name]
            seen[name].add(float(slots[0, 0]))
    assert seen == allowed  # both outside frames of b are used
    # ranks take slices of the same global batch
    whole = data.batch(7, 0, 1, 4)["y"]
    halves = torch.cat([data.batch(7, r, 2, 2)["y"] for r in range(2)])
    assert torch.equal(whole, halves)
    plain = CachedClips(tmp_path / "cache", text_len=4).batch(3, 0, 1, 4)["y"][:, 4:, :3, 0, 0]
    assert torch.equal(plain[:, 0], torch.tensor([[0.0, 1.0, 2.0]] * 4))


def test_reference_shares_are_checked():
    from dreamactor_core.utils import DreamActorError

    with pytest.raises(DreamActorError, match="single_ref 1.5 must be between 0 and 1"):
        TrainConfig.from_dict({"single_ref": 1.5})
    with pytest.raises(DreamActorError, match="photo_ref -0.1 must be between 0 and 1"):
        TrainConfig.from_dict({"photo_ref": -0.1})


def test_ranks_that_find_different_checkpoints_stop_with_a_clear_error(tmp_path):
    """Two machines without shared storage would resume from different steps and hang; both ranks stop."""
    script = tmp_path / "agree.py"
    script.write_text(
        "import os, sys\n"
        "from pathlib import Path\n"
        "import torch.distributed as dist\n"
        "from dreamactor_core.training.state_io import agree_on_checkpoint\n"
        "from dreamactor_core.utils import DreamActorError\n"
        "dist.init_process_group('gloo')\n"
        "rank = dist.get_rank()\n"
        "agree_on_checkpoint(Path('out/step_0000040.safetensors'))\n"
        "try:\n"
        "    agree_on_checkpoint(Path('out/step_0000040.safetensors') if rank == 0 else None)\n"
        "except DreamActorError as e:\n"
        "    print(f'rank {rank}: {e}', flush=True)\n"
        "dist.destroy_process_group()\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rank in (0, 1):
        assert (f"rank {rank}: resume: the ranks found different checkpoints (rank 0: step_0000040.safetensors, "
                "rank 1: none); put out_dir on storage every machine sees") in proc.stdout, proc.stdout
