"""DreamActor-M1 style guidance: a depth-aware 3D skeleton plus the 3D head sphere.

Each bone is a tube (a thick line with a lighter core) coloured by body part
and side: the subject's left in warm colours, the right in cool ones. Bones
are drawn from far to near, so a nearer limb covers a farther one where they
cross, and farther bones are darker and slightly thinner. The head sphere
(:mod:`.head_sphere`) takes part in the same depth order.

Depth comes from ``body_cam`` z when present (metres, e.g. after retargeting),
else ``body_world`` z, else the relative z column of ``body_px``; it is made
relative to the frame's body and divided by the clip's torso length in the
same units, so the shading does not depend on which source was used.
"""
from __future__ import annotations

import numpy as np

from ..utils import CancelFn, DreamActorError, ProgressFn
from . import draw
from .framing import transform_motion
from .head_sphere import paste_patch, rotation_from_angles, sphere_patches
from .motion import Motion
from .render_openpose import HAND_BONES, render_openpose

STYLES = ("dreamactor", "openpose")

# Virtual joints appended after MediaPipe's 33: shoulder centre, hip centre.
NECK, PELVIS = 33, 34

# (first joint, second joint, RGB colour, width factor). Left = subject's left = warm hues.
BONES = (
    (PELVIS, NECK, (235, 235, 235), 0.9),      # spine
    (NECK, 11, (255, 90, 90), 0.8),            # left clavicle
    (NECK, 12, (90, 110, 255), 0.8),           # right clavicle
    (PELVIS, 23, (255, 0, 140), 0.8),          # left pelvis
    (PELVIS, 24, (0, 170, 90), 0.8),           # right pelvis
    (11, 13, (255, 60, 0), 1.0),               # left upper arm
    (13, 15, (255, 160, 0), 1.0),              # left forearm
    (12, 14, (0, 90, 255), 1.0),               # right upper arm
    (14, 16, (0, 200, 255), 1.0),              # right forearm
    (23, 25, (230, 0, 230), 1.1),              # left thigh
    (25, 27, (255, 100, 255), 1.0),            # left shin
    (24, 26, (0, 200, 0), 1.1),                # right thigh
    (26, 28, (130, 255, 60), 1.0),             # right shin
    (27, 29, (255, 190, 225), 0.6),            # left heel
    (29, 31, (255, 190, 225), 0.6),            # left sole
    (27, 31, (255, 190, 225), 0.6),            # left instep
    (28, 30, (200, 255, 160), 0.6),            # right heel
    (30, 32, (200, 255, 160), 0.6),            # right sole
    (28, 32, (200, 255, 160), 0.6),            # right instep
)
HAND_COLORS = ((255, 230, 0), (0, 255, 170))   # left, right
# Coarse hand from the body landmarks when no 21-point hand is known: wrist to pinky, index, thumb.
COARSE_HAND = ((15, (17, 19, 21)), (16, (18, 20, 22)))
NECK_COLOR = (190, 190, 190)
HAND_WIDTH = 0.45
RENDER_BATCH = 8  # frames a render thread paints per task (their head spheres are coloured together)


def _depth_source(motion: Motion) -> np.ndarray:
    """Per-joint depth ``[T, 35]`` relative to each frame's body, in torso lengths (NaN: unknown).

    Each frame takes the best source that has depth for it: ``body_cam``, then
    ``body_world``, then the z column of ``body_px``.
    """
    t = motion.num_frames
    sources = [motion.body_cam, motion.body_world, motion.body_px]
    depth = np.full((t, 35), np.nan)
    for src in sources:
        if src is None:
            continue
        if np.isfinite(depth).any(axis=1).all():
            break  # every frame has its depth: the worse sources would fill nothing
        pts = _with_virtual(src.astype(np.float64))
        torso = np.linalg.norm(pts[:, NECK] - pts[:, PELVIS], axis=-1)
        shoulders = np.linalg.norm(pts[:, 11] - pts[:, 12], axis=-1)
        scale = _nanmedian(torso)
        if not np.isfinite(scale) or scale <= 0:
            scale = 1.4 * _nanmedian(shoulders)
        if not np.isfinite(scale) or scale <= 0:
            continue
        z = pts[..., 2]
        centre = _nanmedian(z, axis=1)
        rel = (z - centre[:, None]) / scale
        # Fill only frames the better sources left empty.
        todo = ~np.isfinite(depth).any(axis=1) & np.isfinite(rel).any(axis=1)
        depth[todo] = rel[todo]
    return depth


