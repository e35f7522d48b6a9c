"""A pinhole camera for a driving video, estimated from 2D landmarks and the 3D world pose.

MediaPipe's world landmarks are hip-centred and axis-aligned with the camera
(x right, y down, z away), so the camera pose reduces to one translation per
frame: ``X_cam = X_world + t``. For a fixed focal length f each frame's
translation is a small linear least-squares problem (the projection equation
multiplied through by depth), solved for all frames at once; it is then
reweighted by 1/depth so the residual it minimises is the pixel error. The
focal length is shared by the whole clip and found by a 1D search over
log(f) on the total pixel error, with a weak pull towards a common field of
view because perspective cues on one body are weak.

On MediaPipe input the focal found is the one that best explains MediaPipe's own
pose, not the lens: its depths are flattened, so the search lands long (about 2x
on the synthetic clips, at 6-8 px RMS). That is what reprojection needs, since
retargeted poses are projected with the same camera; with exact 3D it recovers
the true focal length within 1-2%.

Axes follow OpenCV: x right, y down, z forward; the centre of the top-left
pixel is (0, 0), so the principal point is ((W-1)/2, (H-1)/2).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..utils import DreamActorError

# Focal length guess: max(W, H) * 1.2, a 45 deg field of view across the long side,
# between phone main cameras (~65 deg) and the longer lenses of filmed footage.
FOCAL_GUESS = 1.2
# Pixels^2 of mean squared error that one unit of (log f / f_guess)^2 costs.
FOCAL_PRIOR_PX2 = 0.5
_BIGGEST = np.finfo(np.float64).max
_RIDGE = np.eye(3) * 1e-9  # keeps a frame's normal equations solvable


@dataclass
class Camera:
    """Intrinsics ``K`` [3,3] and per-frame translation [T,3] with ``X_cam = X_world + t``.

    ``error_px`` [T] is the weighted RMS reprojection error per frame (NaN where
    a frame had too few points).
    """

    K: np.ndarray
    translation: np.ndarray
    error_px: np.ndarray

    @property
    def focal(self) -> float:
        return float(self.K[0, 0])

    def to_dict(self) -> dict:
        """JSON-ready summary (for ``Motion.meta``)."""
        err = self.error_px[np.isfinite(self.error_px)]
        return {
            "K": np.round(self.K, 4).tolist(),
            "focal_px": round(self.focal, 3),
            "model": "pinhole; X_cam = X_world + t per frame (world axes = camera axes)",
            "rms_error_px": round(float(np.sqrt(np.mean(err ** 2))), 3) if err.size else None,
        }


def intrinsics(focal: float, width: int, height: int) -> np.ndarray:
    """``K`` for square pixels and a centred principal point."""
    return np.array([[focal, 0.0, (width - 1) / 2.0], [0.0, focal, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def focal_guess(width: int, height: int) -> float:
    """A focal length in pixels for footage of unknown lens."""
    return FOCAL_GUESS * float(max(width, height))


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixel coordinates ``[..., 2]`` of camera-frame points ``[..., 3]`` (points behind the camera give NaN)."""
    p = np.asarray(points_cam, dtype=np.float64)
    z = p[..., 2]
    z = np.where(z > 1e-6, z, np.nan)
    u = K[0, 0] * p[..., 0] / z + K[0, 2]
    v = K[1, 1] * p[..., 1] / z + K[1, 2]
    return np.stack([u, v], axis=-1)


