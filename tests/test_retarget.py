"""Camera estimation and bone-length retargeting against the synth ground truth.

Motions are built from the GROUND-TRUTH keypoints (so these tests are about retargeting,
not detection), except the last test, which measures the reference with MediaPipe.
"""
from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pytest

from dreamactor_core.signals.camera import estimate_camera, project
from dreamactor_core.signals.motion import Motion
from dreamactor_core.signals.retarget import GROUPS, measure_proportions, retarget_motion
from dreamactor_core.signals.skeleton import BODY, body_joints, segment_angle
from dreamactor_core.utils import DreamActorError

DRIVING = "pub01_walk_in_place"
TALL, SHORT = "pub04_turn_landscape", "pub05_head_turn_nod"
# segment -> MediaPipe-33 landmark pairs (left, right)
SEGMENTS = {
    "upper_arm": [(11, 13), (12, 14)], "forearm": [(13, 15), (14, 16)],
    "thigh": [(23, 25), (24, 26)], "shin": [(25, 27), (26, 28)],
    "shoulder_width": [(11, 12)], "hip_width": [(23, 24)],
}


@lru_cache(maxsize=None)
def _load(path: str) -> dict:
    with open(path) as fh:
        return json.load(fh)


def gt_motion(synth_dir, clip: str, frames=None) -> Motion:
    """A Motion filled from the ground-truth MediaPipe-33 keypoints of a synth clip."""
    gt = _load(str(synth_dir / f"{clip}.json"))
    fr = gt["frames"] if frames is None else [gt["frames"][i] for i in frames]
    m = Motion.empty(len(fr), gt["video"]["fps"], gt["video"]["width"], gt["video"]["height"], source="gt")
    xyz = np.array([f["mp33"]["xyz_cam"] for f in fr])
    uv = np.array([f["mp33"]["uv"] for f in fr])
    hip = xyz[:, 23:25].mean(1, keepdims=True)
    rel_depth = (xyz[..., 2] - hip[..., 2]) * gt["camera"]["fx"] / hip[..., 2]
    m.body_px[:] = np.concatenate([uv, rel_depth[..., None]], -1)
    m.body_world[:] = xyz - hip
    m.body_conf[:] = 1.0
    m.head_center_px[:] = [f["head"]["center_uv"] for f in fr]
    m.head_radius_px[:] = [f["head"]["radius_px"] for f in fr]
    m.head_angles[:] = [[f["head"][k] for k in ("yaw_deg", "pitch_deg", "roll_deg")] for f in fr]
    m.person_box[:] = [f["person_bbox_xyxy"] for f in fr]
    return m


def seg_lengths(points: np.ndarray) -> dict[str, np.ndarray]:
    """Segment lengths ``[T, sides]`` from MediaPipe-33 points ``[T, 33, 3]``."""
    return {k: np.stack([np.linalg.norm(points[:, a] - points[:, b], axis=-1) for a, b in pairs], -1)
            for k, pairs in SEGMENTS.items()}


@pytest.fixture(scope="module")
def driving(synth_dir):
    return gt_motion(synth_dir, DRIVING)


def test_camera_recovers_ground_truth(synth_dir):
    for clip in (DRIVING, "pub03_squat"):
        gt = _load(str(synth_dir / f"{clip}.json"))
        m = gt_motion(synth_dir, clip)
        cam = estimate_camera(m.body_px[..., :2], m.body_world, m.width, m.height)
        assert abs(cam.focal / gt["camera"]["fx"] - 1) < 0.02
        hip = np.array([f["mp33"]["xyz_cam"] for f in gt["frames"]])[:, 23:25].mean(1)
        assert np.abs(cam.translation - hip).max() < 0.02
        uv = project(m.body_world + cam.translation[:, None], cam.K)
        assert np.abs(uv - m.body_px[..., :2]).max() < 0.5