def _nanmedian(a: np.ndarray, axis=None):
    """``np.nanmedian`` without the all-NaN warning (returns NaN there)."""
    a = np.asarray(a, np.float64)
    if axis is None:
        f = a[np.isfinite(a)]
        return float(np.median(f)) if f.size else float("nan")
    out = np.full(a.shape[0], np.nan)
    ok = np.isfinite(a).any(axis=axis)
    if ok.any():
        out[ok] = np.nanmedian(a[ok], axis=axis)
    return out


def _with_virtual(pts: np.ndarray) -> np.ndarray:
    """Append the shoulder centre and hip centre (NaN unless both sides are known)."""
    neck = (pts[:, 11] + pts[:, 12]) / 2
    pelvis = (pts[:, 23] + pts[:, 24]) / 2
    return np.concatenate([pts, neck[:, None], pelvis[:, None]], axis=1)


def default_line_width(motion: Motion, width: int, height: int) -> float:
    """Bone thickness: a fifth of the head radius (the person's scale), within sane limits."""
    r = _nanmedian(motion.head_radius_px)
    short = min(width, height)
    if not np.isfinite(r) or r <= 0:
        return max(2.0, short / 100)
    return float(np.clip(0.2 * r, 2.0, max(2.0, short / 25)))


def _shade(rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brightness and width factors for relative depths (negative = nearer than the body)."""
    return (np.minimum(np.maximum(0.85 - 0.5 * rel, 0.5), 1.0),
            np.minimum(np.maximum(1.0 - 0.25 * rel, 0.75), 1.25))


def _mean_depth(values: list[np.ndarray], present: list[np.ndarray]) -> np.ndarray:
    """Per frame, the mean of the finite ``values`` where ``present`` (0 where none), added in list order."""
    total = np.zeros_like(values[0])
    count = np.zeros_like(values[0])
    for v, keep in zip(values, present):
        use = keep & np.isfinite(v)
        total = total + np.where(use, v, 0.0)
        count = count + use
    return np.where(count > 0, total / np.maximum(count, 1.0), 0.0)


class _Segments:
    """Every bone of every frame as arrays ``[T, K]``: whether drawn, depth, fixed-point ends, colours, widths.

    Columns, in the order items are drawn at equal depth: the body's bones, then per hand (left,
    right) its 20 bones and its 3 coarse bones from the body (a frame has one or the other), then
    the neck to the head sphere. A frame's Python work is then the depth sort and the OpenCV calls:
    computing each bone's colours and points in Python held the GIL for most of the render.
    """

    def __init__(self, m: Motion, pts: np.ndarray, depth: np.ndarray, conf_ok: np.ndarray, base: float,
                 conf_threshold: float):
        t = m.num_frames
        fx, use = draw.fixed_array(pts)
        ends0, ends1, shown, rel, colour, factor = [], [], [], [], [], []

        def add(f0, f1, keep, z, rgb, width_factor):
            ends0.append(f0)
            ends1.append(f1)
            shown.append(keep)
            rel.append(z)
            colour.append(np.broadcast_to(np.asarray(rgb, np.float64), (t, 3)))
            factor.append(np.full(t, float(width_factor)))

        def body_bone(a, b, rgb, width_factor, z=None):
            keep = conf_ok[:, a] & conf_ok[:, b] & use[:, a] & use[:, b]
            if z is None:
                z = _mean_depth([depth[:, a], depth[:, b]], [keep, keep])
            add(fx[:, a], fx[:, b], keep, z, rgb, width_factor)

        for a, b, rgb, width_factor in BONES:
            body_bone(a, b, rgb, width_factor)
        hands_xy = m.hands_px[..., :2].astype(np.float64)
        hfx, huse = draw.fixed_array(hands_xy)
        seen = np.isfinite(hands_xy).all(axis=3).sum(axis=2) >= 2
        hconf = m.hands_conf.astype(np.float64)
        detailed = seen & ~(np.isfinite(hconf) & (hconf < conf_threshold))
        for side, (wrist, tips) in enumerate(COARSE_HAND):
            # Hands sit at their wrist's depth, just in front of the forearm they hang from.
            z = np.where(np.isfinite(depth[:, wrist]), depth[:, wrist], 0.0) - 1e-3
            for a, b in HAND_BONES:
                add(hfx[:, side, a], hfx[:, side, b], detailed[:, side] & huse[:, side, a] & huse[:, side, b],
                    z, HAND_COLORS[side], HAND_WIDTH)
            for tip in tips:
                body_bone(wrist, tip, HAND_COLORS[side], HAND_WIDTH, z=z)
                shown[-1] = shown[-1] & ~detailed[:, side]
        # The head sphere, at the mean depth of the face points the body model is sure of.
        center = m.head_center_px.astype(np.float64)
        radius = m.head_radius_px.astype(np.float64)
        cfx, cuse = draw.fixed_array(center)
        self.sphere = cuse & np.isfinite(radius) & (radius > 0)
        face = [depth[:, j] for j in (0, 2, 5, 7, 8)]
        face_ok = [conf_ok[:, j] for j in (0, 2, 5, 7, 8)]
        neck_z = np.where(np.isfinite(depth[:, NECK]), depth[:, NECK], 0.0)
        self.sphere_z = np.where(np.any(face_ok, axis=0), _mean_depth(face, face_ok), neck_z)
        # The neck joins the body to the sphere and always goes under it.
        add(fx[:, NECK], cfx, self.sphere & conf_ok[:, NECK] & use[:, NECK], self.sphere_z + 1e-6, NECK_COLOR, 0.8)

        self.shown = np.stack(shown, 1)
        self.depth = np.stack(rel, 1)
        self.ends0, self.ends1 = np.stack(ends0, 1), np.stack(ends1, 1)
        s, wf = _shade(self.depth)
        lit = np.stack(colour, 1) * s[..., None]
        self.colour = draw.color_array(lit)
        self.core_colour = draw.color_array(0.55 * lit + 0.45 * 255.0)  # the tube's lighter core
        width = base * np.stack(factor, 1) * wf
        self.width = draw.width_array(width)
        self.core_width = np.where(width >= 4, draw.width_array(np.maximum(1.0, 0.3 * width)), 0)

    def paint(self, canvas: np.ndarray, i: int, sphere) -> None:
        """Frame ``i``'s bones, far to near; ``sphere(canvas)`` paints the head sphere in its place."""
        cols = np.flatnonzero(self.shown[i])
        z = self.depth[i, cols]
        if self.sphere[i]:
            cols = np.append(cols, -1)  # the sphere comes last at equal depth, before the neck
            z = np.append(z, self.sphere_z[i])
            if self.shown[i, -1]:
                cols[-2:], z[-2:] = cols[[-1, -2]], z[[-1, -2]]
        # Far to near; a stable sort keeps the listed order at equal depths.
        order = cols[np.argsort(-z, kind="stable")].tolist()
        p0, p1 = self.ends0[i].tolist(), self.ends1[i].tolist()
        colour, core_colour = self.colour[i].tolist(), self.core_colour[i].tolist()
        width, core_width = self.width[i].tolist(), self.core_width[i].tolist()
        for k in order:
            if k < 0:
                sphere(canvas)
                continue
            a, b = tuple(p0[k]), tuple(p1[k])
            draw.line_ints(canvas, a, b, tuple(colour[k]), width[k])
            if core_width[k]:
                draw.line_ints(canvas, a, b, tuple(core_colour[k]), core_width[k])


