import colorsys

import numpy as np
import pytest

from dreamactor_core.signals.framing import ASPECT_MODES, transform_motion
from dreamactor_core.signals.head_sphere import (
    NOSE, NOSE_PITCH, SCLERA, draw_head_sphere, head_direction, paste_patch, rotation_from_angles, sphere_patches,
)
from dreamactor_core.signals.motion import Motion
from dreamactor_core.signals.render_dreamactor import BONES, HAND_COLORS, render_guidance
from dreamactor_core.signals.render_openpose import (
    BODY_COLORS, HAND_JOINT_COLOR, MP33_FOR_OPENPOSE, default_stick,
)
from dreamactor_core.utils import Cancelled, DreamActorError

from synth_motion import synth_motion


def _hue(rgb) -> float:
    r, g, b = (float(c) / 255 for c in rgb)
    return colorsys.rgb_to_hsv(r, g, b)[0] * 360


def _hue_gap(a, b) -> float:
    d = abs(_hue(a) - _hue(b)) % 360
    return min(d, 360 - d)


def _bone_color(a, b):
    return next(c for i, j, c, _ in BONES if (i, j) == (a, b))


def _at(img, p):
    return img[int(round(p[1])), int(round(p[0]))]


# --- DreamActor style -------------------------------------------------------

def test_left_and_right_limbs_get_their_own_colours(synth_dir):
    m = synth_motion(synth_dir, "pub02_arm_wave", frames=[20])
    img = render_guidance(m, 512, 512)[0]
    p = m.body_px[0, :, :2]
    for left, right in (((11, 13), (12, 14)), ((13, 15), (14, 16)), ((23, 25), (24, 26)), ((25, 27), (26, 28))):
        got_l = _at(img, (p[left[0]] + p[left[1]]) / 2)
        got_r = _at(img, (p[right[0]] + p[right[1]]) / 2)
        assert got_l.max() > 60 and got_r.max() > 60, "limb not drawn where the joints are"
        assert _hue_gap(got_l, _bone_color(*left)) < 12
        assert _hue_gap(got_r, _bone_color(*right)) < 12
        assert _hue_gap(got_l, got_r) > 60  # left and right are told apart


def _crossing_motion(left_z: float, right_z: float) -> Motion:
    """Left forearm horizontal, right forearm vertical, crossing at (100, 100)."""
    m = Motion.empty(1, fps=25, width=200, height=200)
    m.body_px[0, 13] = [60, 100, 0]
    m.body_px[0, 15] = [140, 100, 0]
    m.body_px[0, 14] = [100, 60, 0]
    m.body_px[0, 16] = [100, 140, 0]
    m.body_conf[0] = 1.0
    cam = np.full((1, 33, 3), np.nan, np.float32)
    # Shoulders and hips exist only in 3D (they set the depth scale), so only the forearms are drawn.
    cam[0, [11, 12, 23, 24]] = [[0.2, -0.5, 2.0], [-0.2, -0.5, 2.0], [0.1, 0.0, 2.0], [-0.1, 0.0, 2.0]]
    cam[0, [13, 15]] = [[0.3, -0.3, left_z], [0.5, -0.3, left_z]]
    cam[0, [14, 16]] = [[-0.3, -0.3, right_z], [-0.3, -0.1, right_z]]
    m.body_cam = cam
    return m


def _without(m: Motion, joints) -> Motion:
    out = m.copy()
    out.body_px[:, joints] = np.nan
    return out


@pytest.mark.parametrize("left_z,right_z", [(1.7, 2.3), (2.3, 1.7)])
def test_nearer_limb_covers_the_farther_one(left_z, right_z):
    m = _crossing_motion(left_z, right_z)
    full = render_guidance(m, 200, 200, line_width=10)[0]
    only_left = render_guidance(_without(m, [14, 16]), 200, 200, line_width=10)[0]
    only_right = render_guidance(_without(m, [13, 15]), 200, 200, line_width=10)[0]
    near = only_left if left_z < right_z else only_right
    far = only_right if left_z < right_z else only_left
    cross = full[97:104, 97:104]
    np.testing.assert_array_equal(cross, near[97:104, 97:104])
    assert np.abs(cross.astype(int) - far[97:104, 97:104]).max() > 50
    # Depth shading: the farther forearm is darker than the nearer one away from the crossing.
    assert near[100, 75].max() > far[75, 100].max() if left_z < right_z else near[75, 100].max() > far[100, 75].max()


