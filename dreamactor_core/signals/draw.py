"""Drawing primitives shared by the guidance renderers (OpenCV, sub-pixel exact).

Points are float pixel coordinates with the centre of the top-left pixel at
(0, 0) (OpenCV's convention too). OpenCV draws at integer coordinates, so we
hand it fixed-point values with ``SHIFT`` fractional bits: a joint at x = 10.4
is drawn at 10.4, not snapped to 10. Missing points (NaN) and absurdly far
points are refused here once, so no renderer ever draws a joint at (0, 0).
"""
from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np

SHIFT = 4
_ONE = 1 << SHIFT
# Points further than this outside the frame are treated as missing: they cannot
# touch the picture and would overflow OpenCV's fixed-point coordinates.
_FAR = 1.0e5


def usable(*points: np.ndarray) -> bool:
    """True when every point has finite x, y within a sane range."""
    for p in points:
        x, y = float(p[0]), float(p[1])
        # math.isfinite on Python floats: this runs for every bone of every frame.
        if not (math.isfinite(x) and math.isfinite(y)) or abs(x) > _FAR or abs(y) > _FAR:
            return False
    return True


def fixed(p: np.ndarray) -> tuple[int, int]:
    """A float point as OpenCV fixed-point ints (use with ``shift=SHIFT``)."""
    return int(round(float(p[0]) * _ONE)), int(round(float(p[1]) * _ONE))


def as_color(color) -> tuple[int, int, int]:
    # Unrolled (no generator): this runs for every line of every frame.
    r, g, b = float(color[0]), float(color[1]), float(color[2])
    return (min(max(int(round(r)), 0), 255), min(max(int(round(g)), 0), 255),
            min(max(int(round(b)), 0), 255))


def line(canvas: np.ndarray, p0, p1, color, width: float) -> None:
    """An anti-aliased line of ``width`` pixels with round caps from ``p0`` to ``p1``."""
    if usable(p0, p1):
        line_checked(canvas, p0, p1, color, width)


def line_checked(canvas: np.ndarray, p0, p1, color, width: float) -> None:
    """:func:`line` for points the caller has already checked with :func:`usable`."""
    line_fixed(canvas, fixed(p0), fixed(p1), color, width)


def line_fixed(canvas: np.ndarray, f0: tuple[int, int], f1: tuple[int, int], color, width: float) -> None:
    """:func:`line` between points already in fixed point (:func:`fixed`), for several strokes on one segment."""
    cv2.line(canvas, f0, f1, as_color(color), max(1, int(round(width))), cv2.LINE_AA, SHIFT)


def line_ints(canvas: np.ndarray, f0: tuple[int, int], f1: tuple[int, int], color: tuple[int, int, int],
              width: int) -> None:
    """:func:`line_fixed` with the colour and width already made ints (:func:`color_array`, :func:`width_array`)."""
    cv2.line(canvas, f0, f1, color, width, cv2.LINE_AA, SHIFT)


def fixed_array(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Many points ``[..., 2]`` at once: their fixed-point ints (as :func:`fixed`; 0 where unusable)
    and whether each is :func:`usable`."""
    p = np.asarray(points, np.float64)
    with np.errstate(invalid="ignore"):
        ok = (np.abs(p) <= _FAR).all(axis=-1)  # False for NaN and infinities too
    return np.where(ok[..., None], np.rint(np.where(ok[..., None], p, 0.0) * _ONE), 0).astype(np.int64), ok


def color_array(colors: np.ndarray) -> np.ndarray:
    """Float colours ``[..., 3]`` as ints, rounded and clipped as :func:`as_color` does."""
    return np.clip(np.rint(colors), 0, 255).astype(np.int64)


def width_array(widths: np.ndarray) -> np.ndarray:
    """Float line widths as the ints :func:`line_fixed` draws (at least 1)."""
    return np.maximum(np.rint(widths), 1).astype(np.int64)


def dot(canvas: np.ndarray, p, radius: float, color) -> None:
    """A filled anti-aliased disc of ``radius`` pixels centred on ``p``."""
    if not usable(p):
        return
    r = int(round(max(float(radius), 0.5) * _ONE))
    cv2.circle(canvas, fixed(p), r, as_color(color), -1, cv2.LINE_AA, SHIFT)


_UNIT = np.stack([np.cos(np.linspace(0, 2 * np.pi, 36, endpoint=False)),
                  np.sin(np.linspace(0, 2 * np.pi, 36, endpoint=False))], 1)


def ellipse_limb(canvas: np.ndarray, p0, p1, half_width: float, color) -> None:
    """A filled ellipse spanning ``p0``-``p1`` with minor half-axis ``half_width``.

    The OpenPose look: each limb is an elongated ellipse, not a line.
    """
    if not usable(p0, p1):
        return
    a = np.asarray(p0[:2], np.float64)
    b = np.asarray(p1[:2], np.float64)
    d = b - a
    length = float(np.hypot(*d))
    u = d / length if length > 1e-6 else np.array([1.0, 0.0])
    v = np.array([-u[1], u[0]])
    pts = (a + b) / 2 + np.outer(_UNIT[:, 0] * length / 2, u) + np.outer(_UNIT[:, 1] * half_width, v)
    cv2.fillConvexPoly(canvas, np.round(pts * _ONE).astype(np.int32), as_color(color), cv2.LINE_8, SHIFT)


def frame_batch(t: int, height: int, width: int) -> np.ndarray:
    """Uninitialised uint8 frames ``[t, height, width, 3]``; the painter blanks each with :func:`blank`.

    ``np.zeros`` hands back lazily zeroed 4 KB pages, and the first stroke on each page is a
    page fault (~1 ms of kernel time per 512x512 frame). ``np.empty`` of this size is backed
    by huge pages, and blanking a frame just before painting it keeps it in cache.
    """
    return np.empty((t, height, width, 3), np.uint8)


def blank(canvas: np.ndarray) -> np.ndarray:
    """Paint ``canvas`` black in place and return it."""
    canvas.fill(0)
    return canvas


def rainbow(n: int) -> np.ndarray:
    """``n`` fully saturated RGB colours evenly spaced in hue, ``[n, 3]`` in 0..255."""
    return np.array([colorsys.hsv_to_rgb(i / n, 1.0, 1.0) for i in range(n)]) * 255.0


def check_canvas_size(width, height) -> tuple[int, int]:
    """Validate a render size, raising :class:`DreamActorError` naming width/height."""
    from ..utils import DreamActorError

    try:
        w, h = int(width), int(height)
    except (TypeError, ValueError):
        raise DreamActorError(f"width/height: must be integers, got {width!r} x {height!r}") from None
    if w < 8 or h < 8 or w > 16384 or h > 16384:
        raise DreamActorError(f"width/height: must be between 8 and 16384 pixels, got {w} x {h}")
    return w, h
