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
    # no toes in OpenPose-18: estimated below the ankle along the shin, flagged with a low confidence
    np.testing.assert_allclose(m.body_px[0, 31, :2], OP18[13] + 0.22 * (OP18[13] - OP18[12]), atol=1e-3)
    assert m.body_conf[0, 31] == pytest.approx(0.3) and 31 in m.meta["estimated_points"]
    assert 15 not in m.meta["estimated_points"] and m.body_conf[0, 15] == pytest.approx(0.9)
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
    # the dropped right wrist is not read as (0, 0): it is invented below the elbow, too unsure to draw
    shoulder_width = OP18[5, 0] - OP18[2, 0]
    np.testing.assert_allclose(m.body_px[0, 16, :2], OP18[3] + [0, 0.7 * shoulder_width], atol=1e-3)
    assert m.body_conf[0, 16] < 0.3 and 16 in m.meta["estimated_points"]
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


def test_face_is_exported_as_openpose_70_points():
    from dreamactor_core.signals.openpose import FACE70_FROM_MESH

    m = motion_from_pose_keypoint([frame(OP18)] * 3, fps=25)
    rng = np.random.default_rng(0)
    m.face_px[:2] = rng.uniform(20, 180, size=(2, 478, 3))
    m.face_conf[:2] = [0.9, 0.7]
    m.face_px[1, 468:] = np.nan  # no iris landmarks in frame 1; frame 2 has no face at all
    for normalized, scale in ((False, [1, 1]), (True, [1 / 200, 1 / 400])):
        pk = motion_to_pose_keypoint(m, normalized=normalized)
        faces = [np.array(f["people"][0]["face_keypoints_2d"]).reshape(-1, 3) for f in pk[:2]]
        assert [len(f) for f in faces] == [70, 70] and pk[2]["people"][0]["face_keypoints_2d"] == []
        np.testing.assert_allclose(faces[0][:, :2], m.face_px[0, list(FACE70_FROM_MESH), :2] * scale, rtol=1e-6)
        np.testing.assert_allclose(faces[0][:, 2], 0.9)
        np.testing.assert_array_equal(faces[1][68:], 0.0)  # pupils missing -> 0, 0, 0 as OpenPose writes them
        np.testing.assert_allclose(faces[1][:68, 2], 0.7)
    # Read back, the face's eye and mouth corners become the body's (iBUG 36/39/42/45/48/54).
    back = motion_from_pose_keypoint(motion_to_pose_keypoint(m), fps=25)
    for mp_body, mesh in {1: 362, 3: 263, 4: 133, 6: 33, 9: 291, 10: 61}.items():
        np.testing.assert_allclose(back.body_px[0, mp_body, :2], m.face_px[0, mesh, :2], atol=1e-3)


def test_face_only_frame_keeps_its_person():
    m = Motion.empty(1, fps=25, width=64, height=64)
    m.face_px[0] = 32.0
    m.face_conf[0] = 0.8
    people = motion_to_pose_keypoint(m)[0]["people"]
    assert len(people) == 1 and len(people[0]["face_keypoints_2d"]) == 210
    assert set(people[0]["pose_keypoints_2d"]) == {0.0}


