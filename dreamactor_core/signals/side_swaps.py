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
their width apart would take a turn of 60 deg in a frame (1500 deg/s at 25 fps). MediaPipe can
also switch through a frame where the shoulders stand partly crossed; there the face tells: where
a face is found the head faces the camera, so the nose must lie nearer than the shoulders, and a
frame whose nose turns from ahead to behind (or back) while the shoulders jump is a switch too.

The clip is cut at the switches into runs. Each run decides on its own face votes, and only when
they agree (one side 3x the other); a run without a face takes the opposite of a decided
neighbour across a clean trade of places. Undecided runs stay as MediaPipe read them. (Letting
alternate runs vote together, as before, mirrored the right frames of a re-rendered +-80 deg
portrait once the switch back went unseen: its error grew from 30 to 47 px.) A frame of a mirrored run is mirrored
only if that brings its shoulders nearer their neighbours' (a frame caught mid-switch stays).
Mirroring trades left and right, negates depth (z of the pixel and world landmarks, both measured
from the hips) and trades the hands' sides.
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
_NEAR = 2  # frames each side whose shoulders check a frame to be mirrored
_AGREE = 3  # a run's face votes settle it when one side has at least this many times the other's


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


def vote_changes(votes: np.ndarray) -> np.ndarray:
    """Frames where the face's vote turns: a face-found frame whose vote is the opposite of the
    last face-found frame's. A switch MediaPipe makes through a frame where the shoulders cross
    (a partial reading) escapes :func:`switch_frames` but not the nose's depth."""
    seen = np.flatnonzero(votes != 0)
    return seen[1:][votes[seen[1:]] != votes[seen[:-1]]]


def _run_decisions(runs, votes, switches) -> list[int]:
    """Per run: 1 mirror, 0 keep, -1 undecided. A run with a face decides by its own votes, and
    only when they agree (one side at least 3x the other); a run without a face takes its reading
    from a decided neighbour across a switch (the shoulders traded places there, so the reading
    is that neighbour's opposite). Neighbours that disagree leave it undecided (kept as read)."""
    decide = []
    for r in runs:
        pos, neg = int((votes[r] > 0).sum()), int((votes[r] < 0).sum())
        decide.append(1 if neg and neg >= _AGREE * pos else 0 if pos and pos >= _AGREE * neg else -1)
    faceless = [k for k, r in enumerate(runs) if not (votes[r] != 0).any()]
    for _ in range(len(runs)):  # spreads across a chain of faceless runs
        changed = False
        for k in faceless:
            if decide[k] != -1:
                continue
            guesses = {1 - decide[j] for j in (k - 1, k + 1)
                       if 0 <= j < len(runs) and decide[j] != -1 and runs[max(j, k)][0] in switches}
            if len(guesses) == 1:
                decide[k], changed = guesses.pop(), True
        if not changed:
            break
    return decide


def _mirror_is_nearer(px: np.ndarray, t: int, flip: np.ndarray) -> bool:
    """Whether frame ``t``'s shoulders, mirrored, lie nearer where their neighbours put them (the
    median of the frames within two each side, as they will be read) than as MediaPipe put them.
    A frame caught mid-switch (the shoulders partly crossed) stays as read: mirroring would not
    bring it back, and the median is not pulled by one such neighbour."""
    sh = px[:, _SHOULDERS, :2]
    near = np.array([sh[j, ::-1] if flip[j] else sh[j] for j in range(max(0, t - _NEAR), min(len(px), t + _NEAR + 1))
                     if j != t])
    if not len(near) or not np.isfinite(sh[t]).all():
        return False
    with np.errstate(invalid="ignore"):
        ref = np.nanmedian(near, axis=0)
    if not np.isfinite(ref).all():
        return False
    return bool(np.linalg.norm(sh[t, ::-1] - ref, axis=-1).sum() < np.linalg.norm(sh[t] - ref, axis=-1).sum())


def undo_side_swaps(motion: Motion, scale: float) -> tuple[Motion, list[int]]:
    """A copy of ``motion`` with MediaPipe's left/right switches undone, and the frames mirrored.

    ``scale`` is the person's size in pixels (the box diagonal). Only what the evidence settles is
    mirrored: a clip without a face, or runs whose votes disagree, stay as MediaPipe read them.
    """
    out = motion.copy()
    votes = _faces_camera(motion)
    switches = switch_frames(motion.body_px, scale)
    # A turn of the nose's depth counts only where the shoulders jump too: MediaPipe changed its
    # reading there, not just its guess of the nose's depth.
    turns = vote_changes(votes)
    sh = np.asarray(motion.body_px, np.float64)[:, _SHOULDERS, :2]
    with np.errstate(invalid="ignore"):
        turns = turns[np.linalg.norm(sh[turns] - sh[turns - 1], axis=-1).sum(-1) > _STEP_SHARE * scale]
    cuts = np.union1d(switches, turns).astype(int)
    if len(cuts) == 0:
        return out, []
    bounds = [0, *cuts.tolist(), len(motion)]
    runs = [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    decide = _run_decisions(runs, votes, set(switches.tolist()))
    flip = np.zeros(len(motion), bool)
    for r, d in zip(runs, decide):
        flip[r] = d == 1
    px = np.asarray(motion.body_px, np.float64)
    flipped = [t for t in np.flatnonzero(flip) if _mirror_is_nearer(px, int(t), flip)]
    if flipped:
        mirror(out, flipped)
    return out, flipped
