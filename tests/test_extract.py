"""extract_motion against the synthetic clips' ground truth, and on bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dreamactor_core.signals.extract import POSE_FILTER, extract_motion
from dreamactor_core.signals.video_io import iter_video, load_image, read_video
from dreamactor_core.utils import Cancelled, DreamActorError

# MediaPipe-33 index of each COCO-17 keypoint.
MP33_TO_COCO17 = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
N_FRAMES = 24  # enough to cover tracking and motion; keeps the test quick


def load_gt(synth_dir, clip: str, n: int):
    gt = json.load(open(synth_dir / f"{clip}.json"))
    frames = gt["frames"][:n]
    return {
        "uv": np.array([f["coco17"]["uv"] for f in frames]),
        "vis": np.array([f["coco17"]["vis"] for f in frames]),
        "box": np.array([f["person_bbox_xyxy"] for f in frames]),
        "mp_uv": np.array([f["mp33"]["uv"] for f in frames]),
        "mp_vis": np.array([f["mp33"]["vis"] for f in frames]),
        "head_box": np.array([f["head"]["bbox_xyxy"] for f in frames]),
    }


def pck(motion, gt, alpha: float) -> float:
    """PCK@alpha of the GT box diagonal over GT-visible COCO joints."""
    pred = motion.body_px[:, MP33_TO_COCO17, :2]
    diag = np.hypot(gt["box"][:, 2] - gt["box"][:, 0], gt["box"][:, 3] - gt["box"][:, 1])
    err = np.linalg.norm(pred - gt["uv"], axis=2) / diag[:, None]
    visible = gt["vis"] == 2
    return float(np.mean(np.nan_to_num(err, nan=np.inf)[visible] < alpha))


@pytest.fixture(scope="module")
def extracted(synth_dir):
    out = {}
    for clip in ("pub01_walk_in_place", "pub06_portrait_head"):
        frames, fps = read_video(synth_dir / f"{clip}.mp4", max_frames=N_FRAMES)
        out[clip] = (extract_motion(frames, fps, smoothing=0.5), load_gt(synth_dir, clip, N_FRAMES))
    return out


@pytest.mark.parametrize("clip", ["pub01_walk_in_place", "pub06_portrait_head"])
def test_body_pck_against_ground_truth(extracted, clip):
    motion, gt = extracted[clip]
    p10, p05 = pck(motion, gt, 0.10), pck(motion, gt, 0.05)
    print(f"{clip}: PCK@0.1 {p10:.3f}  PCK@0.05 {p05:.3f}")
    assert p10 >= 0.90
    assert p05 >= 0.85
    assert motion.num_frames == N_FRAMES and motion.fps == 25
    assert np.isfinite(motion.body_world).all() and np.isfinite(motion.body_conf).all()
    # world landmarks are metric and hip-centred: a person spans roughly 0.5-2.5 m
    span = np.nanmax(motion.body_world[..., 1], axis=1) - np.nanmin(motion.body_world[..., 1], axis=1)
    assert np.all((span > 0.3) & (span < 2.5))
    assert motion.meta["person"]["count"] == 1


@pytest.mark.parametrize("clip", ["pub01_walk_in_place", "pub06_portrait_head"])
def test_face_found_on_the_head_with_iris(extracted, clip):
    motion, gt = extracted[clip]
    found = np.isfinite(motion.face_px[:, 0, 0])
    assert found.mean() >= 0.9  # small faces in full-body frames too
    # iris centres (468 subject's right, 473 subject's left) lie on the GT eyes
    diag = np.hypot(gt["box"][:, 2] - gt["box"][:, 0], gt["box"][:, 3] - gt["box"][:, 1])
    for iris, coco in ((473, 1), (468, 2)):
        err = np.linalg.norm(motion.face_px[found, iris, :2] - gt["uv"][found, coco], axis=1) / diag[found]
        assert np.median(err) < 0.02
    # the face lies inside the GT head box
    hb = gt["head_box"][found]
    centre = np.nanmean(motion.face_px[found, :, :2], axis=1)
    assert np.all((centre[:, 0] > hb[:, 0]) & (centre[:, 0] < hb[:, 2]) & (centre[:, 1] > hb[:, 1]) & (centre[:, 1] < hb[:, 3]))


def test_hands_follow_the_subjects_wrists(extracted):
    motion, gt = extracted["pub01_walk_in_place"]
    diag = np.hypot(gt["box"][:, 2] - gt["box"][:, 0], gt["box"][:, 3] - gt["box"][:, 1])
    for side, wrist in ((0, 15), (1, 16)):  # 0 = subject's left hand
        present = np.isfinite(motion.hands_px[:, side, 0, 0]) & (gt["mp_vis"][:, wrist] == 2)
        assert present.mean() >= 0.5
        err = np.linalg.norm(motion.hands_px[present, side, 0, :2] - gt["mp_uv"][present, wrist], axis=1)
        assert np.median(err / diag[present]) < 0.03


def test_head_sphere_is_filled(extracted):
    motion, gt = extracted["pub06_portrait_head"]
    ok = np.isfinite(motion.head_center_px[:, 0])
    assert ok.mean() >= 0.9
    hb = gt["head_box"][ok]
    c = motion.head_center_px[ok]
    assert np.all((c[:, 0] > hb[:, 0]) & (c[:, 0] < hb[:, 2]) & (c[:, 1] > hb[:, 1]) & (c[:, 1] < hb[:, 3]))


def test_motion_survives_json(extracted):
    from dreamactor_core.signals.motion import Motion

    motion, _ = extracted["pub01_walk_in_place"]
    back = Motion.from_json(motion.to_json())
    np.testing.assert_allclose(back.body_px, motion.body_px, atol=1e-3)
    assert back.meta["person"] == motion.meta["person"]


# --- input variants and bad input -------------------------------------------------
@pytest.fixture(scope="module")
def still(synth_dir):
    return load_image(synth_dir / "pub01_walk_in_place.png")


def test_single_frame_and_layouts(still):
    base = extract_motion(still, 25, hands=False, face=False)  # one image [H, W, 3]
    assert base.num_frames == 1 and np.isfinite(base.body_px).all()
    gray = (still.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
    rgba = np.concatenate([still, np.full_like(still[..., :1], 255)], axis=-1)
    variants = {
        "gray": gray[None],  # [1, H, W]
        "rgba": rgba[None],
        "float": still[None].astype(np.float32) / 255.0,
    }
    for name, frames in variants.items():
        m = extract_motion(frames, 25, hands=False, face=False, name=name)
        err = np.nanmedian(np.linalg.norm(m.body_px[0, :, :2] - base.body_px[0, :, :2], axis=1))
        assert err < 6.0, name


def test_torch_float_frames(still):
    torch = pytest.importorskip("torch")
    frames = torch.from_numpy(still[None].astype(np.float32) / 255.0)
    m = extract_motion(frames, 25, hands=False, face=False)
    assert np.isfinite(m.body_px).all()


def test_small_frames_are_upscaled(still):
    import cv2

    small = cv2.resize(still, (96, 96), interpolation=cv2.INTER_AREA)
    m = extract_motion(small[None], 25, hands=False, face=False)
    assert m.width == 96 and m.meta["extractor"]["upscale"] > 1
    ref = extract_motion(still[None], 25, hands=False, face=False)
    err = np.linalg.norm(m.body_px[0, MP33_TO_COCO17, :2] * (512 / 96) - ref.body_px[0, MP33_TO_COCO17, :2], axis=1)
    assert np.median(err) < 15  # within ~3% of the frame


def test_bad_inputs_give_clear_errors():
    with pytest.raises(DreamActorError, match="empty"):
        extract_motion(np.zeros((0, 64, 64, 3), np.uint8), 25)
    with pytest.raises(DreamActorError, match="empty"):
        extract_motion([], 25)
    with pytest.raises(DreamActorError, match="too small"):
        extract_motion(np.zeros((2, 8, 8, 3), np.uint8), 25)
    with pytest.raises(DreamActorError, match="fps"):
        extract_motion(np.zeros((1, 64, 64, 3), np.uint8), 0)
    with pytest.raises(DreamActorError, match="my_video.*no person"):
        extract_motion(np.full((3, 128, 128, 3), 128, np.uint8), 25, name="my_video")
    with pytest.raises(DreamActorError, match="channels"):
        extract_motion(np.zeros((1, 64, 64, 5), np.uint8), 25)


def test_bad_strength_is_refused_before_a_frame_is_read():
    def frames():
        raise AssertionError("a frame was read")
        yield

    with pytest.raises(DreamActorError, match="smoothing strength"):
        extract_motion(frames(), 25, smoothing=1.5)


def test_pose_filter_is_one_setting(synth_dir):
    """Smoothing 0 is MediaPipe as shipped, its landmark filter on; ``pose_filter`` overrides the rule."""
    frames, fps = read_video(synth_dir / "pub02_arm_wave.mp4", max_frames=6)
    kw = dict(smoothing=0.0, hands=False, face=False)
    shipped, off = extract_motion(frames, fps, **kw), extract_motion(frames, fps, pose_filter=False, **kw)
    assert shipped.meta["extractor"]["pose_filter"] is POSE_FILTER["none"] is True
    assert off.meta["extractor"]["pose_filter"] is False
    # The filter starts from the first frame's landmarks, then trails them: off, later frames differ.
    np.testing.assert_array_equal(off.body_px[0], shipped.body_px[0])
    assert np.abs(off.body_px[1:, :, :2] - shipped.body_px[1:, :, :2]).max() > 0.1
    ours = extract_motion(frames, fps, hands=False, face=False)
    assert ours.meta["extractor"]["pose_filter"] is POSE_FILTER["ours"]


def test_streaming_progress_and_cancel(synth_dir):
    frames, fps = iter_video(synth_dir / "pub02_arm_wave.mp4", max_frames=4)
    calls = []
    m = extract_motion(frames, fps, hands=False, face=False, progress=lambda d, t: calls.append((d, t)))
    assert m.num_frames == 4 and calls[-1] == (4, 4)
    frames, fps = iter_video(synth_dir / "pub02_arm_wave.mp4", max_frames=4)
    with pytest.raises(Cancelled):
        extract_motion(frames, fps, cancel=lambda: True)


def test_unreadable_files(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(DreamActorError, match="bad.mp4"):
        read_video(bad)
    with pytest.raises(DreamActorError, match="not found"):
        load_image(tmp_path / "missing.png")


def test_a_failing_post_processing_step_leaves_no_graph_closing_behind():
    """The graphs close in a thread beside the post-processing; when a later step raises (here: nobody
    in the frames), the error reaches the caller only after they have closed (no MediaPipe threads
    left running)."""
    import threading

    with pytest.raises(DreamActorError, match="no person found"):
        extract_motion(np.zeros((2, 64, 64, 3), np.uint8), 25.0, hands=False)
    assert not [t for t in threading.enumerate() if t.name == "dreamactor-close"]
