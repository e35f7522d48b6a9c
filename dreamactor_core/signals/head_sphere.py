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
    return np.array(_direction(yaw_deg, pitch_deg))


def _direction(yaw_deg: float, pitch_deg: float) -> list[float]:
    """:func:`head_direction` as a plain list (built per frame for the pupils)."""
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    return [math.cos(p) * math.sin(y), -math.sin(p), -math.cos(p) * math.cos(y)]


def _marking_centres(gazes) -> np.ndarray:
    """Cap centres (head coords) float32 ``[B, 5, 3]`` for B gazes, in painting order (sizes and
    colours: ``_MARK_SIZES``, ``_MARK_COLOURS``)."""
    rows = []
    for gaze in gazes:
        gy, gp = (0.0 if math.isnan(v) else min(max(GAZE_GAIN * v, -GAZE_MAX_DEG), GAZE_MAX_DEG)
                  for v in (float(gaze[0]), float(gaze[1])))
        rows.append([_SCLERA_CENTRES[0], _SCLERA_CENTRES[1], _direction(EYE_YAW + gy, EYE_PITCH + gp),
                     _direction(-EYE_YAW + gy, EYE_PITCH + gp), _SCLERA_CENTRES[2]])
    return np.array(rows).astype(np.float32)


# The markings that do not follow the gaze (both scleras, the nose), their sizes and colours: the same
# every frame, so made once. The label table's rows: none, equator, midline, crown, then the markings.
_SCLERA_CENTRES = (_direction(EYE_YAW, EYE_PITCH), _direction(-EYE_YAW, EYE_PITCH), _direction(0.0, NOSE_PITCH))
_MARK_SIZES = np.cos(np.radians([SCLERA_DEG, SCLERA_DEG, PUPIL_DEG, PUPIL_DEG, NOSE_DEG]))
_MARK_COLOURS = np.stack([SCLERA, SCLERA, PUPIL, PUPIL, NOSE])
_LABEL_PLANES = np.ascontiguousarray(
    np.concatenate([np.zeros((1, 3)), np.stack([EQUATOR, MIDLINE, CROWN]), _MARK_COLOURS]).T.astype(np.float32))
_COS_CROWN = math.cos(math.radians(CROWN_DEG))
_GAIN_FRONT, _GAIN_BEHIND = np.float32(127.5), np.float32(0.45 * 127.5)
def sphere_colors(n_head, gaze=(0.0, 0.0), line: float = 0.03) -> np.ndarray:
    """RGB (0..255, float32) ``[..., 3]`` of sphere points with head-frame unit normals.

    ``n_head`` is ``[..., 3]`` or a tuple of its three planes (left, down,
    back); ``gaze`` is (yaw, pitch) of the eyes relative to the head in
    degrees; ``line`` the half-width of the midline and equator in normal units.
    """
    planes = n_head if isinstance(n_head, tuple) else tuple(n_head[..., k] for k in range(3))
    centres = _marking_centres([gaze])[0]
    return np.ascontiguousarray(np.moveaxis(_sphere_planes(planes, centres, line), 0, -1))


def _sphere_planes(planes, centres: np.ndarray, line) -> np.ndarray:
    """:func:`sphere_colors` as colour planes ``[3, ...]``.

    Planes, not interleaved pixels: a write to one channel of ``[..., 3]`` float32 is a
    strided store, and on a radius-80 head those made half of the sphere's time.
    ``centres``: the caps' centres, float32 ``[5, 3]``, or ``[B, 5, 3]`` for planes ``[B, H, W]``
    of B spheres (``line`` then float32 ``[B, 1, 1]``).
    """
    left, down, back = (np.asarray(p, np.float32) for p in planes)
    # Normal map: each surface point its own colour (red = left, green = up, blue = face).
    # The back of the head is dimmed toward grey but keeps a weak hue, so left/right still read.
    # Each channel is (1 +- axis) * gain + (grey share behind), in place: a bool mask times a
    # float is a slow cast in numpy, so the mask is made float once, and the gain is made from
    # it by arithmetic (exact: both gains and their difference are short binary fractions).
    behind_f = (back > 0).astype(np.float32)
    gain = np.multiply(behind_f, _GAIN_BEHIND - _GAIN_FRONT)
    gain += _GAIN_FRONT
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
    # One cap centre coordinate per sphere, shaped to broadcast over its grid.
    per_sphere = centres.shape[:-2] + (1,) * (left.ndim - centres.ndim + 2)
    dot = np.empty_like(left)
    for k in range(len(_MARK_SIZES)):
        c = [centres[..., k, j].reshape(per_sphere) for j in range(3)]
        # left * c0 + down * c1 + back * c2, summed in that order, into reused buffers.
        np.multiply(left, c[0], out=dot)
        dot += np.multiply(down, c[1], out=term)
        dot += np.multiply(back, c[2], out=term)
        np.copyto(label, 4 + k, where=dot > _MARK_SIZES[k])
    marked = label > 0
    for c in range(3):
        np.copyto(rgb[c], np.take(_LABEL_PLANES[c], label), where=marked)
    return rgb


