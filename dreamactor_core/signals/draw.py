"""Drawing primitives shared by the guidance renderers (OpenCV, sub-pixel exact).

Points are float pixel coordinates with the centre of the top-left pixel at
(0, 0) (OpenCV's convention too). OpenCV draws at integer coordinates, so we
hand it fixed-point values with ``SHIFT`` fractional bits: a joint at x = 10.4
is drawn at 10.4, not snapped to 10. Missing points (NaN) and absurdly far
points are refused here once, so no renderer ever draws a joint at (0, 0).
"""
from __future__ import annotations

import colorsys
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

SHIFT = 4
_ONE = 1 << SHIFT
# Points further than this outside the frame are treated as missing: they cannot
# touch the picture and would overflow OpenCV's fixed-point coordinates.
_FAR = 1.0e5


def as_color(color) -> tuple[int, int, int]:
    """A float RGB colour as the int triple OpenCV draws (rounded, clipped to 0..255)."""
    r, g, b = float(color[0]), float(color[1]), float(color[2])
    return (min(max(int(round(r)), 0), 255), min(max(int(round(g)), 0), 255),
            min(max(int(round(b)), 0), 255))


def line_ints(canvas: np.ndarray, f0: tuple[int, int], f1: tuple[int, int], color: tuple[int, int, int],
              width: int) -> None:
    """An anti-aliased line of ``width`` pixels with round caps between fixed-point points (:func:`fixed_array`),
    the colour and width already made ints (:func:`color_array`, :func:`width_array`)."""
    cv2.line(canvas, f0, f1, color, width, cv2.LINE_AA, SHIFT)


def fixed_array(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Many points ``[..., 2]`` at once: their fixed-point ints (``SHIFT`` fractional bits, rounded half
    to even; 0 where unusable) and whether each is usable (finite and within ``_FAR`` of the frame)."""
    p = np.asarray(points, np.float64)
    with np.errstate(invalid="ignore"):
        ok = (np.abs(p) <= _FAR).all(axis=-1)  # False for NaN and infinities too
    return np.where(ok[..., None], np.rint(np.where(ok[..., None], p, 0.0) * _ONE), 0).astype(np.int64), ok


def color_array(colors: np.ndarray) -> np.ndarray:
    """Float colours ``[..., 3]`` as ints, rounded and clipped as :func:`as_color` does."""
    return np.clip(np.rint(colors), 0, 255).astype(np.int64)


def width_array(widths: np.ndarray) -> np.ndarray:
    """Float line widths as the ints :func:`line_ints` draws (at least 1)."""
    return np.maximum(np.rint(widths), 1).astype(np.int64)


_UNIT = np.stack([np.cos(np.linspace(0, 2 * np.pi, 36, endpoint=False)),
                  np.sin(np.linspace(0, 2 * np.pi, 36, endpoint=False))], 1)


def dot_radius(radius: float) -> int:
    """A filled dot's radius in pixels (at least 0.5) as the fixed-point int OpenCV draws."""
    return int(round(max(float(radius), 0.5) * _ONE))


def ellipse_polys(p0: np.ndarray, p1: np.ndarray, half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Filled-ellipse polygons spanning ``p0``-``p1`` with minor half-axis ``half_width`` (the OpenPose
    look: each limb an elongated ellipse, not a line), for many limbs ``[..., 2]`` at once: int32
    ``[..., 36, 2]`` in fixed point, and whether both ends are usable (as :func:`fixed_array`)."""
    a, b = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    ok = fixed_array(a)[1] & fixed_array(b)[1]
    a, b = np.where(ok[..., None], a, 0.0), np.where(ok[..., None], b, 0.0)
    d = b - a
    length = np.hypot(d[..., 0], d[..., 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.where((length > 1e-6)[..., None], d / length[..., None], np.array([1.0, 0.0]))
    v = np.stack([-u[..., 1], u[..., 0]], -1)
    pts = ((a + b) / 2)[..., None, :] + (_UNIT[:, 0] * length[..., None] / 2)[..., None] * u[..., None, :] \
        + (_UNIT[:, 1] * half_width)[:, None] * v[..., None, :]
    return np.round(pts * _ONE).astype(np.int32), ok


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


PAINT_THREADS = 2


def paint_batches(t: int, paint, batch: int, progress=None, cancel=None) -> None:
    """Run ``paint(lo, hi)`` over frames ``0..t`` in batches of ``batch`` on PAINT_THREADS threads.

    Frames are independent and OpenCV (and numpy on big arrays) releases the GIL while it
    works: two threads keep both cores busy. ``progress(done, t)`` is reported in frame
    order; ``cancel()`` is checked before each batch.
    """
    from ..utils import check_cancel, report

    with ThreadPoolExecutor(max_workers=PAINT_THREADS) as pool:
        pending: deque = deque()
        done = 0
        for lo in range(0, t, batch):
            check_cancel(cancel)
            hi = min(lo + batch, t)
            pending.append((hi, pool.submit(paint, lo, hi)))
            while pending and (len(pending) > 2 * PAINT_THREADS or hi == t):
                end, job = pending.popleft()
                job.result()
                while done < end:
                    done += 1
                    report(progress, done, t)
