"""LoRAs where the core reads them: ``animate --lora FILE[:STRENGTH]`` and the trainer's export."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from dreamactor_core.__main__ import main
from dreamactor_core.model.lora import LoraError
from dreamactor_core.training.config import StageConfig, TrainConfig
from dreamactor_core.training.dataset import RandomClips
from dreamactor_core.training.trainer import train
from test_lora import make_lora, merged_by_hand
from test_training import TINY


class _Stop(Exception):
    pass


@pytest.fixture
def tiny_files(tmp_path):
    from sampling_fakes import tiny_checkpoints

    return tiny_checkpoints(tmp_path)


def _model_given_to_animate(monkeypatch, argv):
    """Run the CLI up to the sampling call and return the DiT it would sample with."""
    import dreamactor_core.sampling.pipeline as pipeline

    seen = {}

    def fake_animate(reference, frames, fps, dit, vae, **kw):
        seen["dit"] = dit
        raise _Stop

    monkeypatch.setattr(pipeline, "animate", fake_animate)
    with pytest.raises(_Stop):
        main(argv)
    return seen["dit"]


def test_animate_merges_repeated_loras_at_their_strengths(tmp_path, tiny_files, monkeypatch, capsys, synth_dir):
    dit_path, vae_path = tiny_files
    sd = load_file(str(dit_path))
    a, da = make_lora(sd, "kohya", "lora_unet_", seed=1)
    b, db = make_lora(sd, "diff", "diffusion_model.", seed=2)
    save_file(a, str(tmp_path / "a.safetensors"))
    save_file(b, str(tmp_path / "b.safetensors"))
    base = ["animate", "--reference", str(synth_dir / "pub01_walk_in_place.png"),
            "--driving", str(synth_dir / "pub02_arm_wave.mp4"), "--checkpoint", str(dit_path),
            "--vae", str(vae_path), "--device", "cpu", "--out", str(tmp_path / "o.mp4"), "--zero-embeds"]
    dit = _model_given_to_animate(monkeypatch, base + ["--lora", f"{tmp_path / 'a.safetensors'}:0.5",
                                                       "--lora", str(tmp_path / "b.safetensors")])
    want = merged_by_hand(merged_by_hand(sd, da, 0.5), db, 1.0)
    got = dit.state_dict()
    for k in list(da) + list(db):
        torch.testing.assert_close(got[k].float(), want[k].float(), atol=1e-6, rtol=1e-6)
    out = capsys.readouterr().out
    assert f"LoRA a.safetensors (strength 0.5): changed {len(da)} tensors" in out
    assert f"LoRA b.safetensors (strength 1): changed {len(db)} tensors" in out


def test_animate_refuses_a_missing_or_foreign_lora_before_sampling(tmp_path, tiny_files, capsys, synth_dir):
    dit_path, vae_path = tiny_files
    base = ["animate", "--reference", str(synth_dir / "pub01_walk_in_place.png"),
            "--driving", str(synth_dir / "pub02_arm_wave.mp4"), "--checkpoint", str(dit_path),
            "--vae", str(vae_path), "--device", "cpu", "--out", str(tmp_path / "o.mp4"), "--zero-embeds"]
    assert main(base + ["--lora", str(tmp_path / "nope.safetensors:0.8")]) == 2
    assert "--lora " + str(tmp_path / "nope.safetensors:0.8") + ": no such file" in capsys.readouterr().err
    save_file({"lora_unet_input_blocks_1_0.lora_down.weight": torch.zeros(2, 3),
               "lora_unet_input_blocks_1_0.lora_up.weight": torch.zeros(3, 2)}, str(tmp_path / "sd.safetensors"))
    assert main(base + ["--lora", str(tmp_path / "sd.safetensors")]) == 1
    assert "error: LoRA 'sd.safetensors' matches no tensor of this model" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


def _cfg(out, **kw) -> TrainConfig:
    return TrainConfig(model=dict(TINY), stages=[StageConfig("all", ["*"], 1, lr=1e-3)], out_dir=str(out),
                       checkpoint_every=1, **kw)


def _data():
    return RandomClips(frames=2, height=4, width=4, refs=2, text_len=8, face_frames=5, face_size=32)


def test_training_export_merges_loras_into_model_safetensors_only(tmp_path):
    from dreamactor_core.model.config import ModelConfig
    from dreamactor_core.model.dit import AnimateDiT

    shapes_sd = AnimateDiT(ModelConfig(**TINY)).state_dict()
    lora, deltas = make_lora(shapes_sd, "peft", "diffusion_model.")
    save_file(lora, str(tmp_path / "l.safetensors"))
    result = train(_cfg(tmp_path / "run", export_loras=[f"{tmp_path / 'l.safetensors'}:0.25"]), _data(),
                   resume=False)
    trained = {k.split("::", 1)[1]: v for k, v in load_file(str(tmp_path / "run" / "step_0000001.safetensors")).items()
               if k.startswith("model::")}
    exported = load_file(str(result.exported))
    want = merged_by_hand(trained, deltas, 0.25)
    assert set(exported) == set(want)
    for k, v in want.items():
        torch.testing.assert_close(exported[k], v, atol=1e-6, rtol=1e-6)
    assert any(not torch.equal(exported[k], trained[k]) for k in deltas)
    # the live model is not patched: its weights are the training checkpoint's
    for k, v in result.model.state_dict().items():
        assert torch.equal(v, trained[k]), k


def test_training_checks_export_loras_before_it_starts(tmp_path):
    with pytest.raises(ValueError, match="export_loras file .*nope.safetensors does not exist"):
        _cfg(tmp_path / "a", export_loras=[str(tmp_path / "nope.safetensors")]).check()
    with pytest.raises(ValueError, match="must be"):
        _cfg(tmp_path / "a", export_loras=[[str(tmp_path), "x"]]).check()
    big = {"blocks.0.self_attn.q.lora_A.weight": torch.zeros(4, 128),
           "blocks.0.self_attn.q.lora_B.weight": torch.zeros(128, 4)}
    save_file(big, str(tmp_path / "big.safetensors"))
    with pytest.raises(LoraError, match="another model size"):
        train(_cfg(tmp_path / "run", export_loras=[[str(tmp_path / "big.safetensors"), 1.0]]), _data(),
              resume=False)
    assert not list((tmp_path / "run").glob("step_*"))