def back_project(uv: np.ndarray, depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame points ``[..., 3]`` of pixels ``[..., 2]`` at depths ``[...]``."""
    uv = np.asarray(uv, dtype=np.float64)
    z = np.asarray(depth, dtype=np.float64)
    x = (uv[..., 0] - K[0, 2]) * z / K[0, 0]
    y = (uv[..., 1] - K[1, 2]) * z / K[1, 1]
    return np.stack([x, y, z], axis=-1)


def solve_translation(uv: np.ndarray, world: np.ndarray, K: np.ndarray, weights=None, iters: int = 3):
    """Per-frame translations ``[T, 3]`` and RMS pixel errors ``[T]`` for a known ``K``.

    uv ``[T, N, 2]`` pixels, world ``[T, N, 3]``; NaN points and zero weights are ignored.
    """
    return _Correspondences(uv, world, weights).solve(K, iters)


class _Correspondences:
    """2D-3D point pairs made ready once for :func:`solve_translation` at many focal lengths (the
    focal search solves the same points about 25 times; their checks and masks do not depend on K)."""

    def __init__(self, uv: np.ndarray, world: np.ndarray, weights=None):
        uv = np.asarray(uv, dtype=np.float64)
        world = np.asarray(world, dtype=np.float64)
        w = np.ones(uv.shape[:2]) if weights is None else np.nan_to_num(np.asarray(weights, dtype=np.float64))
        valid = np.isfinite(uv).all(-1) & np.isfinite(world).all(-1) & (w > 0)
        self.w = np.where(valid, w, 0.0)
        self.enough = valid.sum(1) >= 2
        # One contiguous plane per coordinate (0 where a pair is unused) and the weights' row sums.
        self.u, self.v = (np.where(valid, uv[..., k], 0.0) for k in range(2))
        self.xyz = tuple(np.where(valid, world[..., k], 0.0) for k in range(3))
        self.w_rows = np.maximum(self.w.sum(1), 1e-12)

    def solve(self, K: np.ndarray, iters: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """:func:`solve_translation`'s ``(translations, errors)`` for intrinsics ``K``."""
        t, err = self.solve_focals([K[0, 0]], K, iters, fy=K[1, 1])
        return t[0], err[0]

    def solve_focals(self, focals, K: np.ndarray, iters: int = 3, fy=None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`solve` for ``K`` with each of ``focals`` (F of them) as its focal length, in one pass:
        translations ``[F, T, 3]`` and errors ``[F, T]``. ``fy`` replaces ``K[1, 1]`` in the error
        (default: the focal). Each focal's numbers are those of its own solve, operation for operation;
        the focal search's grid is solved this way because a numpy call costs more than its arithmetic here.
        """
        w, enough = self.w, self.enough
        nf, nt = len(focals), len(w)
        f = np.asarray(focals, np.float64).reshape(nf, 1, 1)
        fy = f if fy is None else fy
        du, dv = self.u - K[0, 2], self.v - K[1, 2]
        X, Y, Z = self.xyz
        # Per point: f*tx - du*tz = du*Z - f*X  and  f*ty - dv*tz = dv*Z - f*Y  (linear in t).
        # The 3x3 normal equations are summed in closed form, which is much cheaper than building A.
        bu, bv = du * Z - f * X, dv * Z - f * Y
        # The per-point terms whose weighted sums the normal equations need, stacked once so each pass
        # weighs and sums them in two numpy calls (the same products and row sums as one call per term):
        # 1 (the weight itself), du, dv, du^2 + dv^2 (the same for every focal); bu, bv, du*bu + dv*bv.
        shared = np.stack([np.ones_like(du), du, dv, du * du + dv * dv])[:, None]
        own = np.stack([bu, bv, du * bu + dv * bv])
        t = np.full((nf, nt, 3), np.nan)
        ww = w
        ff = f[..., 0]
        for _ in range(iters):
            sw, swu, swv, swr = (ww * shared).sum(-1)
            swbu, swbv, swc = (ww * own).sum(-1)
            ata = np.empty((nf, nt, 3, 3))
            ata[..., 0, 0] = ata[..., 1, 1] = ff * ff * sw
            ata[..., 0, 1] = ata[..., 1, 0] = 0.0
            ata[..., 0, 2] = ata[..., 2, 0] = -ff * swu
            ata[..., 1, 2] = ata[..., 2, 1] = -ff * swv
            ata[..., 2, 2] = swr
            atb = np.stack([ff * swbu, ff * swbv, -swc], -1)
            t = np.full((nf, nt, 3), np.nan)
            t[:, enough] = np.linalg.solve(ata[:, enough] + _RIDGE, atb[:, enough][..., None])[..., 0]
            # Reweight by 1/depth^2: the algebraic residual is the pixel residual times depth.
            depth = Z + t[..., 2:3]
            depth = np.clip(np.where(np.isnan(depth), 1.0, depth), 1e-3, None)  # +-inf end as nan_to_num's would
            ww = w / depth ** 2
        # The squared pixel error of :func:`project`'s points, plane by plane (the same operations in the
        # same order); a point behind the camera counts 0, an overflow the largest float (as nan_to_num).
        z = Z + t[..., 2:3]
        z = np.where(z > 1e-6, z, np.nan)
        sq = (f * (X + t[..., :1]) / z + K[0, 2] - self.u) ** 2 + (fy * (Y + t[..., 1:2]) / z + K[1, 2] - self.v) ** 2
        sq = np.where(np.isnan(sq), 0.0, np.minimum(sq, _BIGGEST))
        err = np.sqrt((sq * w).sum(-1) / self.w_rows)
        err[:, ~enough] = np.nan
        return t, err


def estimate_camera(uv, world, width: int, height: int, weights=None, focal: float | None = None) -> Camera:
    """Fit a pinhole camera: a shared focal length and a translation per frame.

    uv ``[T, N, 2]`` pixels and world ``[T, N, 3]`` (hip-centred, camera-aligned axes).
    Pass ``focal`` to skip the focal search (e.g. a single reference image, where the
    search has too little perspective to go on and ``focal_guess`` is used).
    """
    uv = np.asarray(uv, dtype=np.float64)[..., :2]
    world = np.asarray(world, dtype=np.float64)
    if uv.ndim != 3 or world.shape != uv.shape[:2] + (3,):
        raise DreamActorError(f"camera estimation: expected uv [T,N,2] and world [T,N,3], got {uv.shape} and {world.shape}")
    if not (np.isfinite(uv).all(-1) & np.isfinite(world).all(-1)).any():
        raise DreamActorError("camera estimation: no frame has both 2D and 3D body landmarks; extract motion first")
    guess = focal_guess(width, height)
    if focal is None and uv.shape[0] < 2:
        focal = guess

    if focal is None:
        # The focal search looks at up to 48 frames spread over the clip: plenty for one number.
        pick = np.unique(np.linspace(0, uv.shape[0] - 1, min(uv.shape[0], 48)).round().astype(int))
        picked = _Correspondences(uv[pick], world[pick], None if weights is None else np.asarray(weights)[pick])
        K_guess = intrinsics(guess, width, height)

        def costs(log_fs) -> list[float]:
            _, err = picked.solve_focals([float(np.exp(x)) for x in log_fs], K_guess)
            mse = np.nanmean(err ** 2, axis=1).tolist()  # each row as np.nanmean of that row alone
            return [m + FOCAL_PRIOR_PX2 * (x - np.log(guess)) ** 2 for m, x in zip(mse, log_fs)]

        focal = float(np.exp(_minimise_1d(costs, np.log(guess * 0.3), np.log(guess * 4.0))))
    K = intrinsics(float(focal), width, height)
    t, err = solve_translation(uv, world, K, weights)
    return Camera(K=K, translation=t, error_px=err)


def _minimise_1d(costs, lo: float, hi: float, grid: int = 9, iters: int = 14) -> float:
    """Coarse grid, then golden-section search around the best grid point; ``costs(xs)`` gives the
    cost of each x in a list. The grid goes in one call; the search's steps go two at a time: the
    point after the next is one of two, known before the next one's cost, so all three go in one call."""
    xs = np.linspace(lo, hi, grid)
    vals = costs(list(xs))
    i = int(np.nanargmin(vals))
    a, b = xs[max(i - 1, 0)], xs[min(i + 1, grid - 1)]
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    state = [a, b, c, d, *costs([c, d])]
    done = 0
    while done < iters:
        nxt, k = _golden_step(state)  # nxt[k] is the new point, nxt[k + 2] its cost
        if done + 1 == iters:
            nxt[k + 2] = costs([nxt[k]])[0]
            state, done = nxt, done + 1
            continue
        # Both ways the following step can go, from the bracket alone (the unknown cost only picks one).
        ways = [_golden_step(nxt, lower_c) for lower_c in (True, False)]
        v, v_lower, v_higher = costs([nxt[k], *(w[j] for w, j in ways)])
        nxt[k + 2] = v
        state, j = _golden_step(nxt)
        state[j + 2] = v_lower if nxt[4] < nxt[5] else v_higher
        done += 2
    return 0.5 * (state[0] + state[1])


_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def _golden_step(state: list, lower_c: bool | None = None) -> tuple[list, int]:
    """One golden-section step on ``[a, b, c, d, f(c), f(d)]``: the new state and the index (2 or 3) of
    its new point, whose cost (at index + 2) is still None. ``lower_c`` picks the way (default: f(c) < f(d))."""
    a, b, c, d, fc, fd = state
    if (fc < fd) if lower_c is None else lower_c:
        b, d, fd = d, c, fc
        return [a, b, b - _GOLDEN * (b - a), d, None, fd], 2
    a, c, fc = c, d, fd
    return [a, b, c, a + _GOLDEN * (b - a), fc, None], 3