def test_measure_proportions_matches_ground_truth(synth_dir):
    for clip in (TALL, SHORT):
        gt = _load(str(synth_dir / f"{clip}.json"))
        prop = measure_proportions(gt_motion(synth_dir, clip, [0]))
        xyz = np.array(gt["frames"][0]["mp33"]["xyz_cam"])[None]
        for k, v in seg_lengths(xyz).items():
            assert abs(prop["lengths"][k] / v.mean() - 1) < 0.01, k  # that frame's true lengths
        rest = gt["body"]["coco_segment_lengths_rest_m"]
        for k in SEGMENTS:
            assert abs(prop["lengths"][k] / rest.get(k, rest.get(f"left_{k}")) - 1) < 0.03, k


@pytest.mark.parametrize("ref_clip", [TALL, SHORT])
def test_retargeted_bone_lengths_and_rotations(synth_dir, driving, ref_clip):
    ref = gt_motion(synth_dir, ref_clip, [0])
    before = driving.body_px.copy()
    out = retarget_motion(driving, ref)
    np.testing.assert_array_equal(driving.body_px, before)  # the input is not mutated
    assert driving.body_cam is None
    gt_ref = np.array(_load(str(synth_dir / f"{ref_clip}.json"))["frames"][0]["mp33"]["xyz_cam"])[None]
    want = {k: v.mean() for k, v in seg_lengths(gt_ref).items()}
    got = seg_lengths(out.body_cam.astype(np.float64))
    drv = seg_lengths(driving.body_world.astype(np.float64))
    for k in SEGMENTS:
        # Each frame keeps the driving's own length times one factor per group (the driving's
        # surface keypoints stretch a little with pose), so the typical length is the reference's
        # within 2% and every frame within 4%.
        ratio = got[k] / drv[k]
        np.testing.assert_allclose(ratio, ratio[:1].mean(), rtol=1e-3, err_msg=k)
        assert abs(np.median(got[k]) / want[k] - 1) < 0.02, k
        assert np.abs(got[k] / want[k] - 1).max() < 0.04, k
    # Rotations preserved: every angle between connected segments equals the driving's.
    jd, jr = body_joints(driving.body_world.astype(np.float64)), body_joints(out.body_world.astype(np.float64))
    for a, b, c in [("left_shoulder", "left_elbow", "left_wrist"), ("right_hip", "right_knee", "right_ankle"),
                    ("neck", "left_shoulder", "left_elbow"), ("pelvis", "left_hip", "left_knee"),
                    ("left_knee", "left_ankle", "left_foot_index"), ("pelvis", "neck", "head")]:
        idx = [BODY.index(n) for n in (a, b, c)]
        np.testing.assert_allclose(segment_angle(jr, *idx), segment_angle(jd, *idx), atol=0.01)
    assert np.isfinite(out.body_px).all() and np.isfinite(out.body_cam).all()
    assert out.meta["retarget"]["reference_lengths"]["thigh"] == pytest.approx(want["thigh"], rel=0.01)
    Motion.from_json(out.to_json())  # the record serialises


def test_feet_stay_on_the_ground(synth_dir, driving):
    for ref_clip in (TALL, SHORT):
        out = retarget_motion(driving, gt_motion(synth_dir, ref_clip, [0]))
        info = out.meta["retarget"]
        up, k, ground = np.array(info["up"]), info["root_scale"], info["ground_height"]
        cam_d = driving.body_world + np.array([f["mp33"]["xyz_cam"] for f in _load(
            str(synth_dir / f"{DRIVING}.json"))["frames"]])[:, 23:25].mean(1)[:, None]
        low_d = (cam_d[:, 27:33] @ up).min(1)
        low_r = (out.body_cam[:, 27:33].astype(np.float64) @ up).min(1)
        # The lowest foot point keeps its height above the ground, scaled with the legs in the air.
        np.testing.assert_allclose(low_r - ground, k * (low_d - ground), atol=1e-4)
        assert np.abs(low_r - low_d).max() < 0.01
        assert (k > 1) == (ref_clip == TALL)


