"""Test helper: exact synthetic tracks of a turning torso and of a head fit, built from known rotations."""
from __future__ import annotations

import numpy as np

from dreamactor_core.signals.head_pose import rotation_from_angles


def turned_body(yaws_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World landmarks ``[T, 33, 3]`` of a torso turned by ``yaw`` (camera axes), and pixels."""
    t = len(yaws_deg)
    world = np.zeros((t, 33, 3))
    rest = {11: (0.2, -0.5, 0), 12: (-0.2, -0.5, 0), 23: (0.1, 0, 0), 24: (-0.1, 0, 0), 7: (0.07, -0.65, 0.03),
            8: (-0.07, -0.65, 0.03)}
    for i, yaw in enumerate(yaws_deg):
        r = rotation_from_angles(yaw, 0.0, 0.0)
        for j, p in rest.items():
            world[i, j] = r @ np.array(p)
    px = 200.0 + 300.0 * world[..., :2]
    return world, np.concatenate([px, np.zeros((t, 33, 1))], -1)


def head_fit(yaws, have, radius=40.0):
    """A head fit (rotation, centre, radius) turned by ``yaws`` on the frames ``have``, NaN elsewhere."""
    t = len(yaws)
    rot = np.full((t, 3, 3), np.nan)
    centre = np.full((t, 2), np.nan)
    rad = np.full(t, np.nan)
    for i in np.flatnonzero(have):
        rot[i] = rotation_from_angles(yaws[i], 0.0, 0.0)
        centre[i] = (200.0, 5.0)
        rad[i] = radius
    return {"rotation": rot, "center_px": centre, "radius_px": rad}