def test_nan_joints_are_skipped_never_drawn_at_origin(synth_dir):
    m = synth_motion(synth_dir, "pub02_arm_wave", frames=[20])
    p = m.body_px[0, :, :2].copy()
    hole = _without(m, [13])  # left elbow lost
    for style in ("dreamactor", "openpose"):
        img = render_guidance(hole, 512, 512, style=style)[0]
        assert img[:12, :12].max() == 0
        assert _at(img, (p[11] + p[13]) / 2).max() == 0  # both bones of the elbow are gone
        assert _at(img, (p[13] + p[15]) / 2).max() == 0
        assert _at(img, (p[12] + p[14]) / 2).max() > 0  # the rest stays
    empty = Motion.empty(2, fps=25, width=64, height=64)
    for style in ("dreamactor", "openpose"):
        assert render_guidance(empty, 64, 64, style=style).max() == 0


def test_interpolated_frames_draw_normally(synth_dir):
    m = synth_motion(synth_dir, "pub01_walk_in_place", frames=[3, 4])
    flagged = m.copy()
    flagged.interpolated[:] = 1.0
    for style in ("dreamactor", "openpose"):
        np.testing.assert_array_equal(render_guidance(m, 256, 256, style=style),
                                      render_guidance(flagged, 256, 256, style=style))


# --- head sphere -------------------------------------------------------------

def test_head_sphere_is_centred_with_the_given_radius():
    canvas = np.zeros((200, 240, 3), np.uint8)
    cx, cy, r = 120.3, 90.6, 37.0
    draw_head_sphere(canvas, (cx, cy), r, rotation_from_angles(25, -10, 5))
    mask = canvas.max(-1) > 0
    yy, xx = np.nonzero(mask)
    assert abs(xx.mean() - cx) < 0.3 and abs(yy.mean() - cy) < 0.3
    assert mask.sum() == pytest.approx(np.pi * r * r, rel=0.04)
    dist = np.hypot(xx - cx, yy - cy)
    assert dist.max() <= r + 1.0
    ang = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    ring = np.stack([cx + (r - 1.5) * np.cos(ang), cy + (r - 1.5) * np.sin(ang)], 1)
    assert all(mask[int(round(y)), int(round(x))] for x, y in ring)



def test_head_spheres_coloured_in_one_batch_match_each_drawn_alone():
    # Different sizes and gazes share one grid; a plain, a big (coarse grid) and an off-canvas one go apart.
    rng = np.random.default_rng(3)
    centers = [(60.2, 50.7), (140.9, 61.3), (100.0, 150.5), (30.5, 170.2), (120.4, 120.8), (-90.0, 40.0)]
    radii = [12.3, 37.9, 24.6, 30.1, 95.0, 20.0]
    rots = [rotation_from_angles(*rng.uniform(-170, 170, 3)) for _ in centers]
    rots[3] = np.full((3, 3), np.nan)
    gazes = [tuple(rng.uniform(-40, 40, 2)) for _ in centers]
    background = rng.integers(0, 256, (200, 220, 3), dtype=np.uint8)
    patches = sphere_patches(background.shape, centers, radii, rots, gazes)
    assert patches[-1] is None
    for c, r, rot, g, patch in zip(centers, radii, rots, gazes, patches):
        alone = draw_head_sphere(background.copy(), c, r, rot, g)
        np.testing.assert_array_equal(paste_patch(background.copy(), patch), alone)

def _marker_centroid(img, color):
    close = np.abs(img.astype(float) / np.maximum(img.max(-1, keepdims=True), 1) * 255 - color).max(-1) < 40
    close &= img.max(-1) > 40
    yy, xx = np.nonzero(close)
    return np.array([xx.mean(), yy.mean()]), len(xx)


@pytest.mark.parametrize("yaw", [-60.0, -30.0, 30.0, 60.0])
def test_head_sphere_markings_follow_yaw(yaw):
    c, r = np.array([100.0, 100.0]), 60.0
    img = draw_head_sphere(np.zeros((200, 200, 3), np.uint8), c, r, rotation_from_angles(yaw, 0, 0))
    mirror = draw_head_sphere(np.zeros((200, 200, 3), np.uint8), c, r, rotation_from_angles(-yaw, 0, 0))
    # Nose marker lands where the head's nose direction projects.
    nose_cam = rotation_from_angles(yaw, 0, 0) @ head_direction(0.0, NOSE_PITCH)
    got, n = _marker_centroid(img, NOSE)
    assert n > 20
    np.testing.assert_allclose(got, c + r * nose_cam[:2], atol=1.5)
    # Yaw > 0 turns the face to the subject's left, i.e. toward image right for a facing subject.
    eyes, _ = _marker_centroid(img, SCLERA)
    assert np.sign(eyes[0] - c[0]) == np.sign(yaw)
    # Turning left shows more of the right (cool, low-red) side; the mirror turn shows the left.
    red = img[..., 0][img.max(-1) > 0].mean()
    red_mirror = mirror[..., 0][mirror.max(-1) > 0].mean()
    assert (red < red_mirror) == (yaw > 0)


def test_head_sphere_matches_synth_head_turn(synth_dir):
    m = synth_motion(synth_dir, "pub05_head_turn_nod")
    for i in (int(np.argmax(m.head_angles[:, 0])), int(np.argmin(m.head_angles[:, 0])),
              int(np.argmax(m.head_angles[:, 1]))):
        img = render_guidance(m.slice(i, i + 1), 512, 512)[0]
        head = draw_head_sphere(np.zeros_like(img), m.head_center_px[i], m.head_radius_px[i], m.head_rotation[i])
        nose_cam = m.head_rotation[i] @ head_direction(0.0, NOSE_PITCH)
        got, n = _marker_centroid(head, NOSE)
        want = m.head_center_px[i] + m.head_radius_px[i] * nose_cam[:2]
        np.testing.assert_allclose(got, want, atol=1.5)
        # In the full render the sphere sits on the head: its centre pixel is the sphere's.
        np.testing.assert_array_equal(_at(img, m.head_center_px[i]), _at(head, m.head_center_px[i]))


def test_gaze_moves_the_pupils():
    rot = rotation_from_angles(0, 0, 0)
    c = (100.0, 100.0)
    base = draw_head_sphere(np.zeros((200, 200, 3), np.uint8), c, 70, rot, gaze=(0, 0))
    right = draw_head_sphere(np.zeros((200, 200, 3), np.uint8), c, 70, rot, gaze=(25, 0))
    up = draw_head_sphere(np.zeros((200, 200, 3), np.uint8), c, 70, rot, gaze=(0, 20))
    dark = lambda img: np.argwhere((img.max(-1) < 15) & (img.max(-1) > 0))[:, ::-1].mean(0)  # noqa: E731
    assert dark(right)[0] > dark(base)[0] + 2  # eyes look to the subject's left = image right
    assert dark(up)[1] < dark(base)[1] - 2


# --- OpenPose style and aspect ---------------------------------------------

@pytest.mark.parametrize("mode", ASPECT_MODES)
def test_openpose_joints_sit_on_the_framed_pixels(synth_dir, mode):
    m = synth_motion(synth_dir, "pub01_walk_in_place", frames=[10])
    img = render_guidance(m, 640, 360, style="openpose", aspect=mode)[0]
    framed = transform_motion(m, 640, 360, mode)
    pts = framed.body_px[0, np.maximum(MP33_FOR_OPENPOSE, 0), :2].astype(float)
    pts[1] = framed.body_px[0, [11, 12], :2].mean(0)
    reach = 2 * default_stick(640, 360) + 2
    checked = 0
    for j, p in enumerate(pts):
        inside = 0 <= round(p[0]) < 640 and 0 <= round(p[1]) < 360
        others = np.delete(pts, j, 0)
        if not inside or np.hypot(*(others - p).T).min() < reach:
            continue
        np.testing.assert_array_equal(_at(img, p), BODY_COLORS[j].astype(np.uint8), err_msg=f"joint {j}")
        checked += 1
    assert checked >= (6 if mode == "crop" else 10)


def _hands_motion() -> Motion:
    """Two open hands fanning upward, the left (subject's) one on the image right."""
    m = Motion.empty(1, fps=25, width=300, height=300)
    ang = np.radians(np.linspace(-60, 60, 5))
    for side, wx in ((0, 200.0), (1, 100.0)):
        wrist = np.array([wx, 150.0])
        pts = [wrist]
        for a in ang:  # five fingers fanning upward, 4 joints each
            pts += [wrist + k * 12 * np.array([np.sin(a), -np.cos(a)]) for k in range(1, 5)]
        m.hands_px[0, side, :, :2] = np.array(pts)
        m.hands_px[0, side, :, 2] = 0
    m.hands_conf[0] = 1.0
    return m



