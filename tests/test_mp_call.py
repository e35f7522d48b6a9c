"""MediaPipe calls without the solution wrapper's per-call costs must give what ``process`` gives,
bit for bit, frame after frame of a tracking graph (same packets, same timestamps)."""
from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

from dreamactor_core.signals import mp_call
from dreamactor_core.signals.mp_landmarks import landmark_array, landmarks_from_bytes

mp = pytest.importorskip("mediapipe")


def _pairs(make, frames, stream, fields=("x", "y", "z")):
    """Landmarks per frame from one graph fed through ``process`` and a twin fed through ``run``."""
    plain, lean = make(), make()
    try:
        for frame in frames:
            want = getattr(plain.process(frame), stream)
            got = mp_call.run(lean, frame, (stream,))[stream]
            if isinstance(want, list):
                want, got = (want[0] if want else None), (got[0] if got else None)
            yield (None if want is None else landmark_array(want, fields),
                   None if got is None else landmarks_from_bytes(got, fields))
    finally:
        plain.close()
        lean.close()


def test_lean_pose_and_face_calls_match_process(synth_dir):
    from dreamactor_core.signals.video_io import read_video

    frames, _ = read_video(synth_dir / "pub06_portrait_head.mp4")
    frames = frames[:6]
    pose = lambda: mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1)  # noqa: E731
    face = lambda: mp.solutions.face_mesh.FaceMesh(max_num_faces=1, refine_landmarks=True)  # noqa: E731
    found = 0
    for make, stream, fields in ((pose, "pose_landmarks", ("x", "y", "z", "visibility")),
                                 (pose, "pose_world_landmarks", ("x", "y", "z")),
                                 (face, "multi_face_landmarks", ("x", "y", "z"))):
        for want, got in _pairs(make, frames, stream, fields):
            assert (want is None) == (got is None)
            if want is not None:
                found += 1
                assert np.array_equal(want, got)  # the pose filter's state and timestamps match too
    assert found == 3 * len(frames)


def test_other_objects_go_through_process():
    from mediapipe.framework.formats import landmark_pb2

    msg = landmark_pb2.NormalizedLandmarkList()
    for v in (0.25, 0.5):
        p = msg.landmark.add()
        p.x, p.y, p.z = v, -v, 2 * v
    result = namedtuple("Out", "one many none")(msg, [msg, msg], None)

    class Double:  # not a MediaPipe solution: a test double answering process() only
        def process(self, image):
            return result

    out = mp_call.run(Double(), np.zeros((4, 4, 3), np.uint8), ("one", "many", "none"))
    assert out["none"] is None and len(out["many"]) == 2
    assert np.array_equal(landmarks_from_bytes(out["one"]), [[0.25, -0.25, 0.5], [0.5, -0.5, 1.0]])
    assert landmarks_from_bytes(b"").shape == (0, 3)
