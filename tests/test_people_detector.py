"""The people count with the pose detector's first say: the same boxes as a static Pose alone, which
runs only where the detector sees someone to count."""
from __future__ import annotations

import numpy as np
import pytest

from dreamactor_core.signals.extract import PoseLandmarker
from dreamactor_core.signals.people_detector import PeopleDetector
from dreamactor_core.signals.tracking import blank_box, detect_people, median_colour
from dreamactor_core.signals.video_io import read_video


@pytest.fixture(scope="module")
def graphs():
    made = {"static": PoseLandmarker(static=True), "detector": PeopleDetector()}
    yield made
    for g in made.values():
        g.close()


def _count(frame, graphs):
    """Boxes counted the old way (a static Pose only) and the new way (Pose's own first look, the
    detector before each further static look), and how often the new way needed the static Pose."""
    old = detect_people(frame, lambda: graphs["static"].graph)
    asked = []

    def static():
        asked.append(1)
        return graphs["static"].graph

    video = PoseLandmarker()  # a fresh video-mode Pose: its first frame, as in extract_motion
    try:
        first = video.process(frame)["pose"]
    finally:
        video.close()
    new = detect_people(frame, static, first=first, anyone=graphs["detector"].sees_anyone)
    return old, new, len(asked)


@pytest.mark.parametrize("clip", ["pub01_walk_in_place", "pub06_portrait_head"])
def test_one_person_is_counted_without_a_static_pose(synth_dir, graphs, clip):
    frame = np.ascontiguousarray(read_video(synth_dir / f"{clip}.mp4", max_frames=1)[0][0])
    old, new, asked = _count(frame, graphs)
    assert len(old) == 1 and len(new) == 1 and np.array_equal(old[0], new[0])
    assert asked == 0
    # The detector's "nobody" is the static Pose's: the frame with that person blanked out.
    blanked = blank_box(frame.copy(), old[0], median_colour(frame))
    assert not graphs["detector"].sees_anyone(blanked)
    assert graphs["static"].process(blanked) is None
    assert graphs["detector"].sees_anyone(frame)


def test_two_people_are_counted_as_before(synth_dir, graphs):
    left = read_video(synth_dir / "pub02_arm_wave.mp4", max_frames=1)[0][0]
    right = read_video(synth_dir / "pub01_walk_in_place.mp4", max_frames=1)[0][0]
    frame = np.ascontiguousarray(np.concatenate([left, right], axis=1))
    old, new, asked = _count(frame, graphs)
    assert len(old) == 2 and all(np.array_equal(a, b) for a, b in zip(old, new))
    assert asked == 1  # the second person; after them the detector sees nobody left


def test_the_detector_takes_the_score_threshold(synth_dir):
    # Set by name on a calculator inside the subgraph (MediaPipe refuses a name it does not find).
    frame = np.ascontiguousarray(read_video(synth_dir / "pub01_walk_in_place.mp4", max_frames=1)[0][0])
    strict = PeopleDetector(min_score=0.9999)  # pub01's person scores 0.99
    try:
        assert not strict.sees_anyone(frame)
    finally:
        strict.close()
