"""The command line never loses what the user made: outputs appear only when complete, an existing
file survives without --overwrite, an interrupted run leaves nothing that looks finished, and the
driving video's sound is kept even without PyAV."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dreamactor_core.__main__ import SAMPLE_DRIVING, main
from dreamactor_core.sampling.video_sink import Mp4Sink, has_audio
from dreamactor_core.signals.video_io import read_video

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from sampling_fakes import tiny_checkpoints

    return tiny_checkpoints(tmp_path_factory.mktemp("tiny"))


def _animate_args(tiny, synth_dir, out, *extra):
    dit, vae = tiny
    return ["animate", "--reference", str(synth_dir / "pub01_walk_in_place.png"),
            "--driving", str(synth_dir / "pub02_arm_wave.mp4"), "--checkpoint", str(dit), "--vae", str(vae),
            "--out", str(out), "--width", "64", "--height", "64", "--steps", "2", "--window", "5",
            "--refert", "1", "--device", "cpu", "--zero-embeds", *extra]


def _finished_videos(folder: Path) -> list[Path]:
    """Files a user would take for a result: visible video files that decode."""
    found = []
    for path in folder.rglob("*.mp4"):
        if path.name.startswith("."):
            continue
        try:
            read_video(path)
            found.append(path)
        except Exception:
            pass
    return found


def test_output_appears_only_after_success_and_an_existing_file_survives(tiny, synth_dir, tmp_path, monkeypatch,
                                                                         capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the user's own video")
    seen = []
    real_call = Mp4Sink.__call__

    def watch(sink, frames):  # while frames stream in, nothing visible may look finished
        real_call(sink, frames)
        seen.append((sink.path.name, sorted(p.name for p in tmp_path.iterdir())))

    monkeypatch.setattr(Mp4Sink, "__call__", watch)
    assert main(_animate_args(tiny, synth_dir, out, "--max-frames", "9")) == 0
    printed = capsys.readouterr().out
    assert out.read_bytes() == b"the user's own video"  # untouched without --overwrite
    fresh = tmp_path / "out-1.mp4"
    assert f"writing {fresh} instead" in printed and f"wrote {fresh}" in printed
    assert read_video(fresh)[0].shape == (9, 64, 64, 3)
    assert len(seen) == 2 and all(name == ".out-1.partial.mp4" for name, _ in seen)
    assert all("out-1.mp4" not in names for _, names in seen)  # the final name appeared only at the end
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out-1.mp4", "out.mp4"]  # no temporaries left

    assert main(_animate_args(tiny, synth_dir, out, "--max-frames", "5", "--overwrite")) == 0
    assert read_video(out)[0].shape == (5, 64, 64, 3)  # --overwrite replaced it, in place
    assert not (tmp_path / "out-2.mp4").exists()


def test_interrupt_during_sampling_leaves_nothing_finished(tiny, synth_dir, tmp_path, monkeypatch, capsys):
    """A Ctrl-C after the first window was already written to the video (raised from the sink)."""
    real_call = Mp4Sink.__call__

    def interrupt_on_second(sink, frames):
        if sink.count:
            raise KeyboardInterrupt
        real_call(sink, frames)

    monkeypatch.setattr(Mp4Sink, "__call__", interrupt_on_second)
    out = tmp_path / "run" / "out.mp4"
    assert main(_animate_args(tiny, synth_dir, out, "--max-frames", "9")) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "no output was written" in err and len(err.strip().splitlines()) == 1
    assert list((tmp_path / "run").iterdir()) == []


def test_ctrl_c_on_a_real_process_leaves_no_video_and_no_traceback(tiny, synth_dir, tmp_path):
    """SIGINT to the whole process group, as a terminal's Ctrl-C, once the first window is on disk."""
    out = tmp_path / "out.mp4"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    # A test run started in the background of a script (`pytest ... &`) ignores SIGINT, and an ignored
    # signal is inherited through exec, where Python then installs no Ctrl-C handler: the child would
    # run on. A terminal's foreground job has SIGINT's default; give the child that (a caught handler,
    # unlike an ignored one, resets to the default in the child).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "dreamactor_core",
                                 *_animate_args(tiny, synth_dir, out, "--steps", "6")],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    partial = tmp_path / ".out.partial.mp4"
    deadline = time.monotonic() + 300
    while not partial.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert _finished_videos(tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_unwritable_out_and_file_out_dir_are_refused_before_any_work(tmp_path, monkeypatch, capsys):
    def no_work(*a, **k):
        raise AssertionError("heavy work started before the output was checked")

    monkeypatch.setattr("dreamactor_core.signals.video_io.read_video", no_work)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["extract", "--out-dir", str(blocker)]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["extract", "--out-dir", str(blocker / "sub")]) == 1
    assert "'" + str(blocker) + "' is a file" in capsys.readouterr().err
    assert main(["animate", "--out", str(blocker / "out.mp4")]) == 1
    err = capsys.readouterr().err
    assert "--out" in err and "is a file" in err and "Traceback" not in err
    assert main(["animate", "--out", str(tmp_path / "out.txt")]) == 1
    assert "must end in .mp4" in capsys.readouterr().err
    assert blocker.read_text() == "x"


