"""Two people in the reference: the command line lets the user choose (largest, leftmost, by index) and
says whom it followed out of how many."""
from __future__ import annotations

import numpy as np
import pytest

from dreamactor_core.__main__ import SAMPLE_DRIVING, main
from dreamactor_core.signals.motion import Motion
from dreamactor_core.signals.video_io import load_image, write_image


@pytest.fixture(scope="module")
def two_people_reference(synth_dir, tmp_path_factory):
    """pub02's person (shorter, left) and pub01's (taller, right) side by side."""
    left, right = load_image(synth_dir / "pub02_arm_wave.png"), load_image(synth_dir / "pub01_walk_in_place.png")
    path = tmp_path_factory.mktemp("people") / "two.png"
    write_image(path, np.concatenate([left, right], axis=1))
    return path


@pytest.mark.parametrize("choice, said", [
    ("largest", "following the largest, the 2nd from the left"),
    ("leftmost", "following person 0 (0 = leftmost), the 1st from the left"),
    ("1", "following person 1 (0 = leftmost), the 2nd from the left"),
])
def test_reference_person_choice_is_taken_and_said(two_people_reference, tmp_path, capsys, choice, said):
    out = tmp_path / "ex"
    assert main(["extract", "--driving", str(SAMPLE_DRIVING), "--reference", str(two_people_reference),
                 "--reference-person", choice, "--out-dir", str(out), "--max-frames", "2", "--face-size", "64"]) == 0
    printed = capsys.readouterr().out
    assert f"note: reference: 2 people found; {said}" in printed
    motion = Motion.from_json((out / "motion.json").read_text())
    # the guidance lands on the chosen person: its body centre is in that person's half of the picture
    x = np.nanmean(motion.body_px[0, :, 0])
    assert (x > motion.width / 2) == (choice != "leftmost")


def test_a_person_index_beyond_those_found_is_a_clear_error(two_people_reference, tmp_path, capsys):
    assert main(["extract", "--driving", str(SAMPLE_DRIVING), "--reference", str(two_people_reference),
                 "--reference-person", "5", "--out-dir", str(tmp_path / "o"), "--max-frames", "1"]) == 1
    assert "only 2 people were found" in capsys.readouterr().err
    assert main(["extract", "--person", "tallest", "--out-dir", str(tmp_path / "o")]) == 1
    assert "--person: expected 'largest', 'leftmost' or an index" in capsys.readouterr().err


def test_animate_notes_whom_it_followed(two_people_reference):
    from dreamactor_core.sampling.guidance import GuidanceSettings
    from dreamactor_core.sampling.pipeline import AnimateSettings, animate
    from dreamactor_core.signals.video_io import read_video
    from sampling_fakes import OracleDiT, PoolVAE

    driving, fps = read_video(SAMPLE_DRIVING, max_frames=5)
    settings = AnimateSettings(width=64, height=32, steps=1, window=5, refert=1, solver="euler",
                               guidance=GuidanceSettings(), reference_person="leftmost")
    result = animate(load_image(two_people_reference), driving, fps, OracleDiT(), PoolVAE(), settings=settings)
    assert result.notes[0].startswith("reference: 2 people found; following person 0 (0 = leftmost)")
    assert not any(n.startswith("driving video:") for n in result.notes)  # one person there: nothing to say
