"""Every command-line argument and path is checked before any heavy work, naming the option."""
from __future__ import annotations

import pytest

from dreamactor_core.__main__ import SAMPLE_DRIVING, main


@pytest.fixture
def no_heavy_work(monkeypatch):
    """Reading a video or loading a model fails the test: the check must come first."""
    def forbidden(*a, **k):
        raise AssertionError("heavy work started before the arguments were checked")

    for target in ("dreamactor_core.signals.video_io.read_video", "dreamactor_core.signals.video_io.load_image",
                   "dreamactor_core.model.loader.load_dit", "dreamactor_core.model.loader.load_vae"):
        monkeypatch.setattr(target, forbidden)


@pytest.mark.parametrize("argv, words", [
    (["--steps", "0"], ["--steps", ">= 1"]),
    (["--window", "10"], ["--window", "4n+1"]),
    (["--refert", "80"], ["--refert"]),
    (["--reference", "missing.png"], ["--reference", "missing.png", "no such file"]),
    (["--driving", "missing.mp4"], ["--driving", "missing.mp4", "no such file"]),
    (["--cfg", "99"], ["--cfg", "out of range"]),
    (["--pose-strength", "1", "0.5"], ["--pose-strength", "S START END"]),
    (["--width", "8", "--height", "64"], ["--width 8", "at least 16"]),
    (["--device", "banana"], ["--device banana", "cpu or cuda"]),
])
def test_animate_refuses_bad_arguments_first(argv, words, tmp_path, no_heavy_work, capsys):
    assert main(["animate", "--out", str(tmp_path / "o.mp4"), *argv]) == 1
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


def test_cuda_without_cuda_says_so(tmp_path, no_heavy_work, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["animate", "--out", str(tmp_path / "o.mp4"), "--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and "--device cpu" in err and "dtype" not in err


def test_extract_face_size_zero_is_refused_before_guidance_is_written(tmp_path, no_heavy_work, capsys):
    assert main(["extract", "--driving", str(SAMPLE_DRIVING), "--out-dir", str(tmp_path / "o"),
                 "--face-size", "0"]) == 1
    assert "--face-size 0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []
