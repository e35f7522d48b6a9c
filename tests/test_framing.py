import numpy as np
import pytest

from dreamactor_core.signals.framing import (
    ASPECT_MODES, fit_transform, map_motion, resize_frames, transform_motion,
)
from dreamactor_core.utils import DreamActorError

from synth_motion import synth_motion

SIZES = [(832, 480, 512, 512), (480, 832, 512, 512), (512, 512, 832, 480), (300, 200, 640, 360), (97, 61, 40, 50)]


def _blob(w, h, x, y, sigma=3.0):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))


def _centroid(img):
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    s = img.sum()
    return np.array([(xx * img).sum() / s, (yy * img).sum() / s])


@pytest.mark.parametrize("mode", ASPECT_MODES)
@pytest.mark.parametrize("src_w,src_h,dst_w,dst_h", SIZES)
def test_point_drawn_in_source_lands_on_transformed_point(mode, src_w, src_h, dst_w, dst_h):
    tf = fit_transform(src_w, src_h, dst_w, dst_h, mode)
    rng = np.random.default_rng(src_w * 7 + dst_h)
    # Points well inside the part of the source that stays visible in every mode.
    for _ in range(3):
        x = rng.uniform(0.35, 0.65) * (src_w - 1)
        y = rng.uniform(0.35, 0.65) * (src_h - 1)
        sigma = max(2.0, 2.0 / min(tf.scale_x, tf.scale_y))  # still a few pixels wide after shrinking
        frame = _blob(src_w, src_h, x, y, sigma).astype(np.float32)[..., None].repeat(3, -1)
        out = resize_frames(frame[None], dst_w, dst_h, mode)
        assert out.shape == (1, dst_h, dst_w, 3)
        got = _centroid(out[0, ..., 0].astype(np.float64))
        want = tf.apply(np.array([x, y]))
        np.testing.assert_allclose(got, want, atol=0.08)


@pytest.mark.parametrize("mode", ASPECT_MODES)
def test_content_edges_and_padding(mode):
    frames = np.full((2, 480, 832, 3), 200, np.uint8)
    out = resize_frames(frames, 512, 512, mode, pad_value=7)
    assert out.dtype == np.uint8 and out.shape == (2, 512, 512, 3)
    tf = fit_transform(832, 480, 512, 512, mode)
    # The source's outer pixel edges (-0.5 and size-0.5) map to the content's edges.
    top = tf.apply(np.array([-0.5, -0.5]))[1] + 0.5
    bottom = tf.apply(np.array([831.5, 479.5]))[1] + 0.5
    if mode == "letterbox":
        assert top == pytest.approx(round(top)) and round(top) > 0
        assert (out[:, : round(top)] == 7).all() and (out[:, round(bottom):] == 7).all()
        assert (out[:, round(top): round(bottom)] == 200).all()
        assert tf.scale_x == pytest.approx(tf.scale_y, rel=0.01)
    else:
        assert (out == 200).all()
    if mode == "crop":
        left = tf.apply(np.array([-0.5, -0.5]))[0] + 0.5
        assert left < 0 and tf.scale_x == pytest.approx(tf.scale_y, rel=0.01)
    if mode == "stretch":
        assert (tf.scale_x, tf.scale_y) == (512 / 832, 512 / 480)


def test_resize_keeps_float_and_torch_types():
    torch = pytest.importorskip("torch")
    frames = torch.rand(3, 40, 60, 3)
    out = resize_frames(frames, 32, 32, "crop")
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and tuple(out.shape) == (3, 32, 32, 3)
    np.testing.assert_allclose(out.numpy(), resize_frames(frames.numpy(), 32, 32, "crop"), atol=1e-6)


@pytest.mark.parametrize("mode", ASPECT_MODES)
def test_transform_motion_maps_every_pixel_field_and_round_trips(synth_dir, mode):
    m = synth_motion(synth_dir, "pub04_turn_landscape", frames=[0, 40])
    m.hands_px[:, 0, :, :] = m.body_px[:, 15:16, :] + np.arange(21, dtype=np.float32)[:, None]
    m.face_px[:, :10] = m.body_px[:, :10]
    out = transform_motion(m, 512, 512, mode)
    tf = fit_transform(832, 480, 512, 512, mode)
    assert (out.width, out.height) == (512, 512)
    sx, sy, ox, oy = tf  # the tuple form of the design card
    np.testing.assert_allclose(out.body_px[..., 0], m.body_px[..., 0] * sx + ox, atol=1e-3)
    np.testing.assert_allclose(out.body_px[..., :2], tf.apply(m.body_px[..., :2]), atol=1e-3)
    np.testing.assert_allclose(out.body_px[..., 2], m.body_px[..., 2] * tf.scale_x, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out.hands_px[:, 0, :, :2], tf.apply(m.hands_px[:, 0, :, :2]), atol=1e-3)
    np.testing.assert_allclose(out.face_px[:, :10, :2], tf.apply(m.face_px[:, :10, :2]), atol=1e-3)
    assert np.isnan(out.face_px[:, 10:]).all() and np.isnan(out.hands_px[:, 1]).all()
    np.testing.assert_allclose(out.head_center_px, tf.apply(m.head_center_px), atol=1e-3)
    np.testing.assert_allclose(out.head_radius_px, m.head_radius_px * np.sqrt(tf.scale_x * tf.scale_y), rtol=1e-5)
    np.testing.assert_allclose(out.person_box[:, :2], tf.apply(m.person_box[:, :2]), atol=1e-3)
    np.testing.assert_allclose(out.person_box[:, 2:], tf.apply(m.person_box[:, 2:]), atol=1e-3)
    np.testing.assert_array_equal(out.body_cam, m.body_cam)
    assert out.meta["framing"][-1]["to"] == [512, 512]
    # The input is not changed, and the inverse transform brings every field back.
    assert m.width == 832
    back = map_motion(out, tf.inverse(), 832, 480)
    for name in ("body_px", "hands_px", "face_px", "head_center_px", "head_radius_px", "person_box"):
        np.testing.assert_allclose(getattr(back, name), getattr(m, name), atol=2e-3, equal_nan=True)


def test_transformed_keypoint_sits_on_the_resized_video_pixel(synth_dir):
    """A GT joint marked on the landscape source frame lands on the transformed joint."""
    m = synth_motion(synth_dir, "pub04_turn_landscape", frames=[10])
    for mode in ASPECT_MODES:
        for j in (0, 15, 27):  # nose, left wrist, left ankle
            x, y = m.body_px[0, j, :2]
            frame = _blob(832, 480, x, y, sigma=3.0).astype(np.float32)[None, ..., None]
            out = resize_frames(frame, 512, 512, mode)[0, ..., 0]
            moved = transform_motion(m, 512, 512, mode).body_px[0, j, :2]
            if not (0 <= moved[0] <= 511 and 0 <= moved[1] <= 511):
                continue  # cut off by the crop
            np.testing.assert_allclose(_centroid(out.astype(np.float64)), moved, atol=0.08)


def test_bad_input_names_the_input():
    with pytest.raises(DreamActorError, match="aspect"):
        fit_transform(10, 10, 20, 20, "fill")
    with pytest.raises(DreamActorError, match="target size"):
        fit_transform(10, 10, 0, 20, "crop")
    with pytest.raises(DreamActorError, match="frames"):
        resize_frames(np.zeros((0, 4, 4, 3), np.uint8), 8, 8)