def test_extract_keeps_an_existing_out_dir_and_writes_a_numbered_one(tmp_path, capsys):
    first = tmp_path / "ex"
    first.mkdir()
    (first / "motion.json").write_text("mine")
    assert main(["extract", "--driving", str(SAMPLE_DRIVING), "--out-dir", str(first), "--max-frames", "3",
                 "--face-size", "64"]) == 0
    assert "writing into " + str(tmp_path / "ex-1") in capsys.readouterr().out
    assert (first / "motion.json").read_text() == "mine" and sorted(p.name for p in first.iterdir()) == ["motion.json"]
    assert sorted(p.name for p in (tmp_path / "ex-1").iterdir()) == ["faces.mp4", "guidance.mp4", "motion.json"]


def _hide_pyav(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # "import av" now raises ImportError, as on a fresh install


def test_audio_is_found_without_pyav(tmp_path, monkeypatch):
    from test_cli import _driving_with_audio

    with_sound = _driving_with_audio(tmp_path, SAMPLE_DRIVING)
    assert has_audio(with_sound) and not has_audio(SAMPLE_DRIVING)  # PyAV's answers
    _hide_pyav(monkeypatch)
    assert has_audio(with_sound) and not has_audio(SAMPLE_DRIVING)  # the bundled ffmpeg's, the same


def test_audio_kept_on_a_fresh_install_and_a_failed_mux_is_a_warning(tmp_path, monkeypatch, caplog):
    from test_cli import _driving_with_audio

    _hide_pyav(monkeypatch)
    driving = _driving_with_audio(tmp_path, SAMPLE_DRIVING)
    frames = np.full((5, 32, 32, 3), 90, np.uint8)
    with Mp4Sink(tmp_path / "a.mp4", 25, audio_from=driving) as sink:
        sink(frames)
    assert has_audio(tmp_path / "a.mp4")
    with Mp4Sink(tmp_path / "b.mp4", 25, audio_from=driving) as sink:
        sink(frames)
        sink.audio = str(tmp_path / "gone.m4a")  # the sound's source vanished during the run
    assert read_video(tmp_path / "b.mp4")[0].shape == (5, 32, 32, 3)  # the frames are kept...
    assert "could not be added" in caplog.text and "has no sound" in caplog.text  # ...and the loss is said


def test_requirements_list_pyav():
    lines = [ln.split(">")[0].split("=")[0].strip() for ln in (REPO / "requirements.txt").read_text().splitlines()]
    assert "av" in lines


def test_write_video_leaves_nothing_when_interrupted(tmp_path):
    """An error (or Ctrl-C) while frames stream in removes the half video and its soundless twin."""
    from dreamactor_core.signals.video_io import write_video
    from test_cli import _driving_with_audio

    driving = _driving_with_audio(tmp_path, SAMPLE_DRIVING)
    out = tmp_path / "out" / "v.mp4"

    def frames():
        yield np.zeros((32, 32, 3), np.uint8)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_video(out, frames(), 25, audio_from=driving)
    assert list(out.parent.iterdir()) == []
    write_video(out, np.zeros((3, 32, 32, 3), np.uint8), 25, audio_from=driving)
    assert has_audio(out) and list(out.parent.iterdir()) == [out]