def test_bone_scales_apply(synth_dir, driving):
    ref = measure_proportions(gt_motion(synth_dir, SHORT, [0]))
    base = seg_lengths(retarget_motion(driving, ref).body_cam.astype(np.float64))
    scales = {"thigh": 1.2, "shin": 1.2, "upper_arm": 0.9, "left_forearm": 1.1}
    out = retarget_motion(driving, ref, bone_scales=scales)
    got = seg_lengths(out.body_cam.astype(np.float64))
    np.testing.assert_allclose(got["thigh"], base["thigh"] * 1.2, rtol=1e-3)
    np.testing.assert_allclose(got["shin"], base["shin"] * 1.2, rtol=1e-3)
    np.testing.assert_allclose(got["upper_arm"], base["upper_arm"] * 0.9, rtol=1e-3)
    np.testing.assert_allclose(got["forearm"][:, 0], base["forearm"][:, 0] * 1.1, rtol=1e-3)
    np.testing.assert_allclose(got["forearm"][:, 1], base["forearm"][:, 1], rtol=1e-3)
    np.testing.assert_allclose(got["hip_width"], base["hip_width"], rtol=1e-3)
    assert out.meta["retarget"]["bone_scales"] == scales
    with pytest.raises(DreamActorError, match="bone_scales"):
        retarget_motion(driving, ref, bone_scales={"tail": 2.0})


def test_output_projects_into_the_image_and_moves_the_head(synth_dir, driving):
    out = retarget_motion(driving, gt_motion(synth_dir, SHORT, [0]))
    px = out.body_px[..., :2]
    assert (px >= 0).all() and (px[..., 0] < out.width).all() and (px[..., 1] < out.height).all()
    K = np.array(out.meta["retarget"]["camera"]["K"])
    np.testing.assert_allclose(project(out.body_cam, K), px, atol=0.5)
    # The head sphere follows the (lower) head of the shorter body and shrinks with its head size.
    ears = out.body_px[:, 7:9, :2].mean(1)
    assert np.abs(out.head_center_px - ears).max() < np.abs(driving.head_center_px - driving.body_px[:, 7:9, :2].mean(1)).max() * 1.2 + 1
    assert (out.head_center_px[:, 1] > driving.head_center_px[:, 1] + 20).all()
    assert (out.head_radius_px < driving.head_radius_px).all()
    box = out.person_box
    assert (box[:, 0] <= px[..., 0].min(1)).all() and (box[:, 3] >= px[..., 1].max(1)).all()


def test_hands_follow_the_wrist_and_scale(synth_dir, driving):
    m = driving.copy()
    # A synthetic open hand (no GT hands in the set): 21 points fanned out from the body wrist.
    fan = np.concatenate([[[0, 0]], np.array([[np.cos(a) * r, np.sin(a) * r] for a in np.linspace(-0.9, 0.9, 5)
                                               for r in (8, 14, 19, 23)])])
    m.hands_px[:, 0, :, :2] = m.body_px[:, 15, None, :2] + fan[None]
    m.hands_px[:, 0, :, 2] = 0.0
    own = measure_proportions(gt_motion(synth_dir, DRIVING, [0]))
    out = retarget_motion(m, own, bone_scales={"hand": 1.5})
    assert np.isnan(out.hands_px[:, 1]).all()  # the missing right hand stays missing
    h = out.hands_px[:, 0]
    np.testing.assert_allclose(h[:, 0, :2], out.body_px[:, 15, :2], atol=1.0)
    span_in = np.linalg.norm(m.hands_px[:, 0, 1:, :2] - m.hands_px[:, 0, :1, :2], axis=-1)
    span_out = np.linalg.norm(h[:, 1:, :2] - h[:, :1, :2], axis=-1)
    ratio = np.median(span_out / span_in)
    hand_factor = own["lengths"]["hand"] / out.meta["retarget"]["driving_lengths"]["hand"]
    assert ratio == pytest.approx(1.5 * hand_factor, rel=0.05)


