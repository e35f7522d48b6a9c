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

import math
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..utils import CancelFn, DreamActorError, ProgressFn, check_cancel, report
from . import draw
from .framing import transform_motion
from .head_sphere import draw_head_sphere, rotation_from_angles
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
RENDER_THREADS = 2


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


def _tube(canvas, p0, p1, color, width, shade) -> None:
    """A bone: a shaded thick line with a lighter core so it reads as a cylinder.

    Callers have checked the points (:func:`draw.usable`); colours are plain floats
    (a numpy array per bone cost more than the drawing)."""
    c = [float(v) * shade for v in color]
    f0, f1 = draw.fixed(p0), draw.fixed(p1)
    draw.line_fixed(canvas, f0, f1, c, width)
    if width >= 4:
        draw.line_fixed(canvas, f0, f1, [0.55 * v + 0.45 * 255.0 for v in c], max(1.0, 0.3 * width))


def _shade(rel: float) -> tuple[float, float]:
    """Brightness and width factors for a relative depth (negative = nearer than the body)."""
    rel = float(rel)
    if not math.isfinite(rel):
        rel = 0.0
    return min(max(0.85 - 0.5 * rel, 0.5), 1.0), min(max(1.0 - 0.25 * rel, 0.75), 1.25)


def _mean_depth(values) -> float:
    """Mean of the finite values (0 when none), summed in order as numpy does for a few values."""
    finite = [float(v) for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else 0.0


def _frame_items(m: Motion, i: int, pts: np.ndarray, depth: np.ndarray, conf_ok: np.ndarray,
                 base: float, conf_threshold: float) -> list:
    """Everything to draw in frame ``i`` as (depth, draw function) pairs."""
    items = []
    # Plain lists: indexing them is several times cheaper than numpy scalars, and this
    # per-bone bookkeeping held the GIL for about half of a frame's render time.
    p, d, ok = pts[i].tolist(), depth[i].tolist(), conf_ok[i].tolist()

    def bone(a, b, color, factor, rel=None):
        if not (ok[a] and ok[b] and draw.usable(p[a], p[b])):
            return
        z = _mean_depth([d[a], d[b]]) if rel is None else rel
        s, wf = _shade(z)
        items.append((z, lambda c: _tube(c, p[a], p[b], color, base * factor * wf, s)))

    for a, b, color, factor in BONES:
        bone(a, b, color, factor)
    hands_xy = m.hands_px[i, :, :, :2].astype(np.float64)
    hands_seen = np.isfinite(hands_xy).all(axis=2).sum(axis=1).tolist()
    hands, hands_conf = hands_xy.tolist(), m.hands_conf[i].tolist()
    for side, (wrist, tips) in enumerate(COARSE_HAND):
        hconf = hands_conf[side]
        hand = hands[side]
        # Hands sit at their wrist's depth, just in front of the forearm they hang from.
        z = (d[wrist] if math.isfinite(d[wrist]) else 0.0) - 1e-3
        s, wf = _shade(z)
        width = base * HAND_WIDTH * wf
        color = HAND_COLORS[side]
        if hands_seen[side] >= 2 and not (math.isfinite(hconf) and hconf < conf_threshold):
            for a, b in HAND_BONES:
                if draw.usable(hand[a], hand[b]):
                    items.append((z, lambda c, p0=hand[a], p1=hand[b], w=width, col=color, s=s:
                                  _tube(c, p0, p1, col, w, s)))
        else:
            for tip in tips:
                bone(wrist, tip, color, HAND_WIDTH, rel=z)
    center, radius = m.head_center_px[i], float(m.head_radius_px[i])
    if draw.usable(center) and np.isfinite(radius) and radius > 0:
        face = [d[j] for j in (0, 2, 5, 7, 8) if ok[j]]
        zh = _mean_depth(face) if face else (d[NECK] if math.isfinite(d[NECK]) else 0.0)
        rot = m.head_rotation[i]
        if not np.isfinite(rot).all() and np.isfinite(m.head_angles[i]).all():
            rot = rotation_from_angles(*m.head_angles[i])
        gaze = m.gaze[i]
        items.append((zh, lambda c: draw_head_sphere(c, center, radius, rot, gaze)))
        # The neck joins the body to the sphere and always goes under it.
        if ok[NECK] and draw.usable(p[NECK]):
            s, wf = _shade(zh)
            items.append((zh + 1e-6, lambda c: _tube(c, p[NECK], center, NECK_COLOR, base * 0.8 * wf, s)))
    return items


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

    def paint_frame(i: int) -> None:
        canvas = draw.blank(out[i])
        items = _frame_items(m, i, pts, depth, conf_ok, base, conf_threshold)
        # Far to near; the sort is stable, so equal depths keep the listed order.
        for _, paint in sorted(items, key=lambda it: -it[0]):
            paint(canvas)

    # Frames are independent and OpenCV releases the GIL while it draws: two threads
    # keep both cores busy. Progress is reported in frame order.
    with ThreadPoolExecutor(max_workers=RENDER_THREADS) as pool:
        pending: deque = deque()
        done = 0
        for i in range(t):
            check_cancel(cancel)
            pending.append(pool.submit(paint_frame, i))
            while pending and (len(pending) > 2 * RENDER_THREADS or i == t - 1):
                pending.popleft().result()
                done += 1
                report(progress, done, t)
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
    and ``cancel()`` checked before each.
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
