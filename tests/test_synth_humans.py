"""The synthetic-human engine renders bodies whose ground truth matches the pixels."""
import json

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


def test_hard_cases_have_exact_ground_truth(engine, tmp_path):
    """The hard-case writer: visibility flags against the mesh and the panel, head truth, body heights, files."""
    from dreamactor_core.training.synth_hardcases import load_silhouettes, render_case, write_hard_cases

    occluded = render_case(engine, "hc06_occluded_walk", 2)
    gt = occluded["gt"]
    panel = gt["occluder"]["bbox_xyxy"]
    for f, mask in zip(gt["frames"], occluded["masks"]):
        uv, vis = np.array(f["coco17"]["uv"]), np.array(f["coco17"]["vis"])
        in_panel = (uv[:, 0] >= panel[0]) & (uv[:, 0] <= panel[2]) & (uv[:, 1] >= panel[1]) & (uv[:, 1] <= panel[3])
        assert (vis[in_panel] == 1).all() and in_panel[15:].all()  # the ankles are behind the panel
        seen = np.rint(uv[vis == 2]).astype(int)
        assert mask[seen[:, 1], seen[:, 0]].mean() >= 0.9  # seen points lie on the silhouette
        assert f["mp33"]["vis"][27] == vis[15] and f["mp33"]["uv"][17] is None
    portrait = render_case(engine, "hc05_portrait_yaw80", 5)["gt"]
    yaw = np.array([f["head"]["yaw_deg"] for f in portrait["frames"]])
    assert yaw.max() > 70 and yaw.min() < -70
    r = np.array([f["head"]["radius_px"] for f in portrait["frames"]])
    assert r.max() / r.min() < 1.1 and r[0] > 0.15 * portrait["video"]["height"]  # a portrait's head is big
    assert abs(render_case(engine, "hc02_child_march_wave", 1)["gt"]["body"]["height_m_rest"] - 1.2) < 0.1
    paths = write_hard_cases(tmp_path, names=["hc08_walk_driver"], frames=2, engine=engine)
    assert paths[0].exists() and (tmp_path / "hc08_walk_driver.ref.png").exists()
    sil = load_silhouettes(tmp_path / "hc08_walk_driver.silhouette.npz")
    assert sil.shape == (2, 96, 96) and sil.any()
    ref = json.loads((tmp_path / "hc08_walk_driver.ref.json").read_text())
    assert ref["framing"] == "portrait" and ref["head"]["radius_px"] > 0.15 * 96


def test_rest_segment_lengths_are_the_shared_sets(synth_dir):
    """Our rest-pose COCO segment lengths reproduce the shared set's own field, local morphs included, and the
    hard-case writer stores them with the posed range beside them."""
    from dreamactor_core.training.synth_hardcases import render_case
    from dreamactor_core.training.synth_humans import COCO_SEGMENTS, Subject, coco_segment_lengths

    engine = SynthHumanEngine(64, 64, local_changes=True)
    look = {"skin": (0.8, 0.6, 0.5), "hair": (0.2,) * 3, "shirt": (0.2,) * 3, "pants": (0.3,) * 3,
            "shoes": (0.1,) * 3, "background": ((0.8,) * 3, (0.5,) * 3)}
    for clip in ("pub03_squat", "pub04_turn_landscape", "pub05_head_turn_nod"):   # 04 and 05 morph the limbs
        body = json.loads((synth_dir / f"{clip}.json").read_text())["body"]
        subject = Subject(body["phenotype"], **look, local_changes=body["local_changes"])
        got = coco_segment_lengths(engine.rest_keypoints(subject), engine.keypoint_names)
        want = body["coco_segment_lengths_rest_m"]
        assert set(got) == set(want) == set(COCO_SEGMENTS)
        assert max(abs(got[k] - want[k]) for k in want) < 2e-5, (clip, got, want)   # the set rounds to 1e-5 m
    gt = render_case(engine, "hc01_fast_jacks", 6)["gt"]
    rest, spans = gt["body"]["coco_segment_lengths_rest_m"], gt["body"]["coco_segment_lengths_clip_range_m"]
    xyz = np.array([f["coco17"]["xyz_cam"] for f in gt["frames"]])
    posed = coco_segment_lengths(xyz, engine.keypoint_names[:17])
    for k, (lo, hi) in spans.items():
        assert abs(posed[k].min() - lo) < 1e-5 and abs(posed[k].max() - hi) < 1e-5, k
    # Jumping jacks lift the arms: the posed upper arm leaves its rest length (why the rest one is the truth).
    assert spans["left_upper_arm"][1] - spans["left_upper_arm"][0] > 0.005 and 0.2 < rest["left_upper_arm"] < 0.4