def render_dreamactor(motion: Motion, width: int, height: int, *, aspect: str = "letterbox",
                      line_width: float | None = None, conf_threshold: float = 0.3,
                      progress: ProgressFn = None, cancel: CancelFn = None) -> np.ndarray:
    """DreamActor-style guidance frames, uint8 ``[T, height, width, 3]`` RGB on black.

    See :func:`render_guidance` for the arguments.
    """
    width, height = draw.check_canvas_size(width, height)
    m = transform_motion(motion, width, height, aspect)
    base = default_line_width(m, width, height) if line_width is None else float(line_width)
    if not np.isfinite(base) or base <= 0:
        raise DreamActorError(f"line_width: must be a positive number of pixels, got {line_width!r}")
    pts = _with_virtual(m.body_px[..., :2].astype(np.float64))
    conf = m.body_conf.astype(np.float64)
    ok = ~(np.isfinite(conf) & (conf < conf_threshold))
    conf_ok = np.concatenate([ok, (ok[:, 11] & ok[:, 12])[:, None], (ok[:, 23] & ok[:, 24])[:, None]], 1)
    depth = _depth_source(m)
    t = m.num_frames
    out = draw.frame_batch(t, height, width)

    segments = _Segments(m, pts, depth, conf_ok, base, conf_threshold)

    def paint_frames(lo: int, hi: int) -> None:
        rots = []
        for i in range(lo, hi):
            rot = m.head_rotation[i]
            if not np.isfinite(rot).all() and np.isfinite(m.head_angles[i]).all():
                rot = rotation_from_angles(*m.head_angles[i])
            rots.append(rot)
        # The batch's head spheres are coloured together (numpy calls shared by the batch).
        spheres = sphere_patches((height, width), m.head_center_px[lo:hi], m.head_radius_px[lo:hi], rots,
                                 m.gaze[lo:hi])
        for i, patch in zip(range(lo, hi), spheres):
            segments.paint(draw.blank(out[i]), i, lambda c, p=patch: paste_patch(c, p))

    draw.paint_batches(t, paint_frames, RENDER_BATCH, progress, cancel)
    return out