def _to_u8(rgb: np.ndarray) -> np.ndarray:
    """Round float colours that already lie in 0..255 to uint8 (no clipping needed)."""
    return (rgb + np.float32(0.5)).astype(np.uint8)


# Above this radius the colours are computed on a coarser grid and upsampled, so a
# big head (portrait framing, large frames) costs about as much as an 80 px one.
FULL_RES_RADIUS = 80.0


def _shaded_colors(xs: np.ndarray, ys: np.ndarray, cx, cy, r, rot: np.ndarray | None, gazes,
                   shade: bool) -> np.ndarray:
    """Colours uint8 ``[B, H, W, 3]`` of B spheres, each on its own grid of pixel positions ``xs``
    ``[B, W]`` x ``ys`` ``[B, H]``; ``cx``, ``cy``, ``r`` ``[B]``, ``rot`` float32 ``[B, 3, 3]`` (None:
    plain grey), ``gazes`` ``[B, 2]``.

    Spheres are batched because at head sizes a numpy call costs more than its arithmetic:
    each call now serves B heads, element for element the same operations as one head alone.
    """
    cx, cy, r32 = (np.asarray(v, np.float32).reshape(-1, 1, 1) for v in (cx, cy, r))
    dx = (xs[:, None, :] - cx) / r32
    dy = (ys[:, :, None] - cy) / r32
    # Orthographic ray hits on the front of the sphere; points outside clamp onto the silhouette.
    k = 1.0 / np.maximum(np.sqrt(dx * dx + dy * dy), np.float32(1.0))
    nx, ny = dx * k, dy * k
    nz = -np.sqrt(np.maximum(np.float32(0.0), 1.0 - nx * nx - ny * ny))
    if rot is None:
        rgb = np.empty((3,) + nz.shape, np.float32)
        rgb[...] = PLAIN[:, None, None, None]
    else:
        # n_head = R.T @ n_cam, one plane per head axis so everything stays elementwise.
        R = rot[:, :, :, None, None]
        planes = tuple(nx * R[:, 0, j] + ny * R[:, 1, j] + nz * R[:, 2, j] for j in range(3))
        line = np.array([max(1.1 / min(float(v), FULL_RES_RADIUS), 0.025) for v in r], np.float32)
        rgb = _sphere_planes(planes, _marking_centres(gazes), line.reshape(-1, 1, 1))
    if shade:  # light from the camera: a sphere, not a flat disc
        rgb *= (np.float32(0.55) - np.float32(0.45) * nz)[None]
    # Interleaved by OpenCV (numpy's strided uint8 stores are slow), the B grids stacked as rows.
    b, h, w = nz.shape
    return cv2.merge([p.reshape(b * h, w) for p in _to_u8(rgb)]).reshape(b, h, w, 3)


def _box(shape, center, radius: float):
    """The pixel box ``(x0, x1, y0, y1)`` a sphere touches on a canvas of ``shape``, or None."""
    cx, cy, r = float(center[0]), float(center[1]), float(radius)
    if not (np.isfinite(cx) and np.isfinite(cy) and np.isfinite(r)) or r < 0.5:
        return None
    h, w = shape[:2]
    x0, x1 = max(int(math.floor(cx - r - 1)), 0), min(int(math.ceil(cx + r + 1)) + 1, w)
    y0, y1 = max(int(math.floor(cy - r - 1)), 0), min(int(math.ceil(cy + r + 1)) + 1, h)
    return None if x0 >= x1 or y0 >= y1 else (x0, x1, y0, y1)


def _usable_rotation(rotation) -> np.ndarray | None:
    rot = None if rotation is None else np.asarray(rotation, np.float32)
    return None if rot is None or not np.isfinite(rot).all() else rot


def sphere_patches(shape, centers, radii, rotations, gazes, shade: bool = True) -> list:
    """The head spheres of many frames, ready to paste on canvases of ``shape`` with :func:`paste_patch`.

    One entry per sphere (arguments as :func:`draw_head_sphere`'s, one per frame): None where
    nothing shows, else ``(x0, y0, colours uint8 [h, w, 3], coverage float32 [h, w])``.
    Spheres drawn at full resolution are coloured together in batches (those with a known rotation
    apart from the plain ones), each batch on a grid the size of its largest box (each sphere keeps
    its own part of it).
    """
    out: list = [None] * len(centers)
    batches: dict[bool, list] = {True: [], False: []}
    for i, (center, radius, rotation) in enumerate(zip(centers, radii, rotations)):
        box = _box(shape, center, radius)
        if box is None:
            continue
        rot = _usable_rotation(rotation)
        if float(radius) <= FULL_RES_RADIUS:
            batches[rot is not None].append((i, box, rot))
        else:
            out[i] = _coarse_patch(box, center, float(radius), rot, gazes[i], shade)
    for rotated, todo in batches.items():
        for items in _groups(todo):
            _colour_group(out, items, rotated, centers, radii, gazes, shade)
    return out


# Pixels of one batch's grid: about eight 36 px heads. Bigger batches spill the cache.
BATCH_PIXELS = 48_000


