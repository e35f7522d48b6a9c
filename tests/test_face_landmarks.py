"""FaceMesh tracking on whole frames and head crops, against the synthetic clips' ground truth."""
from __future__ import annotations

import numpy as np
import pytest

from dreamactor_core.signals.face_landmarks import (
    FaceTracker, crop_square, face_box_from_landmarks, head_box_from_body, track_faces,
)
from dreamactor_core.utils import DreamActorError
from synth_head import extract, gt_heads, load_clip

STEP = 4
# MediaPipe Pose / GT mp33 indices of the subject's left and right eye; FaceMesh iris centres.
MP33_L_EYE, MP33_R_EYE = 2, 5
IRIS_L, IRIS_R, NOSE_TIP = 473, 468, 1


def test_crop_square_maps_back_to_frame_pixels():
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[37, 101] = 255  # one bright pixel at x=101, y=37
    for side, out_px in [(40.0, 256), (150.0, 64), (90.0, 64)]:
        crop, x0, y0, scale = crop_square(frame, 95.3, 41.7, side, out_px)
        ys, xs = np.nonzero(crop[..., 0])
        weights = crop[ys, xs, 0].astype(float)
        x = np.average(xs, weights=weights) / scale + x0
        y = np.average(ys, weights=weights) / scale + y0
        assert abs(x - 101) < 0.6 and abs(y - 37) < 0.6, (side, x, y)


def test_crop_square_shrinking_less_than_twice_is_one_bilinear_warp():
    import cv2

    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (120, 160, 3)).astype(np.uint8)
    for side in (70.0, 100.0, 127.0):  # scale 64 / side in (0.5, 1): no area pre-shrink
        crop, x0, y0, scale = crop_square(frame, 60.2, 70.9, side, 64)
        m = np.array([[scale, 0, -scale * x0], [0, scale, -scale * y0]])
        want = cv2.warpAffine(frame, m, (64, 64), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        assert np.abs(crop.astype(int) - want).max() <= 1  # same warp, up to the matrix's last bits


def test_bad_frames_raise_clear_errors():
    with FaceTracker() as tracker:
        with pytest.raises(DreamActorError, match="RGB"):
            tracker.process(np.zeros((64, 64), np.uint8))
        with pytest.raises(DreamActorError, match="uint8"):
            tracker.process(np.zeros((64, 64, 3), np.float32))
        with pytest.raises(DreamActorError, match="too small"):
            tracker.process(np.zeros((8, 8, 3), np.uint8))
        # A blank frame has no face: None, not a crash; a degenerate box behaves like no box.
        assert tracker.process(np.zeros((64, 64, 3), np.uint8), (10, 10, 10, 10)) == (None, 0.0)
    with pytest.raises(DreamActorError, match="body_px"):
        track_faces(np.zeros((2, 32, 32, 3), np.uint8), np.zeros((3, 33, 3)))


def test_astronaut_face_is_found(synth_dir):
    import imageio.v2 as iio

    img = np.asarray(iio.imread(synth_dir / "astronaut.png"))[..., :3]
    with FaceTracker() as tracker:
        lm, conf = tracker.process(img)
    assert lm is not None and lm.shape == (478, 3) and lm.dtype == np.float32 and conf > 0.9
    box = face_box_from_landmarks(lm)
    # Her face is in the upper middle of the portrait and roughly 80-140 px across.
    assert 60 < box[2] - box[0] < 160 and 150 < 0.5 * (box[0] + box[2]) < 300 and box[1] > 20 and box[3] < 260
    # Subject's right iris appears on the image left, the nose tip between and below the eyes.
    assert lm[IRIS_R, 0] < lm[NOSE_TIP, 0] < lm[IRIS_L, 0]
    assert lm[NOSE_TIP, 1] > max(lm[IRIS_R, 1], lm[IRIS_L, 1])


def _landmark_errors(synth_dir, clip, use_body):
    gt, _, idx = load_clip(str(synth_dir), clip, STEP)
    motion = extract(str(synth_dir), clip, STEP, use_body)
    heads = gt_heads(gt, idx)
    mp33 = np.array([gt["frames"][i]["mp33"]["uv"] for i in idx])
    vis = np.array([gt["frames"][i]["mp33"]["vis"] for i in idx])
    found = np.isfinite(motion.face_px[:, 0, 0])
    errs = []
    for lm_idx, gt_idx in [(IRIS_L, MP33_L_EYE), (IRIS_R, MP33_R_EYE)]:
        ok = found & (vis[:, gt_idx] == 2)
        d = np.linalg.norm(motion.face_px[ok, lm_idx, :2] - mp33[ok, gt_idx], axis=1) / heads["radius"][ok]
        errs.append(d)
    return motion, heads, found, np.concatenate(errs)


def test_head_crop_path_on_full_body_clip(synth_dir):
    # The face is ~50 px here: the whole-frame FaceMesh finds nothing (see the data README), so the
    # head box from MediaPipe Pose's landmarks (head_box_from_body) must lead the tracker to it.
    motion, heads, found, eye_err = _landmark_errors(synth_dir, "pub05_head_turn_nod", True)
    assert found.mean() >= 0.9, found
    boxes = np.array([head_box_from_body(b) for b in motion.body_px])
    centres = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    gt_centres = 0.5 * (heads["bbox"][:, :2] + heads["bbox"][:, 2:])
    assert np.median(np.linalg.norm(centres - gt_centres, axis=1) / heads["radius"]) < 0.35
    # Eye centres land on the ground-truth eyes (a fraction of the head radius, ~36 px here).
    assert np.median(eye_err) < 0.12 and eye_err.max() < 0.35, eye_err


def test_whole_frame_path_on_portrait_clip(synth_dir):
    _, _, found, eye_err = _landmark_errors(synth_dir, "pub06_portrait_head", False)
    assert found.mean() >= 0.95
    assert np.median(eye_err) < 0.12 and eye_err.max() < 0.35, eye_err
