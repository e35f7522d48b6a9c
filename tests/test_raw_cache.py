"""Saved raw extractions (raw_cache) and the scorecard on an already-extracted motion, without MediaPipe:
the extraction is replaced by the clip's ground-truth keypoints, counted where it runs."""
from __future__ import annotations

import os

import numpy as np
import pytest

from dreamactor_core.signals import raw_cache, scorecard
from dreamactor_core.signals.motion import ARRAY_FIELDS
from test_retarget import gt_motion

CLIP = "pub01_walk_in_place"


@pytest.fixture
def counted(synth_dir, monkeypatch):
    """raw_cache with MediaPipe's part replaced by the ground truth; ``calls`` counts the extractions."""
    truth = gt_motion(synth_dir, CLIP)
    calls = []
    monkeypatch.setattr(raw_cache, "read_video", lambda video: (None, truth.fps))
    monkeypatch.setattr(raw_cache, "extract_motion", lambda frames, fps, **kw: calls.append(kw) or truth)
    monkeypatch.setattr(raw_cache, "finish_motion", lambda motion: motion)
    monkeypatch.setattr(raw_cache, "mediapipe_version", lambda: "0.10.21")
    return truth, calls


def test_an_extraction_is_made_once_then_reused(tmp_path, counted):
    truth, calls = counted
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"frames")
    cache = tmp_path / "cache"
    first, how = raw_cache.raw_extraction(video, cache)
    assert how == "made" and calls == [{"smoothing": 0.0, "head": False}]
    again, how = raw_cache.raw_extraction(video, cache)
    assert how == "reused" and len(calls) == 1
    # Every array as it was made, dtype included, and the meta: the replayed extraction is the extraction.
    for name in ARRAY_FIELDS:
        made = getattr(truth, name)
        if made is None:
            assert getattr(again, name) is None, name
        else:
            assert getattr(again, name).dtype == made.dtype, name
            np.testing.assert_array_equal(getattr(again, name), made, err_msg=name)
    assert (again.fps, again.width, again.height, again.meta) == (truth.fps, truth.width, truth.height, truth.meta)
    assert [p.name for p in cache.iterdir()] == [raw_cache.entry_name(video)]


@pytest.mark.parametrize("change", ["video", "video, same size and time", "mediapipe", "extraction"])
def test_an_entry_made_another_way_is_made_again_never_read(tmp_path, counted, monkeypatch, change):
    """Another file under the same name (also one of the same size and modification time: the key is the
    content), another MediaPipe or another extraction version: the old entry is not read, it is replaced;
    another clip's entry (a name that starts alike) is kept."""
    _truth, calls = counted
    video, other = tmp_path / "clip.mp4", tmp_path / "clip.v2.mp4"
    video.write_bytes(b"frames")
    other.write_bytes(b"other frames")
    cache = tmp_path / "cache"
    raw_cache.raw_extraction(video, cache)
    raw_cache.raw_extraction(other, cache)
    old, kept = raw_cache.entry_name(video), raw_cache.entry_name(other)
    if change == "video":
        video.write_bytes(b"frames, rendered again")
    elif change == "video, same size and time":
        made = video.stat()
        video.write_bytes(b"FRAMES")
        os.utime(video, ns=(made.st_atime_ns, made.st_mtime_ns))
    elif change == "mediapipe":
        monkeypatch.setattr(raw_cache, "mediapipe_version", lambda: "0.10.22")
    else:
        monkeypatch.setattr(raw_cache, "EXTRACTION_VERSION", raw_cache.EXTRACTION_VERSION + 1)
    _motion, how = raw_cache.raw_extraction(video, cache)
    assert how == f"made again (stale: {old})" and len(calls) == 3
    assert sorted(p.name for p in cache.iterdir()) == sorted([raw_cache.entry_name(video), kept])


def test_score_clip_scores_the_given_raw_motion(synth_dir, monkeypatch):
    """Given the raw extraction, the card scores it (here the true keypoints: exact) and MediaPipe never runs."""
    def refuse(*_a, **_k):
        raise AssertionError("extract_motion ran although the raw extraction was given")

    monkeypatch.setattr(scorecard, "extract_motion", refuse)
    truth = gt_motion(synth_dir, CLIP)
    truth.meta["source"] = "mediapipe"  # read as MediaPipe's points (the head stage needs a known source)
    card = scorecard.score_clip(synth_dir / f"{CLIP}.mp4", raw=truth)
    assert card["frames"] == truth.num_frames
    assert card["raw"]["pck02"] == 1.0 and card["raw"]["mean_px"] < 1e-3