def test_openpose_limb_ellipses_span_their_ends_and_skip_missing_ones():
    from dreamactor_core.signals.draw import SHIFT, ellipse_polys
    p0 = np.array([[10.0, 20.0], [50.0, 50.0], [np.nan, 5.0], [7.0, 7.0]])
    p1 = np.array([[30.0, 20.0], [50.0, 80.0], [9.0, 9.0], [7.0, 7.0]])
    polys, ok = ellipse_polys(p0, p1, 2.0)
    assert ok.tolist() == [True, True, False, True]
    pts = polys / (1 << SHIFT)
    # along x: 10..30 long, 18..22 across; along y: 50..80 long, 48..52 across; a zero-length limb is a dot
    np.testing.assert_allclose([pts[0, :, 0].min(), pts[0, :, 0].max(), pts[0, :, 1].min(), pts[0, :, 1].max()],
                               [10, 30, 18, 22], atol=0.07)
    np.testing.assert_allclose([pts[1, :, 1].min(), pts[1, :, 1].max(), pts[1, :, 0].min(), pts[1, :, 0].max()],
                               [50, 80, 48, 52], atol=0.07)
    np.testing.assert_allclose([pts[3, :, 0].min(), pts[3, :, 0].max()], [7, 7], atol=0.07)

def test_dreamactor_draws_hands_by_side():
    m = _hands_motion()
    img = render_guidance(m, 300, 300, line_width=8)[0]
    got = [_at(img, (m.hands_px[0, side, 9, :2] + m.hands_px[0, side, 10, :2]) / 2) for side in (0, 1)]
    for side in (0, 1):
        assert got[side].max() > 100 and _hue_gap(got[side], HAND_COLORS[side]) < 12
    assert _hue_gap(got[0], got[1]) > 60


def test_openpose_draws_hands():
    m = _hands_motion()
    img = render_guidance(m, 300, 300, style="openpose")[0]
    for side in (0, 1):
        tips = m.hands_px[0, side, [4, 8, 12, 16, 20], :2]
        for tip in tips:
            np.testing.assert_array_equal(_at(img, tip), HAND_JOINT_COLOR)
        mid = (m.hands_px[0, side, 9, :2] + m.hands_px[0, side, 10, :2]) / 2
        assert _at(img, mid).max() > 100  # a bone between joints
    # A hand the tracker is unsure about is not drawn.
    m.hands_conf[0, 1] = 0.1
    img = render_guidance(m, 300, 300, style="openpose")[0]
    assert img[:, :150].max() == 0 and img[:, 150:].max() > 0


def test_render_any_size_lines_up_with_framing(synth_dir):
    m = synth_motion(synth_dir, "pub04_turn_landscape", frames=[50])
    for mode in ASPECT_MODES:
        img = render_guidance(m, 384, 640, aspect=mode)[0]
        framed = transform_motion(m, 384, 640, mode)
        np.testing.assert_array_equal(img, render_guidance(framed, 384, 640)[0])
        head = draw_head_sphere(np.zeros_like(img), framed.head_center_px[0], framed.head_radius_px[0],
                                framed.head_rotation[0])
        if 0 <= framed.head_center_px[0, 0] < 384:
            np.testing.assert_array_equal(_at(img, framed.head_center_px[0]), _at(head, framed.head_center_px[0]))


def test_progress_cancel_and_bad_input(synth_dir):
    m = synth_motion(synth_dir, "pub03_squat", frames=[0, 1, 2])
    calls = []
    out = render_guidance(m, 128, 128, progress=lambda d, t: calls.append((d, t)))
    assert out.shape == (3, 128, 128, 3) and out.dtype == np.uint8
    assert calls == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(Cancelled):
        render_guidance(m, 128, 128, style="openpose", cancel=lambda: True)
    with pytest.raises(DreamActorError, match="style"):
        render_guidance(m, 128, 128, style="smpl")
    with pytest.raises(DreamActorError, match="width"):
        render_guidance(m, 0, 128)
    with pytest.raises(DreamActorError, match="aspect"):
        render_guidance(m, 128, 128, aspect="zoom")
