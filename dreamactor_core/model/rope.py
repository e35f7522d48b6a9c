"""3D rotary position embedding over (time, height, width) latent-grid positions.

Per head, the ``d`` channels form ``d/2`` complex numbers (pairs (2m, 2m+1) = real, imag).
They are split into three consecutive ranges for time, height and width of sizes
``c - 2*(c//3)``, ``c//3``, ``c//3`` (c = d/2). In a range of r complex numbers the m-th
one rotates by ``pos * 10000^(-m/r)``. Positions are integer grid coordinates from 0; the
first reference frame is time position 0.
"""
from __future__ import annotations

import torch


def axis_sizes(head_dim: int) -> tuple[int, int, int]:
    """Complex-number counts for the time, height and width ranges."""
    c = head_dim // 2
    return c - 2 * (c // 3), c // 3, c // 3


def rope_angles(grid: tuple[int, int, int], head_dim: int, theta: float = 10000.0,
                device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotation angles for every token of a ``(T, H, W)`` grid.

    Returns two float32 tensors ``[T*H*W, head_dim/2]`` (tokens time-major, then row,
    then column). Angles are computed in float64 for accuracy at large positions.
    """
    parts = []
    for n, r in zip(grid, axis_sizes(head_dim)):
        freqs = theta ** (-torch.arange(r, dtype=torch.float64, device=device) / r)
        parts.append(torch.arange(n, dtype=torch.float64, device=device)[:, None] * freqs)
    t, h, w = grid
    ang = torch.cat([
        parts[0][:, None, None, :].expand(t, h, w, -1),
        parts[1][None, :, None, :].expand(t, h, w, -1),
        parts[2][None, None, :, :].expand(t, h, w, -1),
    ], dim=-1).reshape(t * h * w, -1)
    return torch.cos(ang).float(), torch.sin(ang).float()


def rope_table(cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """The rotations as one complex64 table [L, d/2] (what :func:`rotate` multiplies by)."""
    return torch.complex(cos, sin)


def rotate(x: torch.Tensor, table: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Rotate ``x`` [B, L, heads, d] by ``table`` [L, d/2] (from :func:`rope_table`) as one complex
    product in float32 (the same products and sums as the real form); the result is ``dtype``
    (default: ``x``'s), so a caller already in float32 pays a single cast."""
    xc = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))
    return torch.view_as_real(xc * table[:, None, :]).flatten(-2).to(dtype or x.dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Rotate ``x`` [B, L, heads, d] by the per-token angles ``cos``/``sin`` [L, d/2]."""
    return rotate(x, rope_table(cos, sin), dtype)
