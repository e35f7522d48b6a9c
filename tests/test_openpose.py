"""POSE_KEYPOINT (OpenPose JSON from DWPose nodes) <-> Motion."""
from __future__ import annotations

import numpy as np
import pytest

from dreamactor_core.signals.motion import Motion
from dreamactor_core.signals.openpose import motion_from_pose_keypoint, motion_to_pose_keypoint
from dreamactor_core.utils import DreamActorError

# a standing person on a 200 x 400 canvas, OpenPose-18 order
OP18 = np.array([
    [100, 60], [100, 100], [80, 100], [70, 150], [65, 200], [120, 100], [130, 150], [135, 200],
    [88, 210], [88, 280], [88, 350], [112, 210], [112, 280], [112, 350], [95, 55], [105, 55], [90, 58], [110, 58],
], dtype=float)


def frame(points, w=200, h=400, normalized=False, hands=True, drop=()):
    pts = points / [w, h] if normalized else points
    body = []
    for i, (x, y) in enumerate(pts):
        body += [0.0, 0.0, 0.0] if i in drop else [float(x), float(y), 0.9]
    person = {"pose_keypoints_2d": body, "face_keypoints_2d": []}
    if hands:
        wrist = points[7]
        hand = [[wrist[0] + i, wrist[1] + i, 0.8] for i in range(21)]
        hand = np.array(hand) / [w, h, 1] if normalized else np.array(hand)
        person["hand_left_keypoints_2d"] = hand.ravel().tolist()
    return {"people": [person], "canvas_width": w, "canvas_height": h}


@pytest.mark.parametrize("normalized", [False, True])
def test_body_maps_to_mediapipe_layout(normalized):
    m = motion_from_pose_keypoint([frame(OP18, normalized=normalized)] * 3, fps=24)
    assert (m.num_frames, m.width, m.height, m.fps) == (3, 200, 400, 24)
    np.testing.assert_allclose(m.body_px[0, 15, :2], OP18[7], atol=1e-4)  # subject's left wrist
    np.testing.assert_allclose(m.body_px[0, 24, :2], OP18[8], atol=1e-4)  # right hip
    np.testing.assert_allclose(m.body_px[0, 2, :2], OP18[15], atol=1e-4)  # left eye
    assert np.isnan(m.body_px[0, 31]).all()  # no toes in OpenPose-18
    assert np.all(m.body_px[0, [0, 11, 12], 2] == 0)  # flat depth
    np.testing.assert_allclose(m.hands_px[0, 0, 5, :2], OP18[7] + 5, atol=1e-4)
    assert np.isnan(m.hands_px[0, 1]).all()  # no right hand given
    # world: hip-centred metres, torso about half a metre
    torso = np.linalg.norm(m.body_world[0, 11, :2] - m.body_world[0, 23, :2])
    assert 0.4 < torso < 0.65
    assert abs(np.nanmean(m.body_world[0, [23, 24], 0])) < 1e-5


def test_mixed_units_and_missing_points():
    f = frame(OP18, drop=(4,))
    f["people"][0]["hand_left_keypoints_2d"] = (np.array(f["people"][0]["hand_left_keypoints_2d"]).reshape(21, 3)
                                                / [200, 400, 1]).ravel().tolist()  # hands normalised, body in pixels
    m = motion_from_pose_keypoint(f, fps=25)
    assert np.isnan(m.body_px[0, 16]).all()  # dropped right wrist -> NaN, not (0, 0)
    np.testing.assert_allclose(m.hands_px[0, 0, 0, :2], OP18[7], atol=1e-4)


def test_body25_feet():
    body25 = np.zeros((25, 2))
    body25[[0, 1, 2, 3, 4, 5, 6, 7]] = OP18[:8]
    body25[9:15] = OP18[8:14]
    body25[15:19] = OP18[14:18]
    body25[19:25] = [[115, 370], [120, 368], [110, 360], [85, 370], [80, 368], [90, 360]]
    m = motion_from_pose_keypoint(frame(body25, hands=False), fps=25)
    np.testing.assert_allclose(m.body_px[0, 31, :2], [115, 370])  # left foot index = left big toe
    np.testing.assert_allclose(m.body_px[0, 30, :2], [90, 360])  # right heel


def test_roundtrip_through_pose_keypoint():
    m = motion_from_pose_keypoint([frame(OP18)] * 2, fps=25)
    for normalized in (False, True):
        pk = motion_to_pose_keypoint(m, normalized=normalized)
        assert pk[0]["canvas_width"] == 200 and len(pk[0]["people"][0]["pose_keypoints_2d"]) == 54
        back = motion_from_pose_keypoint(pk, fps=25)
        np.testing.assert_allclose(back.body_px, m.body_px, atol=1e-3)
        np.testing.assert_allclose(back.hands_px[:, 0], m.hands_px[:, 0], atol=1e-3)
    neck = motion_to_pose_keypoint(m)[0]["people"][0]["pose_keypoints_2d"][3:5]
    np.testing.assert_allclose(neck, (OP18[2] + OP18[5]) / 2)


def test_empty_frames_give_no_people():
    m = Motion.empty(2, fps=25, width=64, height=64)
    assert [f["people"] for f in motion_to_pose_keypoint(m)] == [[], []]


def test_bad_pose_keypoint():
    with pytest.raises(DreamActorError, match="non-empty list"):
        motion_from_pose_keypoint([], fps=25)
    with pytest.raises(DreamActorError, match="canvas"):
        motion_from_pose_keypoint([{"people": []}], fps=25)
    with pytest.raises(DreamActorError, match="no person with index 1"):
        motion_from_pose_keypoint([frame(OP18)], fps=25, person_index=1)
    bad = frame(OP18)
    bad["people"][0]["pose_keypoints_2d"] = [1.0, 2.0]
    with pytest.raises(DreamActorError, match="triples"):
        motion_from_pose_keypoint([bad], fps=25)
