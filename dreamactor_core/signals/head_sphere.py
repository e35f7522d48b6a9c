"""The 3D head sphere of DreamActor-M1: position, size, orientation and gaze in one picture.

The sphere sits at the head's image position with the head's radius and is
painted per pixel. For each pixel inside the disc we take the surface normal
of the visible hemisphere (orthographic ray-sphere hit), rotate it into head
coordinates and colour it from there, so every marking turns with the head:

- base colour = the normal in head axes (red = subject's left, green = up,
  blue = face direction), each point of the sphere has its own colour, and the
  face hemisphere is saturated while the back of the head is grey and dark;
- a white midline (sagittal great circle) and a dark equator;
- a yellow crown cap on top, so the head reads the right way up from behind;
- two eyes (white sclera, black pupil) on the face, the pupils shifted by the
  gaze angles, and an orange nose dot below them.

Head coordinates follow ``Motion.head_rotation``: its columns are the head's
(left, down, back) axes in camera coordinates (OpenCV: x right, y down, z
forward), so ``n_head = R.T @ n_cam``.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

# Marking layout, in degrees on the sphere (yaw to the subject's left, pitch up).
EYE_YAW, EYE_PITCH = 32.0, 6.0
SCLERA_DEG, PUPIL_DEG = 16.0, 7.5
GAZE_GAIN, GAZE_MAX_DEG = 0.3, 8.5  # pupil shift per degree of gaze, and its limit (stays in the sclera)
NOSE_PITCH, NOSE_DEG = -14.0, 6.0
CROWN_DEG = 24.0

SCLERA = np.array([255.0, 255.0, 255.0])
PUPIL = np.array([10.0, 10.0, 10.0])
NOSE = np.array([255.0, 110.0, 0.0])
CROWN = np.array([255.0, 225.0, 0.0])
MIDLINE = np.array([255.0, 255.0, 255.0])
EQUATOR = np.array([35.0, 35.0, 35.0])
PLAIN = np.array([150.0, 150.0, 150.0])


def rotation_from_angles(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Head rotation (columns: left, down, back axes in camera coords) from angles in degrees.

    ``R = Ry(-yaw) @ Rx(-pitch) @ Rz(roll)`` about the camera axes, the
    convention of ``Motion.head_angles`` and of the synthetic ground truth.
    """
    y, p, r = (math.radians(float(a)) for a in (yaw, pitch, roll))
    ry = np.array([[math.cos(-y), 0, math.sin(-y)], [0, 1, 0], [-math.sin(-y), 0, math.cos(-y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(-p), -math.sin(-p)], [0, math.sin(-p), math.cos(-p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def head_direction(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Unit vector in head coordinates (left, down, back) at ``yaw`` left and ``pitch`` up of the face."""
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    return np.array([math.cos(p) * math.sin(y), -math.sin(p), -math.cos(p) * math.cos(y)])


def _marking_centres(gaze) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cap centres (head coords), cos of their radii and colours, in painting order."""
    gy, gp = (0.0 if math.isnan(v) else min(max(GAZE_GAIN * v, -GAZE_MAX_DEG), GAZE_MAX_DEG)
              for v in (float(gaze[0]), float(gaze[1])))
    centres = np.stack([_SCLERA_CENTRES[0], _SCLERA_CENTRES[1], head_direction(EYE_YAW + gy, EYE_PITCH + gp),
                        head_direction(-EYE_YAW + gy, EYE_PITCH + gp), _SCLERA_CENTRES[2]])
    return centres, _MARK_SIZES, _MARK_COLOURS


# The markings that do not follow the gaze (both scleras, the nose), their sizes and colours: the same
# every frame, so made once. The label table's rows: none, equator, midline, crown, then the markings.
_SCLERA_CENTRES = (head_direction(EYE_YAW, EYE_PITCH), head_direction(-EYE_YAW, EYE_PITCH),
                   head_direction(0.0, NOSE_PITCH))
_MARK_SIZES = np.cos(np.radians([SCLERA_DEG, SCLERA_DEG, PUPIL_DEG, PUPIL_DEG, NOSE_DEG]))
_MARK_COLOURS = np.stack([SCLERA, SCLERA, PUPIL, PUPIL, NOSE])
_LABEL_TABLE = np.concatenate([np.zeros((1, 3)), np.stack([EQUATOR, MIDLINE, CROWN]), _MARK_COLOURS]).astype(np.float32)
_COS_CROWN = math.cos(math.radians(CROWN_DEG))


def sphere_colors(n_head, gaze=(0.0, 0.0), line: float = 0.03) -> np.ndarray:
    """RGB (0..255, float32) ``[..., 3]`` of sphere points with head-frame unit normals.

    ``n_head`` is ``[..., 3]`` or a tuple of its three planes (left, down,
    back); ``gaze`` is (yaw, pitch) of the eyes relative to the head in
    degrees; ``line`` the half-width of the midline and equator in normal units.
    """
    planes = n_head if isinstance(n_head, tuple) else tuple(n_head[..., k] for k in range(3))
    return np.ascontiguousarray(np.moveaxis(_sphere_planes(planes, gaze, line), 0, -1))


def _sphere_planes(planes, gaze, line: float) -> np.ndarray:
    """:func:`sphere_colors` as colour planes ``[3, ...]``.

    Planes, not interleaved pixels: a write to one channel of ``[..., 3]`` float32 is a
    strided store, and on a radius-80 head those made half of the sphere's time.
    """
    left, down, back = (np.asarray(p, np.float32) for p in planes)
    # Normal map: each surface point its own colour (red = left, green = up, blue = face).
    # The back of the head is dimmed toward grey but keeps a weak hue, so left/right still read.
    # Each channel is (1 +- axis) * gain + (grey share behind), in place: a bool mask times a
    # float is a slow cast in numpy, so the mask is made float once.
    behind = back > 0
    gain = np.where(behind, np.float32(0.45 * 127.5), np.float32(127.5))
    behind_f = behind.astype(np.float32)
    rgb = np.empty((3,) + left.shape, np.float32)
    np.add(left, 1.0, out=rgb[0])
    np.subtract(1.0, down, out=rgb[1])
    np.subtract(1.0, back, out=rgb[2])
    term = np.empty_like(left)
    for c in range(3):
        rgb[c] *= gain
        rgb[c] += np.multiply(behind_f, np.float32(0.55 * 0.7 * PLAIN[c]), out=term)
    # Markings as a label map (0 = none), painted in order so later ones win (np.copyto with a
    # mask: a boolean-indexed store per marking cost more than the comparisons themselves).
    label = np.zeros(left.shape, np.uint8)
    np.copyto(label, 1, where=np.abs(down) < line)
    np.copyto(label, 2, where=(np.abs(left) < line) & (down < 0.35))
    np.copyto(label, 3, where=-down > _COS_CROWN)
    centres, sizes, _colours = _marking_centres(gaze)
    dot = np.empty_like(left)
    for k, c in enumerate(centres.astype(np.float32)):
        # left * c0 + down * c1 + back * c2, summed in that order, into reused buffers.
        np.multiply(left, c[0], out=dot)
        dot += np.multiply(down, c[1], out=term)
        dot += np.multiply(back, c[2], out=term)
        np.copyto(label, 4 + k, where=dot > sizes[k])
    marked = label > 0
    for c in range(3):
        np.copyto(rgb[c], _LABEL_TABLE[label, c], where=marked)
    return rgb


def _shaded_colors(xs: np.ndarray, ys: np.ndarray, cx: float, cy: float, r: float,
                   rot: np.ndarray | None, gaze, shade: bool) -> np.ndarray:
    """Sphere colours as uint8 ``[len(ys), len(xs), 3]`` at pixel positions ``xs`` x ``ys``."""
    dx = ((xs - np.float32(cx)) / np.float32(r))[None, :]
    dy = ((ys - np.float32(cy)) / np.float32(r))[:, None]
    # Orthographic ray hits on the front of the sphere; points outside clamp onto the silhouette.
    k = 1.0 / np.maximum(np.sqrt(dx * dx + dy * dy), np.float32(1.0))
    nx, ny = dx * k, dy * k
    nz = -np.sqrt(np.maximum(np.float32(0.0), 1.0 - nx * nx - ny * ny))
    if rot is None:
        rgb = np.empty((3,) + nz.shape, np.float32)
        rgb[...] = PLAIN[:, None, None]
    else:
        # n_head = R.T @ n_cam, one plane per head axis so everything stays elementwise.
        planes = tuple(nx * rot[0, j] + ny * rot[1, j] + nz * rot[2, j] for j in range(3))
        rgb = _sphere_planes(planes, gaze, max(1.1 / min(r, FULL_RES_RADIUS), 0.025))
    if shade:  # light from the camera: a sphere, not a flat disc
        rgb *= (np.float32(0.55) - np.float32(0.45) * nz)[None]
    return cv2.merge(list(_to_u8(rgb)))


def _to_u8(rgb: np.ndarray) -> np.ndarray:
    """Round float colours that already lie in 0..255 to uint8 (no clipping needed)."""
    return (rgb + np.float32(0.5)).astype(np.uint8)


# Above this radius the colours are computed on a coarser grid and upsampled, so a
# big head (portrait framing, large frames) costs about as much as an 80 px one.
FULL_RES_RADIUS = 80.0


def draw_head_sphere(canvas: np.ndarray, center, radius: float, rotation: np.ndarray | None,
                     gaze=(0.0, 0.0), shade: bool = True) -> np.ndarray:
    """Paint the head sphere onto ``canvas`` (uint8 ``[H, W, 3]`` RGB) in place and return it.

    ``center`` (x, y) pixels, ``radius`` pixels, ``rotation`` the 3x3 head
    rotation (None or NaN: a plain grey sphere, the orientation is unknown),
    ``gaze`` (yaw, pitch) degrees relative to the head (NaN counts as 0).
    Only the disc's bounding box is touched; the rim is anti-aliased.
    """
    cx, cy, r = float(center[0]), float(center[1]), float(radius)
    if not (np.isfinite(cx) and np.isfinite(cy) and np.isfinite(r)) or r < 0.5:
        return canvas
    h, w = canvas.shape[:2]
    x0, x1 = max(int(math.floor(cx - r - 1)), 0), min(int(math.ceil(cx + r + 1)) + 1, w)
    y0, y1 = max(int(math.floor(cy - r - 1)), 0), min(int(math.ceil(cy + r + 1)) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return canvas
    pw, ph = x1 - x0, y1 - y0
    xs = np.arange(x0, x1, dtype=np.float32)
    ys = np.arange(y0, y1, dtype=np.float32)
    rot = None if rotation is None else np.asarray(rotation, np.float32)
    if rot is not None and not np.isfinite(rot).all():
        rot = None
    if r <= FULL_RES_RADIUS:
        colors = _shaded_colors(xs, ys, cx, cy, r, rot, gaze, shade)
    else:
        # Sample where cv2.resize's pixel-centre mapping puts the coarse pixels, then upsample.
        cw = max(2, int(math.ceil(pw * FULL_RES_RADIUS / r)))
        ch = max(2, int(math.ceil(ph * FULL_RES_RADIUS / r)))
        xc = (x0 + (np.arange(cw) + 0.5) * pw / cw - 0.5).astype(np.float32)
        yc = (y0 + (np.arange(ch) + 0.5) * ph / ch - 0.5).astype(np.float32)
        colors = cv2.resize(_shaded_colors(xc, yc, cx, cy, r, rot, gaze, shade), (pw, ph),
                            interpolation=cv2.INTER_LINEAR)
    # Coverage of each pixel by the disc, exact at full resolution: 1 inside, a one-pixel rim ramp.
    rho = np.sqrt(((xs - np.float32(cx)) ** 2)[None, :] + ((ys - np.float32(cy)) ** 2)[:, None])
    alpha = np.float32(r + 0.5) - rho
    np.minimum(np.maximum(alpha, np.float32(0.0), out=alpha), np.float32(1.0), out=alpha)
    patch = canvas[y0:y1, x0:x1]
    # OpenCV's per-pixel weighted blend is much faster than the numpy expression here.
    patch[...] = cv2.blendLinear(np.ascontiguousarray(patch), colors, 1.0 - alpha, alpha)
    return canvas
