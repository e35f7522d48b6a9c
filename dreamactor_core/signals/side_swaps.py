"""Undo MediaPipe Pose's left/right swaps: a body read from behind for a few frames.

When a head turns far (a portrait at +-70 deg of head yaw), MediaPipe Pose can switch in one frame
to reading the body from behind: every left landmark takes the right one's place (face points
included), its world pose faces away (depth mirrored), and some frames later it switches back.
On the +-80 deg portrait of the hard-case set that puts both shoulders ~210 px off on half the
frames: most of raw MediaPipe's 55 px mean error there.

A switch is a frame where the shoulders trade places: each lands 3x nearer to where the other
was than to where it was itself, after a step over 5% of the person's size, while they stand
over half their widest apart (the clip's 90th percentile) on both frames. A turning body's
shoulders pass each other through a profile, where they stand close: trading places from half
their width apart would take a turn of 60 deg in a frame (1500 deg/s at 25 fps). The clip
is cut at the switches into runs whose readings alternate. The face mesh tells which alternate
is right: where a face is found the head faces the camera, so the nose must lie nearer than
the shoulders; the alternate that more such frames agree with is kept (without any face, the one
covering more frames) and the other runs are mirrored back: left and right traded, depth (z of
the pixel and world landmarks, both measured from the hips) negated, and the hands' sides traded.
"""
from __future__ import annotations

import numpy as np

from .motion import Motion

# MediaPipe Pose 33: each left landmark and its right counterpart.
LEFT = (1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
RIGHT = (4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32)
_SHOULDERS, _NOSE = (11, 12), 0
_NEARER = 3.0  # a switch: each shoulder this many times nearer the other's last place than its own
_STEP_SHARE = 0.05  # ... after a step over this share of the person's size
_APART = 0.5  # ... standing at least this share of their widest apart before and after


def switch_frames(body_px: np.ndarray, scale: float) -> np.ndarray:
    """Frames ``t`` where MediaPipe traded left and right between ``t - 1`` and ``t``."""
    sh = np.asarray(body_px, np.float64)[:, _SHOULDERS, :2]
    before, after = sh[:-1], sh[1:]
    keep = np.linalg.norm(after - before, axis=-1).sum(-1)
    trade = np.linalg.norm(after[:, ::-1] - before, axis=-1).sum(-1)
    apart = np.linalg.norm(sh[:, 0] - sh[:, 1], axis=-1)
    if not np.isfinite(apart).any():
        return np.zeros(0, int)
    wide = _APART * np.nanpercentile(apart, 90)
    with np.errstate(invalid="ignore"):
        hit = (_NEARER * trade < keep) & (keep > _STEP_SHARE * scale) & (apart[:-1] > wide) & (apart[1:] > wide)
    return np.flatnonzero(hit) + 1


def _faces_camera(motion: Motion) -> np.ndarray:
    """``[T]`` +1 where a face is found and MediaPipe's nose is nearer than its shoulders, -1 where a
    face is found and it is farther (the body read from behind), 0 without a face."""
    face = np.isfinite(motion.face_px[..., :2]).all((1, 2))
    w = motion.body_world.astype(np.float64)
    nose_ahead = w[:, _NOSE, 2] < w[:, _SHOULDERS, 2].mean(1)  # MediaPipe's z grows away from the camera
    known = face & np.isfinite(w[:, [_NOSE, *_SHOULDERS], 2]).all(1)
    return np.where(known, np.where(nose_ahead, 1, -1), 0)


def mirror(motion: Motion, frames) -> None:
    """Mirror the body reading of ``frames`` in place: left and right traded, depth negated."""
    f = np.asarray(frames)
    swap = list(LEFT) + list(RIGHT)
    into = list(RIGHT) + list(LEFT)
    for name in ("body_px", "body_world", "body_conf", "body_cam"):
        arr = getattr(motion, name)
        if arr is not None:
            arr[np.ix_(f, swap)] = arr[np.ix_(f, into)]
    for name in ("body_px", "body_world"):  # depth measured from the hips
        getattr(motion, name)[f, :, 2] *= -1.0
    if motion.body_cam is not None:  # camera depth: mirrored about the hips' depth
        hips = motion.body_cam[f][:, [23, 24], 2].mean(1, keepdims=True)
        motion.body_cam[f, :, 2] = 2.0 * hips - motion.body_cam[f, :, 2]
    motion.hands_px[f] = motion.hands_px[f][:, ::-1]
    motion.hands_conf[f] = motion.hands_conf[f][:, ::-1]


def undo_side_swaps(motion: Motion, scale: float) -> tuple[Motion, list[int]]:
    """A copy of ``motion`` with MediaPipe's left/right switches undone, and the frames mirrored.

    ``scale`` is the person's size in pixels (the box diagonal).
    """
    out = motion.copy()
    cuts = switch_frames(motion.body_px, scale)
    if len(cuts) == 0:
        return out, []
    bounds = [0, *cuts.tolist(), len(motion)]
    runs = [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    votes = _faces_camera(motion)
    # Score of keeping the even runs as MediaPipe read them (and mirroring the odd ones).
    evidence = sum((1 if k % 2 == 0 else -1) * int(votes[r].sum()) for k, r in enumerate(runs))
    if evidence == 0:
        evidence = sum((1 if k % 2 == 0 else -1) * len(r) for k, r in enumerate(runs))
    odd = 1 if evidence >= 0 else 0
    flipped = np.concatenate([r for k, r in enumerate(runs) if k % 2 == odd] or [np.zeros(0, int)])
    if len(flipped):
        mirror(out, flipped)
    return out, flipped.tolist()