def test_exported_face_lands_on_ground_truth(synth_dir):
    """FaceMesh on the synthetic portrait, exported as OpenPose's face: the points named by the
    70-point layout sit where the ground truth has them, in iBUG's order."""
    from synth_head import extract, gt_heads, load_clip

    gt, _, idx = load_clip(str(synth_dir), "pub06_portrait_head", 4)
    motion = extract(str(synth_dir), "pub06_portrait_head", 4, False)
    heads = gt_heads(gt, idx)
    faces = [f["people"][0]["face_keypoints_2d"] if f["people"] else [] for f in motion_to_pose_keypoint(motion)]
    found = np.array([len(f) == 210 for f in faces])
    assert found.mean() > 0.9
    pts = np.stack([np.array(f).reshape(70, 3) for f, ok in zip(faces, found) if ok])
    radius = heads["radius"][found]
    gt_uv = np.array([gt["frames"][i]["mp33"]["uv"] for i in idx])[found]
    gt_vis = np.array([gt["frames"][i]["mp33"]["vis"] for i in idx])[found]
    # iBUG mouth corners 48/54 and OpenPose pupils 68/69 against MediaPipe-33 mouth_right/left, eyes.
    for k, g in ((48, 10), (54, 9), (68, 5), (69, 2)):
        ok = gt_vis[:, g] == 2
        err = np.linalg.norm(pts[ok, k, :2] - gt_uv[ok, g], axis=1) / radius[ok]
        assert ok.sum() >= 10 and np.median(err) < 0.05 and err.max() < 0.1, (k, err)
    yaw = np.array([gt["frames"][i]["head"]["yaw_deg"] for i in idx])[found]
    front = pts[np.abs(yaw) < 20]
    assert len(front) >= 3
    # Coordinates along and across the eye line, so that head roll does not matter.
    along = front[:, 45, :2] - front[:, 36, :2]
    along /= np.linalg.norm(along, axis=1, keepdims=True)
    x = np.einsum("fkc,fc->fk", front[..., :2], along)
    y = np.einsum("fkc,fc->fk", front[..., :2], np.stack([-along[:, 1], along[:, 0]], 1))
    assert (x[:, :8] < x[:, 16:8:-1]).all()  # jaw: subject's right on the image left, mirrored pairs
    assert np.isin(y[:, :17].argmax(1), [7, 8, 9]).all()  # the chin end is the jaw's lowest
    assert (np.diff(y[:, :7], axis=1) > 0).all() and (np.diff(y[:, 10:17], axis=1) < 0).all()  # ear to chin
    # Brows, the eyes' upper lids and the upper lip run left to right; lower lids and lip back.
    for run in ([*range(17, 27)], [36, 37, 38, 39, 42, 43, 44, 45], [*range(48, 55)], [60, 61, 62, 63, 64],
                [39, 40, 41, 36], [45, 46, 47, 42], [*range(54, 60), 48], [64, 65, 66, 67, 60]):
        assert (np.diff(x[:, run], axis=1) * (1 if run[0] < run[-1] else -1) > 0).all(), run
    assert (y[:, 17:27].max(1) < y[:, 36:48].min(1)).all()  # brows above the eyes
    assert (np.diff(y[:, 27:31], axis=1) > 0).all()  # nose bridge runs down to the tip
    assert (y[:, 51] < y[:, 62]).all() and (y[:, 66] < y[:, 57]).all()  # inner lips inside the outer


def _lit(frame: np.ndarray, xy) -> bool:
    """Whether the rendered pixel at ``xy`` (or one of its 4-neighbours) is not black."""
    x, y = int(round(xy[0])), int(round(xy[1]))
    return bool(frame[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].max() > 30)


def test_round_trip_keeps_head_sphere_neck_and_feet_and_retargets(synth_dir):
    """Ground-truth motion -> POSE_KEYPOINT -> motion -> Retarget -> Render: the head sphere is fitted on
    the nose, eyes and ears (no face points here) close to the truth, the feet come back exactly, and the
    render shows head, neck and feet."""
    from synth_motion import synth_motion

    from dreamactor_core.signals.render_dreamactor import render_guidance
    from dreamactor_core.signals.retarget import retarget_motion

    truth = synth_motion(synth_dir, "pub02_arm_wave", range(0, 60, 6))
    pk = motion_to_pose_keypoint(truth)
    assert len(pk[0]["people"][0]["foot_keypoints_2d"]) == 18
    back = motion_from_pose_keypoint(pk, truth.fps)
    assert back.meta["head_source"] == ["body"] * truth.num_frames
    centre_err = np.linalg.norm(back.head_center_px - truth.head_center_px, axis=1) / truth.head_radius_px
    assert centre_err.max() < 0.1, centre_err
    np.testing.assert_allclose(back.head_radius_px, truth.head_radius_px, rtol=0.1)
    assert np.abs(back.head_angles - truth.head_angles).max() < 6.0, back.head_angles - truth.head_angles
    np.testing.assert_allclose(back.body_px[:, 27:33, :2], truth.body_px[:, 27:33, :2], atol=1e-3)  # ankles, feet
    assert not {27, 28, 29, 30, 31, 32} & set(back.meta["estimated_points"])
    neck = np.array(pk[0]["people"][0]["pose_keypoints_2d"][3:5])
    np.testing.assert_allclose(neck, truth.body_px[0, [11, 12], :2].mean(0), atol=1e-3)

    reference = synth_motion(synth_dir, "pub01_walk_in_place", [0])
    moved = retarget_motion(back, reference)
    frames = render_guidance(moved, truth.width, truth.height, style="dreamactor")
    for frame, centre, radius, px in zip(frames, moved.head_center_px, moved.head_radius_px, moved.body_px):
        assert _lit(frame, centre), "no head sphere"
        shoulders = px[[11, 12], :2].mean(0)
        towards = (centre - shoulders) / np.linalg.norm(centre - shoulders)
        gap = np.linalg.norm(centre - shoulders) - radius
        assert gap > 2 and _lit(frame, shoulders + towards * gap / 2), "no neck"
        for ankle, toe in ((27, 31), (28, 32)):
            assert _lit(frame, (px[ankle, :2] + px[toe, :2]) / 2), "no foot"


