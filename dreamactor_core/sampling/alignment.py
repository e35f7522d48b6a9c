"""Place the retargeted driving motion where the person stands in the reference image.

Retargeting keeps the driving video's camera, so its pixels live in the driving
frame. The model expects the pose of the first frame to sit on the reference
person, so the motion is mapped into the reference image by one uniform scale
and a shift (the same for every frame, so the driving's own travel and zoom are
kept, scaled to the reference).

Only landmarks that were seen count (``signals.reliability``): MediaPipe invents
the legs of a portrait, and aligning on them slides the body off the person.
- A reference whose whole body is seen (shoulders, hips and ankles): the 2D torso
  (shoulder centre to hip centre) of the first driving frame where it is seen is
  matched to the reference's in length, and its hip centre put on the reference's.
- A portrait or upper-body reference (or a driving video whose torso is never seen,
  e.g. a talking head): the head sphere of the first frame is put on the
  reference's head at its size, so the body keeps the reference's framing.
"""
from __future__ import annotations

import numpy as np

from ..signals.framing import Transform, map_motion
from ..signals.motion import Motion
from ..signals.reliability import all_reliable, reliable_landmarks
from ..utils import DreamActorError

SHOULDERS, HIPS, ANKLES = [11, 12], [23, 24], [27, 28]


def _torso(m: Motion, i: int, seen: np.ndarray):
    """(anchor xy, size) from the torso of frame ``i`` when it is seen, or None."""
    if not seen[i, SHOULDERS + HIPS].all():
        return None
    sh = m.body_px[i, SHOULDERS, :2]
    anchor = m.body_px[i, HIPS, :2].mean(0)
    size = float(np.linalg.norm(sh.mean(0) - anchor))
    return (anchor, size) if size > 1.0 else None


def _head(m: Motion, i: int, seen: np.ndarray):
    c, r = m.head_center_px[i], float(m.head_radius_px[i])
    return (c.astype(np.float64), r) if np.isfinite(c).all() and np.isfinite(r) and r > 0.5 else None


def align_to_reference(motion: Motion, reference: Motion) -> Motion:
    """``motion`` mapped into ``reference``'s image (its width/height), first frame on the reference person."""
    ref_seen = reliable_landmarks(reference)
    whole_body = bool(all_reliable(ref_seen, SHOULDERS + HIPS + ANKLES)[0])
    seen = reliable_landmarks(motion)
    for measure in ((_torso, _head) if whole_body else (_head, _torso)):
        ref = measure(reference, 0, ref_seen)
        if ref is None:
            continue
        for i in range(motion.num_frames):
            got = measure(motion, i, seen)
            if got is not None:
                scale = ref[1] / got[1]
                off = ref[0] - scale * got[0]
                out = map_motion(motion, Transform(scale, scale, float(off[0]), float(off[1])),
                                 reference.width, reference.height)
                out.meta["aligned_to_reference"] = {"by": measure.__name__[1:], "frame": i, "scale": scale}
                return out
    raise DreamActorError("reference: neither a torso (shoulders and hips) nor a head was found in both the "
                          "reference image and the driving video, so the pose cannot be placed on the person")
