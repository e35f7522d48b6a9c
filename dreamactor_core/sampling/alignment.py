"""Place the retargeted driving motion where the person stands in the reference image.

Retargeting keeps the driving video's camera, so its pixels live in the driving
frame. The model expects the pose of the first frame to sit on the reference
person, so the motion is mapped into the reference image by one uniform scale
and a shift (the same for every frame, so the driving's own travel and zoom are
kept): the scale matches the 2D torso length (shoulder centre to hip centre) of
the first frame where both are found to the reference's, and the shift puts
that frame's hip centre on the reference's. Portraits without hips use the
head sphere (radius and centre) instead.
"""
from __future__ import annotations

import numpy as np

from ..signals.framing import Transform, map_motion
from ..signals.motion import Motion
from ..utils import DreamActorError

SHOULDERS, HIPS = [11, 12], [23, 24]


def _torso(m: Motion, i: int):
    """(anchor xy, size) from the torso of frame ``i``, or None."""
    sh = m.body_px[i, SHOULDERS, :2]
    hp = m.body_px[i, HIPS, :2]
    if not (np.isfinite(sh).all() and np.isfinite(hp).all()):
        return None
    anchor = hp.mean(0)
    size = float(np.linalg.norm(sh.mean(0) - anchor))
    return (anchor, size) if size > 1.0 else None


def _head(m: Motion, i: int):
    c, r = m.head_center_px[i], float(m.head_radius_px[i])
    return (c.astype(np.float64), r) if np.isfinite(c).all() and np.isfinite(r) and r > 0.5 else None


def align_to_reference(motion: Motion, reference: Motion) -> Motion:
    """``motion`` mapped into ``reference``'s image (its width/height), first frame on the reference person."""
    for measure in (_torso, _head):
        ref = measure(reference, 0)
        if ref is None:
            continue
        for i in range(motion.num_frames):
            got = measure(motion, i)
            if got is not None:
                scale = ref[1] / got[1]
                off = ref[0] - scale * got[0]
                out = map_motion(motion, Transform(scale, scale, float(off[0]), float(off[1])),
                                 reference.width, reference.height)
                out.meta["aligned_to_reference"] = {"by": measure.__name__[1:], "frame": i, "scale": scale}
                return out
    raise DreamActorError("reference: neither a torso (shoulders and hips) nor a head was found in both the "
                          "reference image and the driving video, so the pose cannot be placed on the person")
