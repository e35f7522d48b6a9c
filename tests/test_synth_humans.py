"""The synthetic-human engine renders bodies whose ground truth matches the pixels."""
import numpy as np
import pytest

pytest.importorskip("anny")
from dreamactor_core.training.synth_humans import SynthHumanEngine  # noqa: E402


@pytest.fixture(scope="module")
def engine():
    return SynthHumanEngine(96, 96)


def test_keypoints_lie_on_the_rendered_body(engine):
    rng = np.random.default_rng(1)
    subject = engine.sample_subject(rng)
    clip = engine.render(subject, engine.sample_motion(rng, 4, "walk"), engine.sample_camera(rng, "full"))
    assert clip.frames.shape == (4, 96, 96, 3) and clip.frames.dtype == np.uint8
    uv = np.rint(clip.gt["uv"]).astype(int)
    names = clip.gt["keypoint_names"]
    body = [names.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip",
                                     "left_knee", "right_knee", "left_elbow", "right_elbow")]
    inside = [clip.masks[t, uv[t, k, 1], uv[t, k, 0]] > 0.5 for t in range(4) for k in body]
    assert np.mean(inside) >= 0.9
    # the subject's left shoulder is on the image right for a near-frontal camera
    assert (clip.gt["uv"][:, names.index("left_shoulder"), 0] > clip.gt["uv"][:, names.index("right_shoulder"), 0]).all()
    box = clip.gt["person_box"][0]
    assert box[3] - box[1] > 0.7 * 96  # full framing fills the height


def test_head_turn_ground_truth_follows_the_motion(engine):
    rng = np.random.default_rng(2)
    subject = engine.sample_subject(rng)
    motion = engine.sample_motion(rng, 25, "head")
    clip = engine.render(subject, motion, engine.sample_camera(rng, "portrait"))
    yaw = clip.gt["head_yaw"]
    assert yaw.max() - yaw.min() > 30  # the head really turns
    # nose moves to image right when the head turns to the subject's left (yaw > 0)
    nose = clip.gt["uv"][:, clip.gt["keypoint_names"].index("nose"), 0]
    assert np.corrcoef(yaw, nose)[0, 1] > 0.8


def test_reference_body_in_driving_pose_differs_only_by_body(engine):
    rng = np.random.default_rng(3)
    a, b = engine.sample_subject(rng), engine.sample_subject(rng)
    motion = engine.sample_motion(rng, 2, "wave")
    cam = engine.sample_camera(rng, "full")
    ca, cb = engine.render(a, motion, cam), engine.render(b, motion, cam)
    ia, ib = ca.gt["keypoint_names"].index("right_wrist"), cb.gt["keypoint_names"].index("right_wrist")
    # same pose and camera: the raised wrist is at a similar place for both bodies
    assert np.linalg.norm(ca.gt["uv"][:, ia] - cb.gt["uv"][:, ib], axis=-1).max() < 25
    assert np.abs(ca.frames.astype(int) - cb.frames.astype(int)).mean() > 5