def test_a_turned_head_s_imported_eyes_and_ears_read_its_yaw_and_size(synth_dir):
    """POSE_KEYPOINT's eyes and ears sit on the real ones (here the synthetic truth's COCO points), not where
    MediaPipe draws a turned head's: read on MediaPipe's turned model, the head turning 15-45 deg came 2.4 deg
    short; the import's source record keeps them on the textbook head (and at their own size: no face here)."""
    from synth_motion import synth_motion

    truth = synth_motion(synth_dir, "pub05_head_turn_nod", range(0, 96, 2))
    # Every other frame: 0.08 s apart, so half the clip's rate (the head's yaw is tracked in time).
    back = motion_from_pose_keypoint(motion_to_pose_keypoint(truth), truth.fps / 2)
    assert back.meta["source"] == "pose_keypoint" and back.meta["head_source"] == ["body"] * truth.num_frames
    yaw = truth.head_angles[:, 0]
    turned = (np.abs(yaw) >= 15) & (np.abs(yaw) < 45)
    err = (back.head_angles[:, 0] - yaw) * np.sign(yaw)  # > 0: read as more turned
    assert turned.sum() >= 8 and np.abs(err[turned]).mean() < 1.0, err[turned]
    assert np.abs(err).max() < 2.0, err
    np.testing.assert_allclose(back.head_radius_px, truth.head_radius_px, rtol=0.02)

def test_imported_eyes_and_ears_follow_a_head_turned_past_60_degrees(synth_dir):
    """MediaPipe's head points stop following a head turned past ~60 deg, so the fusion caps their yaw; keypoints
    on the real eyes and ears keep following it (a 90 deg turn, the truth's COCO points): capped, 60-90 deg read
    6.9 deg short."""
    from synth_motion import synth_motion

    truth = synth_motion(synth_dir, "pub04_turn_landscape", range(0, 80, 2))
    back = motion_from_pose_keypoint(motion_to_pose_keypoint(truth), truth.fps)
    yaw = truth.head_angles[:, 0]
    far = np.abs(yaw) >= 60
    err = (back.head_angles[:, 0] - yaw) * np.sign(yaw)  # > 0: read as more turned
    assert far.sum() >= 15 and np.abs(err[far]).mean() < 1.5, err[far]

def test_an_exported_motion_keeps_its_keypoint_source():
    """A detector's keypoints are read as on the real eyes and ears; our own MediaPipe motion exported and read back
    keeps MediaPipe's head-point model (here: no face, so the head is sized on MediaPipe's typical scale, 1.3x its
    points' own reading). A source without a record is not written, and a name read back that has none is not used."""
    from dreamactor_core.signals.point_sources import POINT_SOURCES

    detected = motion_from_pose_keypoint([frame(OP18)] * 3, fps=25)
    assert detected.meta["source"] == "pose_keypoint"
    ours = detected.copy()
    ours.meta["source"] = "mediapipe"
    back = motion_from_pose_keypoint(motion_to_pose_keypoint(ours), fps=25)
    assert back.meta["source"] == "mediapipe" and back.meta["head_scale"] == "typical"
    np.testing.assert_allclose(back.head_radius_px / detected.head_radius_px,
                               POINT_SOURCES["mediapipe"].face_over_points, rtol=1e-4)
    ours.meta["source"] = "synth:clip"
    assert all("dreamactor_keypoint_source" not in f for f in motion_to_pose_keypoint(ours))
    odd = dict(frame(OP18), dreamactor_keypoint_source="kinect")
    assert motion_from_pose_keypoint(odd, fps=25).meta["source"] == "pose_keypoint"

