"""``python -m dreamactor_core extract|animate``."""
from __future__ import annotations

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from dreamactor_core.__main__ import SAMPLE_DRIVING, SAMPLE_REFERENCE, main
from dreamactor_core.sampling.video_sink import has_audio
from dreamactor_core.signals.video_io import read_video


def test_bundled_sample_is_small_and_readable():
    assert SAMPLE_DRIVING.stat().st_size + SAMPLE_REFERENCE.stat().st_size < 300_000
    frames, fps = read_video(SAMPLE_DRIVING)
    assert frames.shape == (32, 256, 256, 3) and fps == 25


def test_extract_without_arguments_uses_the_sample(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["extract", "--max-frames", "5", "--face-size", "128"]) == 0
    out = tmp_path / "dreamactor_extract"
    guide, fps = read_video(out / "guidance.mp4")
    faces, _ = read_video(out / "faces.mp4")
    assert guide.shape == (5, 256, 256, 3) and faces.shape == (5, 128, 128, 3) and fps == 25
    assert guide.mean() > 2  # the skeleton was drawn on the black canvas
    assert (out / "motion.json").stat().st_size > 1000
    assert "bundled sample" in capsys.readouterr().out


def test_animate_without_checkpoint_says_which_files(tmp_path, capsys):
    code = main(["animate", "--reference", str(SAMPLE_REFERENCE), "--driving", str(SAMPLE_DRIVING),
                 "--vae", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert code == 2
    assert "--checkpoint was not given" in err and "nope.safetensors: no such file" in err
    assert "diffusion_models" in err and "models/vae" in err and "Wan2.2-Animate-14B" in err
    assert not (tmp_path / "o.mp4").exists()


def _driving_with_audio(tmp_path, clip, frames=5):
    """The first frames of ``clip`` with a 440 Hz tone as its audio track."""
    src = tmp_path / "driving.mp4"
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run([exe, "-y", "-loglevel", "error", "-i", str(clip), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=2", "-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", "-c:a", "aac", "-shortest", str(src)], check=True)
    return src


def test_animate_tiny_checkpoint_from_synthetic_clip_keeps_audio(tmp_path, synth_dir, capsys):
    """A tiny random checkpoint in the official key layout runs the whole pipeline to an mp4 with audio."""
    import torch
    from safetensors.torch import save_file
    from sampling_fakes import tiny_checkpoints

    dit, vae = tiny_checkpoints(tmp_path)
    driving = _driving_with_audio(tmp_path, synth_dir / "pub02_arm_wave.mp4")
    assert has_audio(driving)
    text, clip = tmp_path / "text.safetensors", tmp_path / "clip.safetensors"
    save_file({"context": torch.randn(6, 4096)}, str(text))
    save_file({"clip_fea": torch.randn(257, 1280)}, str(clip))
    out = tmp_path / "out.mp4"
    args = ["animate", "--reference", str(synth_dir / "pub01_walk_in_place.png"), "--driving", str(driving),
            "--checkpoint", str(dit), "--vae", str(vae), "--text-embeds", str(text), "--out", str(out),
            "--width", "64", "--height", "64", "--steps", "2", "--window", "5", "--device", "cpu"]
    # a real checkpoint without its CLIP features is refused before any work, naming the cost
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "--clip-embeds: not given" in err and "dB PSNR" in err and "--zero-embeds" in err
    assert not out.exists()
    code = main(args + ["--clip-embeds", str(clip)])
    assert code == 0
    frames, fps = read_video(out)
    assert frames.shape == (5, 64, 64, 3) and fps == 25 and np.isfinite(frames).all()
    assert has_audio(out)
    assert not list(tmp_path.glob("*video-only*"))


def test_demo_model_takes_its_card_settings_except_those_given():
    """Without --checkpoint/--vae the demo's own sampling settings apply, but never over an option
    the user named, even one set to the parser's default value."""
    from dreamactor_core.__main__ import DEMO_FILES, _given_options, _parser, _use_demo_model
    from dreamactor_core.training import demo

    if not all(p.is_file() for p in DEMO_FILES):
        pytest.skip("demo model files are not installed")
    parser = _parser()
    defaults = vars(parser.parse_args(["animate"]))
    argv = ["animate", "--reference-detail", "0", "--steps", "20"]
    args = parser.parse_args(argv)
    assert _use_demo_model(args, _given_options(argv, defaults))
    assert (args.reference_detail, args.steps) == (0.0, 20)  # as given, though both equal the defaults
    assert (args.solver, args.shift, args.window) == (demo.DEMO_SAMPLING["solver"], demo.DEMO_SAMPLING["shift"],
                                                      demo.DEMO_SAMPLING["window"])
    args = parser.parse_args(["animate"])
    _use_demo_model(args, _given_options(["animate"], defaults))
    assert (args.reference_detail, args.steps) == (1.0, 12)


def test_resample_fps_shows_the_frame_on_screen():
    from dreamactor_core.signals.video_io import resample_fps
    from dreamactor_core.utils import DreamActorError

    frames = np.arange(25)[:, None, None, None].astype(np.uint8)
    up = resample_fps(frames, 25.0, 30.0)  # one second of video stays one second
    assert len(up) == 30 and up[:7, 0, 0, 0].tolist() == [0, 0, 1, 2, 3, 4, 5] and up[-1, 0, 0, 0] == 24
    down = resample_fps(np.arange(60)[:, None, None, None].astype(np.uint8), 60.0, 30.0)
    assert down[:, 0, 0, 0].tolist() == list(range(0, 60, 2))
    with pytest.raises(DreamActorError, match="fps"):
        resample_fps(frames, 25.0, 0.0)


def test_animate_refuses_a_bad_fps_before_any_work(tmp_path, capsys):
    assert main(["animate", "--fps", "0", "--out", str(tmp_path / "o.mp4")]) == 1
    assert "--fps 0.0: must be a positive frame rate" in capsys.readouterr().err