def test_bad_input_is_reported(synth_dir, driving):
    ref = gt_motion(synth_dir, SHORT, [0])
    with pytest.raises(DreamActorError, match="no frame has a body pose"):
        retarget_motion(Motion.empty(5, 25, 512, 512), ref)
    with pytest.raises(DreamActorError, match="reference"):
        retarget_motion(driving, Motion.empty(1, 25, 512, 512))
    with pytest.raises(DreamActorError, match="unknown groups"):
        retarget_motion(driving, {"lengths": {"antenna": 1.0}})
    with pytest.raises(DreamActorError, match="up"):
        retarget_motion(driving, ref, up=[0, 0, 0])
    with pytest.raises(DreamActorError, match="frame 3"):
        measure_proportions(ref, frame=3)
    # Lost frames stay lost; the others are retargeted normally.
    gappy = driving.copy()
    gappy.body_px[10:13] = np.nan
    gappy.body_world[10:13] = np.nan
    out = retarget_motion(gappy, ref)
    assert np.isnan(out.body_px[10:13]).all() and np.isfinite(out.body_px[:10]).all()
    assert np.isfinite(out.body_cam[13:]).all()
    # A single-frame driving motion works too.
    assert np.isfinite(retarget_motion(driving.slice(0, 1), ref).body_px).all()


def _mediapipe_reference(png) -> Motion:
    mp = pytest.importorskip("mediapipe")
    import imageio.v2 as iio

    img = np.ascontiguousarray(iio.imread(png)[..., :3])
    h, w = img.shape[:2]
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        res = pose.process(img)
    assert res.pose_landmarks is not None
    m = Motion.empty(1, 25, w, h, source="mediapipe")
    m.body_px[0] = [[p.x * w, p.y * h, p.z * w] for p in res.pose_landmarks.landmark]
    m.body_conf[0] = [p.visibility for p in res.pose_landmarks.landmark]
    m.body_world[0] = [[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark]
    return m


@pytest.mark.parametrize("ref_clip", [SHORT, "pub03_squat"])
def test_reference_measured_by_mediapipe(synth_dir, driving, ref_clip):
    """Limb ratios of the retargeted motion follow the reference's true ratios within 5%."""
    ref = measure_proportions(_mediapipe_reference(synth_dir / f"{ref_clip}.png"))
    assert set(ref["lengths"]) == set(GROUPS)
    got = {k: v.mean() for k, v in seg_lengths(retarget_motion(driving, ref).body_cam.astype(np.float64)).items()}
    rest = _load(str(synth_dir / f"{ref_clip}.json"))["body"]["coco_segment_lengths_rest_m"]
    limbs = ("upper_arm", "forearm", "thigh", "shin")
    true = {k: rest[f"left_{k}"] for k in limbs}
    for k in limbs:
        ratio_got = got[k] / sum(got[x] for x in limbs)
        ratio_true = true[k] / sum(true.values())
        assert abs(ratio_got / ratio_true - 1) < 0.05, (k, ratio_got, ratio_true)
    arm_leg = (got["upper_arm"] + got["forearm"]) / (got["thigh"] + got["shin"])
    assert arm_leg / ((true["upper_arm"] + true["forearm"]) / (true["thigh"] + true["shin"])) == pytest.approx(1, abs=0.05)


def test_unmeasured_groups_keep_the_driving_proportion(synth_dir, driving):
    """A reference whose legs are not seen (e.g. a portrait) scales the legs with the rest of the body."""
    ref_motion = gt_motion(synth_dir, SHORT, [0])
    ref_motion.body_conf[0, 25:33] = 0.1  # knees, ankles, feet uncertain
    ref = measure_proportions(ref_motion)
    assert np.isnan(ref["lengths"]["shin"]) and np.isfinite(ref["lengths"]["upper_arm"])
    out = retarget_motion(driving, ref)
    info = out.meta["retarget"]
    assert {"shin", "foot", "heel"} <= set(info["filled_from_driving"])
    shin = seg_lengths(out.body_cam.astype(np.float64))["shin"]
    shin_d = seg_lengths(driving.body_world.astype(np.float64))["shin"]
    np.testing.assert_allclose(shin, shin_d * info["overall_scale"], rtol=1e-3)  # each frame's own length, scaled
    assert np.isfinite(out.body_px).all()