def test_head_pose_comes_from_the_face_points(synth_dir):
    """With the 70-point face the round trip fits the head on the face as the extractor does (same
    accuracy against the synthetic portrait's ground truth, gaze kept); without it, on eyes, ears and nose."""
    from synth_head import extract, gt_heads, load_clip

    from dreamactor_core.signals.head_pose import estimate_head

    gt, _, idx = load_clip(str(synth_dir), "pub06_portrait_head", 4)
    motion = extract(str(synth_dir), "pub06_portrait_head", 4, False).copy()
    motion.body_conf[np.isfinite(motion.body_px[..., 0])] = 0.9
    truth = gt_heads(gt, idx)["angles"]
    direct = np.abs(estimate_head(motion).head_angles - truth)
    pk = motion_to_pose_keypoint(motion)
    back = motion_from_pose_keypoint(pk, motion.fps)
    assert back.meta["head_source"] == ["face"] * motion.num_frames
    err = np.abs(back.head_angles - truth)
    assert np.median(err) < 3.5 and np.percentile(err, 90) < 9.0, err
    assert np.median(err) < np.median(direct) + 0.5  # as good as fitting the full face mesh
    assert np.isfinite(back.gaze).all()
    for frame in pk:
        frame["people"][0]["face_keypoints_2d"] = []
    body_only = motion_from_pose_keypoint(pk, motion.fps)
    assert body_only.meta["head_source"] == ["body"] * motion.num_frames
    err = np.abs(body_only.head_angles - truth)
    assert np.median(err) < 9.0 and np.percentile(err, 90) < 15.0, err


def test_upper_body_keypoints_retarget_without_drawing_invented_legs(synth_dir):
    """A detector that did not see the legs (upper-body shot): the legs are invented hanging from the
    shoulders, with a confidence below what renderers draw and retargeting trusts, so the motion still
    retargets and the guidance shows the upper body only."""
    from synth_motion import synth_motion

    from dreamactor_core.signals.render_openpose import openpose_points
    from dreamactor_core.signals.retarget import retarget_motion

    truth = synth_motion(synth_dir, "pub02_arm_wave", range(0, 40, 8))
    pk = motion_to_pose_keypoint(truth)
    for f in pk:
        person = f["people"][0]
        body = np.array(person["pose_keypoints_2d"]).reshape(18, 3)
        body[8:14] = 0.0  # hips, knees, ankles unseen
        person["pose_keypoints_2d"] = body.ravel().tolist()
        person["foot_keypoints_2d"] = []
    back = motion_from_pose_keypoint(pk, truth.fps)
    legs = [23, 24, 25, 26, 27, 28, 29, 30, 31, 32]
    assert np.isfinite(back.body_px[:, legs, :2]).all() and (back.body_conf[:, legs] < 0.3).all()
    # invented hips sit below the shoulders, on the right side, roughly where the true ones are
    assert (back.body_px[:, [23, 24], 1] > back.body_px[:, [11, 12], 1]).all()
    assert (back.body_px[:, 23, 0] > back.body_px[:, 24, 0]).all() == (truth.body_px[:, 23, 0] > truth.body_px[:, 24, 0]).all()
    shoulder_w = np.linalg.norm(truth.body_px[:, 11, :2] - truth.body_px[:, 12, :2], axis=1)
    assert (np.linalg.norm(back.body_px[:, [23, 24], :2] - truth.body_px[:, [23, 24], :2], axis=2)
            < shoulder_w[:, None]).all()
    assert np.isnan(openpose_points(back)[:, 8:14]).all()  # not drawn
    assert np.isfinite(openpose_points(back)[:, [0, 1, 2, 5]]).all()
    moved = retarget_motion(back, synth_motion(synth_dir, "pub01_walk_in_place", [0]))
    assert np.isfinite(moved.head_center_px).all()