def _groups(items: list) -> list[list]:
    """``items`` (index, box, rotation) in order, cut where a batch's grid would pass BATCH_PIXELS."""
    groups: list[list] = []
    w = h = 0
    for item in items:
        x0, x1, y0, y1 = item[1]
        w, h = max(w, x1 - x0), max(h, y1 - y0)
        if not groups or (len(groups[-1]) + 1) * w * h > BATCH_PIXELS:
            groups.append([])
            w, h = x1 - x0, y1 - y0
        groups[-1].append(item)
    return groups


def _colour_group(out: list, items: list, rotated: bool, centers, radii, gazes, shade: bool) -> None:
    """Colour one batch of :func:`sphere_patches`' spheres into ``out``."""
    idx = [i for i, _b, _r in items]
    boxes = np.array([b for _i, b, _r in items])
    w, h = int((boxes[:, 1] - boxes[:, 0]).max()), int((boxes[:, 3] - boxes[:, 2]).max())
    xs = (boxes[:, :1] + np.arange(w)).astype(np.float32)
    ys = (boxes[:, 2:3] + np.arange(h)).astype(np.float32)
    cx, cy = (np.array([float(centers[i][k]) for i in idx]) for k in (0, 1))
    r = np.array([float(radii[i]) for i in idx])
    rot = np.stack([q for _i, _b, q in items]) if rotated else None
    colours = _shaded_colors(xs, ys, cx, cy, r, rot, [gazes[i] for i in idx], shade)
    alpha = _coverage(xs, ys, cx, cy, r)
    for b, (i, (x0, x1, y0, y1), _r) in enumerate(items):
        out[i] = (x0, y0, colours[b, :y1 - y0, :x1 - x0], alpha[b, :y1 - y0, :x1 - x0])


def _coarse_patch(box, center, r: float, rot, gaze, shade: bool):
    """A big head's patch: colours on a grid of about FULL_RES_RADIUS per radius, upsampled."""
    x0, x1, y0, y1 = box
    pw, ph = x1 - x0, y1 - y0
    cx, cy = float(center[0]), float(center[1])
    # Sample where cv2.resize's pixel-centre mapping puts the coarse pixels, then upsample.
    cw = max(2, int(math.ceil(pw * FULL_RES_RADIUS / r)))
    ch = max(2, int(math.ceil(ph * FULL_RES_RADIUS / r)))
    xc = (x0 + (np.arange(cw) + 0.5) * pw / cw - 0.5).astype(np.float32)
    yc = (y0 + (np.arange(ch) + 0.5) * ph / ch - 0.5).astype(np.float32)
    colours = _shaded_colors(xc[None], yc[None], [cx], [cy], [r], None if rot is None else rot[None], [gaze], shade)
    colours = cv2.resize(colours[0], (pw, ph), interpolation=cv2.INTER_LINEAR)
    xs, ys = np.arange(x0, x1, dtype=np.float32)[None], np.arange(y0, y1, dtype=np.float32)[None]
    return x0, y0, colours, _coverage(xs, ys, [cx], [cy], [r])[0]


def _coverage(xs, ys, cx, cy, r) -> np.ndarray:
    """Coverage ``[B, H, W]`` of each pixel by its disc, exact at full resolution: 1 inside, a one-pixel rim ramp."""
    cx, cy = (np.asarray(v, np.float32).reshape(-1, 1) for v in (cx, cy))
    rho = np.sqrt(((xs - cx) ** 2)[:, None, :] + ((ys - cy) ** 2)[:, :, None])
    alpha = (np.asarray(r, np.float64) + 0.5).astype(np.float32).reshape(-1, 1, 1) - rho
    return np.minimum(np.maximum(alpha, np.float32(0.0), out=alpha), np.float32(1.0), out=alpha)


def paste_patch(canvas: np.ndarray, patch) -> np.ndarray:
    """Blend a :func:`sphere_patches` entry onto ``canvas`` in place (None: nothing) and return it."""
    if patch is None:
        return canvas
    x0, y0, colours, alpha = patch
    h, w = alpha.shape
    view = canvas[y0:y0 + h, x0:x0 + w]
    # OpenCV's per-pixel weighted blend is much faster than the numpy expression here.
    view[...] = cv2.blendLinear(np.ascontiguousarray(view), np.ascontiguousarray(colours), 1.0 - alpha, alpha)
    return canvas


def draw_head_sphere(canvas: np.ndarray, center, radius: float, rotation: np.ndarray | None,
                     gaze=(0.0, 0.0), shade: bool = True) -> np.ndarray:
    """Paint the head sphere onto ``canvas`` (uint8 ``[H, W, 3]`` RGB) in place and return it.

    ``center`` (x, y) pixels, ``radius`` pixels, ``rotation`` the 3x3 head
    rotation (None or NaN: a plain grey sphere, the orientation is unknown),
    ``gaze`` (yaw, pitch) degrees relative to the head (NaN counts as 0).
    Only the disc's bounding box is touched; the rim is anti-aliased.
    """
    return paste_patch(canvas, sphere_patches(canvas.shape, [center], [radius], [rotation], [gaze], shade)[0])
