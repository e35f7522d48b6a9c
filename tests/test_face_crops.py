"""Face crop boxes and crops: stable over time, centred on the head, safe at the frame border."""
from __future__ import annotations

import numpy as np
import pytest

from dreamactor_core.signals.face_crops import crop_faces, face_crop_boxes
from dreamactor_core.signals.face_landmarks import FaceTracker
from dreamactor_core.signals.head_pose import estimate_head
from dreamactor_core.signals.motion import Motion
from dreamactor_core.utils import DreamActorError
from synth_head import extract, gt_heads, load_clip

STEP = 2  # jitter needs consecutive-ish frames


def _jitter(boxes):
    centres = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    sides = boxes[:, 2] - boxes[:, 0]
    return np.mean(np.linalg.norm(np.diff(centres, 2, axis=0), axis=1)), np.mean(np.abs(np.diff(sides, 2)))


@pytest.mark.parametrize("clip", ["pub05_head_turn_nod", "pub06_portrait_head"])
def test_boxes_are_smoother_than_raw_and_centred_on_the_head(synth_dir, clip):
    gt, frames, idx = load_clip(str(synth_dir), clip, STEP)
    motion = extract(str(synth_dir), clip, STEP)
    heads = gt_heads(gt, idx)
    raw = face_crop_boxes(motion, smooth=0.0)
    smooth = face_crop_boxes(motion)
    assert smooth.shape == (len(idx), 4) and np.isfinite(smooth).all()
    sides = smooth[:, 2] - smooth[:, 0]
    np.testing.assert_allclose(smooth[:, 3] - smooth[:, 1], sides, rtol=1e-5)  # square
    (jc_raw, js_raw), (jc, js) = _jitter(raw), _jitter(smooth)
    print(f"{clip}: centre jitter {jc_raw:.2f} -> {jc:.2f} px, size jitter {js_raw:.2f} -> {js:.2f} px")
    assert jc < 0.6 * jc_raw and js < 0.6 * js_raw
    gt_centres = 0.5 * (heads["bbox"][:, :2] + heads["bbox"][:, 2:])
    gt_size = heads["bbox"][:, 3] - heads["bbox"][:, 1]
    off = np.linalg.norm(0.5 * (smooth[:, :2] + smooth[:, 2:]) - gt_centres, axis=1) / gt_size
    assert off.mean() < 0.12 and off.max() < 0.25, off
    # Face box x margin: about the head's size, never a tiny or a huge crop.
    assert 0.8 < np.median(sides / gt_size) < 1.8
    crops = crop_faces(frames, motion, size=224)
    assert crops.shape == (len(idx), 224, 224, 3) and crops.dtype == np.uint8


def test_astronaut_crop_contains_the_face(synth_dir):
    import imageio.v2 as iio

    img = np.asarray(iio.imread(synth_dir / "astronaut.png"))[..., :3]
    with FaceTracker() as tracker:
        lm, _ = tracker.process(img)
    motion = Motion.empty(1, fps=25, width=img.shape[1], height=img.shape[0], source="mediapipe")
    motion.face_px[0] = lm
    motion = estimate_head(motion)
    x0, y0, x1, y1 = face_crop_boxes(motion)[0]
    for i in (468, 473, 1, 13, 152):  # irises, nose tip, mouth, chin
        assert x0 < lm[i, 0] < x1 and y0 < lm[i, 1] < y1
    eye_dist = np.linalg.norm(lm[468, :2] - lm[473, :2])
    assert 2.5 * eye_dist < x1 - x0 < 5.0 * eye_dist
    crop = crop_faces(img[None], motion)
    assert crop.shape == (1, 512, 512, 3) and crop.std() > 20  # real image content, not padding


def _motion_with_head(n, centres, radius, w=200, h=120):
    m = Motion.empty(n, fps=25, width=w, height=h)
    m.head_center_px[:] = centres
    m.head_radius_px[:] = radius
    return m


def test_fallbacks_gaps_and_padding():
    # Head sphere only (face lost), one frame missing entirely: it is bridged, not NaN.
    m = _motion_with_head(3, [[20.0, 20.0]] * 3, 30.0)
    m.head_center_px[1] = np.nan
    boxes = face_crop_boxes(m, margin=1.0, smooth=0.0)
    np.testing.assert_allclose(boxes[1], [20 - 19.5, 20 - 19.5, 20 + 19.5, 20 + 19.5], atol=1e-3)
    frames = np.full((3, 120, 200, 3), 200, np.uint8)
    black = crop_faces(frames, m, size=64, margin=1.5)
    assert (black[:, :4, :4] == 0).all() and (black[:, -4:, -4:] == 200).all()  # box leaves the frame at top-left
    edge = crop_faces(frames, m, size=64, margin=1.5, pad="edge")
    assert (edge == 200).all()
    # Body landmarks only.
    b = Motion.empty(2, fps=25, width=200, height=120)
    b.body_px[:, [0, 2, 5, 7, 8, 9, 10], :2] = [[100, 50], [104, 46], [96, 46], [110, 48], [90, 48], [103, 56], [97, 56]]
    bb = face_crop_boxes(b)
    assert np.isfinite(bb).all() and abs(0.5 * (bb[0, 0] + bb[0, 2]) - 100) < 2


def test_bad_inputs_raise_clear_errors():
    m = _motion_with_head(2, [[100.0, 60.0]] * 2, 20.0)
    frames = np.zeros((2, 120, 200, 3), np.uint8)
    with pytest.raises(DreamActorError, match="200x120"):
        crop_faces(np.zeros((2, 100, 200, 3), np.uint8), m)
    with pytest.raises(DreamActorError, match="frames"):
        crop_faces(frames[:1], m)
    with pytest.raises(DreamActorError, match="RGB"):
        crop_faces(frames[..., 0], m)
    with pytest.raises(DreamActorError, match="smooth"):
        face_crop_boxes(m, smooth=1.0)
    with pytest.raises(DreamActorError, match="no face"):
        face_crop_boxes(Motion.empty(2, fps=25, width=200, height=120))
    # ComfyUI float images are accepted.
    assert crop_faces(frames.astype(np.float32) / 255.0, m, size=32).shape == (2, 32, 32, 3)
