"""A small vectorised z-buffer rasteriser for the synthetic-human engine.

No OpenGL is available on these machines, and a per-triangle Python loop is too
slow for ~27k triangles a frame, so triangles are grouped by the size of their
pixel bounding box and every group is tested against all pixels of its boxes
at once. The nearest candidate per pixel wins (sorted by pixel, then depth).
"""
from __future__ import annotations

import numpy as np


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection of camera-space points [..., 3] to pixels [..., 2]."""
    z = np.maximum(points_cam[..., 2:3], 1e-6)
    uv = points_cam[..., :2] / z
    return uv * np.array([K[0, 0], K[1, 1]]) + np.array([K[0, 2], K[1, 2]])


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit normals per vertex."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    fn = np.cross(b - a, c - a)
    vn = np.zeros_like(vertices)
    for i in range(3):
        np.add.at(vn, faces[:, i], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def rasterize(
    vertices_cam: np.ndarray,
    faces: np.ndarray,
    vertex_colors: np.ndarray,
    K: np.ndarray,
    width: int,
    height: int,
    background: np.ndarray,
    supersample: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Render a coloured mesh seen by a pinhole camera.

    Args:
        vertices_cam: [V, 3] camera coordinates (OpenCV axes, z forward, metres).
        faces: [F, 3] vertex indices.
        vertex_colors: [V, 3] linear RGB in [0, 1] (shading already applied).
        K: 3x3 intrinsics for the output size.
        background: [height, width, 3] float image in [0, 1].
        supersample: render at this factor and box-filter down (anti-aliasing).

    Returns:
        (image float32 [H, W, 3] in [0, 1], mask float32 [H, W] coverage in [0, 1]).
    """
    s = int(supersample)
    W, H = width * s, height * s
    Ks = K.astype(np.float64).copy()
    Ks[:2] *= s
    Ks[0, 2] = (K[0, 2] + 0.5) * s - 0.5  # keep pixel centres aligned after scaling
    Ks[1, 2] = (K[1, 2] + 0.5) * s - 0.5
    uv = project(vertices_cam, Ks)
    z = vertices_cam[:, 2]
    tri_uv = uv[faces]  # [F, 3, 2]
    tri_z = z[faces]
    keep = (tri_z > 1e-3).all(1)
    # Back faces are culled: the mesh is closed, so they are always hidden.
    e1, e2 = tri_uv[:, 1] - tri_uv[:, 0], tri_uv[:, 2] - tri_uv[:, 0]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    keep &= area < -1e-12
    lo = np.floor(tri_uv.min(1)).astype(np.int64)
    hi = np.ceil(tri_uv.max(1)).astype(np.int64)
    keep &= (hi[:, 0] >= 0) & (hi[:, 1] >= 0) & (lo[:, 0] < W) & (lo[:, 1] < H)
    idx = np.nonzero(keep)[0]
    lo, hi = np.clip(lo[idx], 0, [W - 1, H - 1]), np.clip(hi[idx], 0, [W - 1, H - 1])
    size = np.maximum(hi - lo + 1, 1).max(1)

    pix_all, depth_all, col_all = [], [], []
    for bucket in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048):
        sel = (size <= bucket) & (size > bucket // 2) if bucket > 1 else size <= 1
        if not sel.any():
            continue
        t = idx[sel]
        gx, gy = np.meshgrid(np.arange(bucket), np.arange(bucket))
        px = lo[sel][:, 0:1] + gx.reshape(1, -1)
        py = lo[sel][:, 1:2] + gy.reshape(1, -1)
        bary = _barycentric(tri_uv[t], px.astype(np.float64), py.astype(np.float64))
        inside = (bary >= -1e-9).all(-1) & (px < W) & (py < H)
        ti, ci = np.nonzero(inside)
        b = bary[ti, ci]
        # Perspective-correct interpolation of depth and colour.
        inv_z = (b / tri_z[t][ti]).sum(-1)
        w = b / tri_z[t][ti] / inv_z[:, None]
        pix_all.append(py[ti, ci] * W + px[ti, ci])
        depth_all.append(1.0 / inv_z)
        col_all.append(np.einsum("nk,nkc->nc", w, vertex_colors[faces[t][ti]]))

    image = np.repeat(np.repeat(background.astype(np.float64), s, 0), s, 1).reshape(-1, 3)
    mask = np.zeros(W * H)
    if pix_all:
        pix, depth, col = np.concatenate(pix_all), np.concatenate(depth_all), np.concatenate(col_all)
        order = np.lexsort((depth, pix))
        pix, col = pix[order], col[order]
        first = np.ones(len(pix), bool)
        first[1:] = pix[1:] != pix[:-1]
        image[pix[first]] = col[first]
        mask[pix[first]] = 1.0
    image = image.reshape(H, W, 3).reshape(height, s, width, s, 3).mean((1, 3))
    mask = mask.reshape(height, s, width, s).mean((1, 3))
    return image.astype(np.float32), mask.astype(np.float32)


def _barycentric(tri: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Barycentric coordinates [N, P, 3] of pixels (px, py) [N, P] in triangles [N, 3, 2]."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    v0, v1 = b - a, c - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    den = np.where(np.abs(den) < 1e-12, 1e-12, den)[:, None]
    dx, dy = px - a[:, 0:1], py - a[:, 1:2]
    l1 = (dx * v1[:, 1:2] - v1[:, 0:1] * dy) / den
    l2 = (v0[:, 0:1] * dy - dx * v0[:, 1:2]) / den
    return np.stack([1.0 - l1 - l2, l1, l2], -1)
