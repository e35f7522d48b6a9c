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


def sphere_colors(n_head: np.ndarray, gaze: tuple[float, float], line: float) -> np.ndarray:
    """RGB (0..255, float) of sphere points with head-frame normals ``n_head`` ``[N, 3]``.

    ``gaze`` is (yaw, pitch) of the eyes relative to the head in degrees;
    ``line`` the half-width of the midline/equator in normal units.
    """
    left, down, back = n_head[:, 0], n_head[:, 1], n_head[:, 2]
    normal_rgb = np.stack([0.5 + 0.5 * left, 0.5 - 0.5 * down, 0.5 - 0.5 * back], 1) * 255.0
    face = (back < 0)[:, None]
    # The back of the head keeps its hue weakly so it still tells left from right.
    col = np.where(face, normal_rgb, 0.45 * normal_rgb + 0.55 * PLAIN * 0.7)
    col[np.abs(down) < line] = EQUATOR
    col[(np.abs(left) < line) & (down < 0.35)] = MIDLINE
    col[-down > math.cos(math.radians(CROWN_DEG))] = CROWN
    gy = min(max(GAZE_GAIN * float(gaze[0]), -GAZE_MAX_DEG), GAZE_MAX_DEG)
    gp = min(max(GAZE_GAIN * float(gaze[1]), -GAZE_MAX_DEG), GAZE_MAX_DEG)
    # Circular caps around marking centres, painted in order (later wins):
    # left sclera, right sclera, left pupil, right pupil, nose.
    centres = np.stack([head_direction(EYE_YAW, EYE_PITCH), head_direction(-EYE_YAW, EYE_PITCH),
                        head_direction(EYE_YAW + gy, EYE_PITCH + gp),
                        head_direction(-EYE_YAW + gy, EYE_PITCH + gp), head_direction(0.0, NOSE_PITCH)])
    sizes = np.cos(np.radians([SCLERA_DEG, SCLERA_DEG, PUPIL_DEG, PUPIL_DEG, NOSE_DEG]))
    inside = n_head @ centres.T.astype(n_head.dtype) > sizes  # one matrix product for all caps
    for k, color in enumerate((SCLERA, SCLERA, PUPIL, PUPIL, NOSE)):
        col[inside[:, k]] = color
    return col


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
    dx = (np.arange(x0, x1, dtype=np.float32) - cx) / r
    dy = (np.arange(y0, y1, dtype=np.float32) - cy) / r
    rho = np.sqrt(dx[None, :] ** 2 + dy[:, None] ** 2)
    # Coverage of each pixel by the disc: 1 inside, a one-pixel ramp on the rim.
    cover = np.clip((1.0 - rho) * r + 0.5, 0.0, 1.0)
    ys, xs = np.nonzero(cover > 0)
    if len(ys) == 0:
        return canvas
    # Orthographic ray hits the front of the sphere; clamp the rim ramp onto the silhouette.
    sx, sy = dx[xs], dy[ys]
    k = np.maximum(rho[ys, xs], 1.0)
    sx, sy = sx / k, sy / k
    n_cam = np.stack([sx, sy, -np.sqrt(np.maximum(0.0, 1.0 - sx * sx - sy * sy))], 1)
    rot = None if rotation is None else np.asarray(rotation, np.float32)
    if rot is None or not np.isfinite(rot).all():
        col = np.tile(PLAIN, (len(ys), 1))
    else:
        g = np.nan_to_num(np.asarray(gaze, np.float64), nan=0.0)
        line = max(1.1 / r, 0.025)
        col = sphere_colors(n_cam @ rot, (g[0], g[1]), line)
    if shade:  # light from the camera: a sphere, not a flat disc
        col = col * (0.55 + 0.45 * -n_cam[:, 2:3])
    a = cover[ys, xs][:, None]
    patch = canvas[y0:y1, x0:x1]
    old = patch[ys, xs].astype(np.float32)
    patch[ys, xs] = np.clip(old * (1 - a) + col * a + 0.5, 0, 255).astype(np.uint8)
    return canvas
