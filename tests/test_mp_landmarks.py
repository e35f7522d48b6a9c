"""Reading MediaPipe landmark lists and a frame's median colour without per-point Python loops:
the fast paths must give exactly what the plain reads give."""
from __future__ import annotations

import numpy as np
import pytest

from dreamactor_core.signals.mp_landmarks import landmark_array
from dreamactor_core.signals.tracking import median_colour

landmark_pb2 = pytest.importorskip("mediapipe.framework.formats.landmark_pb2")


def _plain(msg, fields):
    return np.array([[getattr(p, f) for f in fields] for p in msg.landmark], dtype=np.float32)


def _landmarks(values: np.ndarray, names, normalized: bool = True):
    msg = landmark_pb2.NormalizedLandmarkList() if normalized else landmark_pb2.LandmarkList()
    for row in values:
        p = msg.landmark.add()
        for name, v in zip(names, row):
            setattr(p, name, float(v))
    return msg


@pytest.mark.parametrize("n, names, normalized", [
    (478, ("x", "y", "z"), True),  # FaceMesh
    (33, ("x", "y", "z", "visibility", "presence"), True),  # Pose
    (33, ("x", "y", "z", "visibility"), False),  # Pose world landmarks
    (21, ("x", "y", "z"), True),  # Hands
])
def test_landmark_array_reads_every_field_exactly(n, names, normalized):
    rng = np.random.default_rng(n)
    values = rng.normal(0.4, 0.5, (n, len(names))).astype(np.float32)
    values[0, 0] = 0.0  # zeros, negatives, tiny and huge values all read back bit for bit
    values[1, 1] = -1e-30
    values[2, 2] = 3e7
    msg = _landmarks(values, names, normalized)
    got = landmark_array(msg, names)
    assert got.dtype == np.float32 and got.shape == (n, len(names))
    assert np.array_equal(got, values)
    assert np.array_equal(landmark_array(msg, names[::-1]), values[:, ::-1])  # any field order


def test_landmark_array_falls_back_when_points_differ():
    msg = _landmarks(np.ones((5, 3), np.float32), ("x", "y", "z"))
    msg.landmark[3].visibility = 0.25  # one point has a field the others lack
    fields = ("x", "y", "z", "visibility")
    assert np.array_equal(landmark_array(msg, fields), _plain(msg, fields))
    assert landmark_array(msg, fields)[3, 3] == np.float32(0.25) and landmark_array(msg, fields)[0, 3] == 0.0
    unset = _landmarks(np.ones((4, 2), np.float32), ("x", "y"))  # z never set: its default, 0
    assert np.array_equal(landmark_array(unset), np.array([[1, 1, 0]] * 4, np.float32))
    assert landmark_array(landmark_pb2.NormalizedLandmarkList()).shape == (0, 3)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (7, 5), (64, 48), (33, 17)])
def test_median_colour_is_numpys_median(shape):
    rng = np.random.default_rng(sum(shape))
    for frame in (rng.integers(0, 256, shape + (3,)), rng.integers(0, 3, shape + (3,)) * 100):
        frame = frame.astype(np.uint8)
        assert np.array_equal(median_colour(frame), np.median(frame.reshape(-1, 3), axis=0).astype(np.uint8))