def render_guidance(motion: Motion, width: int, height: int, *, style: str = "dreamactor",
                    aspect: str = "letterbox", line_width: float | None = None,
                    progress: ProgressFn = None, cancel: CancelFn = None) -> np.ndarray:
    """Render guidance frames for ``motion``: uint8 ``[T, height, width, 3]`` RGB.

    ``style``: ``"dreamactor"`` (depth-aware 3D skeleton + head sphere) or
    ``"openpose"`` (the Wan2.2-Animate pose skeleton). ``aspect``: how the
    motion's video is framed into ``width x height`` (letterbox, crop or
    stretch; the same placement as :func:`.framing.resize_frames`).
    ``line_width``: bone thickness in pixels (default scales with the person).
    Missing joints are skipped. ``progress(done, total)`` is called per frame
    and ``cancel()`` checked before each batch of frames.
    """
    if not isinstance(motion, Motion):
        raise DreamActorError(f"motion: expected a DreamActor motion, got {type(motion).__name__}")
    if motion.num_frames == 0:
        raise DreamActorError("motion: it has no frames; extract motion from a video with at least one frame")
    if style == "dreamactor":
        return render_dreamactor(motion, width, height, aspect=aspect, line_width=line_width,
                                 progress=progress, cancel=cancel)
    if style == "openpose":
        return render_openpose(motion, width, height, aspect=aspect, line_width=line_width,
                               progress=progress, cancel=cancel)
    raise DreamActorError(f"style: got {style!r}; choose one of {', '.join(STYLES)}")
