"""How far the torso is turned, from MediaPipe's world pose checked against the picture.

The head fusion (:mod:`head_fusion`) lets the torso carry the head where no face is seen. The
torso's axes come from the 3D world pose, whose weakest part is depth: on a fast whole turn
it lags 10-20 degrees behind the body in back views, and when a head looks turned away it can
swap the body's left and right in one frame. Two checks against the picture fix most of it:

- :func:`sharpen_turn`: the shoulder line's apparent length says how far it is turned out of
  the picture. In units of the torso's apparent height (which a turn about the vertical does
  not change), it is the frontal ratio shoulder width / torso length (read off the world pose,
  where it does not depend on the view) times ``|left_xy|``, the part of the shoulder axis that
  lies in the picture; the torso's lean (``|down_xy|``) is accounted for the same way. The
  angle ``psi`` out of the picture follows as ``arccos |left_xy|``, whose error grows as
  ``1 / sin psi``: near frontal and back views the world pose's own angle counts more, weighted by
  inverse variance. The world pose still says which shoulder is nearer and which way the body faces,
  but not when that changes: :func:`facing_flips` moves each change to where the shoulders look
  widest, which is where the shoulder line passes parallel to the picture.
- the feet (:func:`feet_across`): heel to toe is the body's forward axis, so its length across the
  torso in the picture is ``foot * |sin psi|``: linear where the shoulders' ``cos psi`` is flat, near
  frontal and back views. There the world pose lags a whole turn by 15-20 degrees and the shoulders
  look wider than they are (MediaPipe places them wide from behind), while the feet read the back
  view within a few degrees. The foot's length in torso heights is measured on the clip's own
  frames where the shoulders read the turn well (``FOOT_RATIO`` where it has none); only feet seen
  in the picture count (a portrait's invented feet never do).
- :func:`steady_runs`: a torso that turns by more than ``MAX_TURN_DEG_PER_S`` between two frames
  has not turned; MediaPipe swapped it. Runs of frames between such jumps are told apart, so
  only the runs where the head was last measured on the torso are trusted.
"""
from __future__ import annotations

import numpy as np

# Spread of the shoulders' apparent width ratio (in |left_xy| units): its standard deviation over
# the public set's whole-body turn (-90 to 90 degrees) is 0.069.
SHOULDER_RATIO_SD = 0.07
# Spread of the world pose's angle out of the picture: 5.7 degrees rms on the public clips (no
# back views), 8-11 on whole turns that include them.
WORLD_TURN_SD_DEG = 15.0
# Faster than a pirouette (about 1000 deg/s): such a jump is MediaPipe swapping left and right.
MAX_TURN_DEG_PER_S = 1500.0
# How far (seconds) a change between facing and back view is moved to where the shoulders look widest.
FLIP_WINDOW_S = 0.2
WIDEST_TOLERANCE = 0.01  # apparent widths (in |left_xy|) this close to the widest count as widest
# Heel-to-toe (MediaPipe's heel and foot index) over the torso's apparent height: 0.40-0.43 measured on
# every turning clip (public and hard-case, four bodies); used where a clip never shows the shoulders turned.
FOOT_RATIO = 0.41
FOOT_SD = 0.06  # spread of the feet's |sin psi| reading (its residual on those clips: 0.03-0.06)
CALIBRATE_BELOW = 0.7  # frames whose shoulders look at most this share of frontal width calibrate the foot
CALIBRATE_MIN_S = 0.2  # ... when there are this many seconds of them
TORSO_HEIGHT_WINDOW_S = 1.0  # the torso's apparent height is the longest over this window (a bend shortens it)
_SH, _HP, _HEELS, _TOES = (11, 12), (23, 24), (29, 30), (31, 32)


def width_over_height(points: np.ndarray) -> np.ndarray:
    """``[T]`` shoulder width over the distance between the shoulders' and the hips' midpoints."""
    p = np.asarray(points, np.float64)
    width = np.linalg.norm(p[:, _SH[0]] - p[:, _SH[1]], axis=-1)
    height = np.linalg.norm(p[:, _SH].mean(1) - p[:, _HP].mean(1), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return width / height


def facing_flips(nearer_left: np.ndarray, in_picture: np.ndarray, window: int) -> np.ndarray:
    """``[T]`` signs of the shoulder axis' depth (+1: the left shoulder is farther), each change
    moved to the frame within ``window`` frames where the shoulders look widest.

    The shoulder line passes parallel to the picture (a frontal or back view) exactly where its
    depth changes sign, and that is where it looks longest. The world pose's depth lags on a fast
    turn, so its change of sign comes a few frames late; the picture says when it happened.
    """
    sign = np.where(np.asarray(nearer_left) >= 0, 1.0, -1.0)
    width = np.nan_to_num(np.asarray(in_picture, np.float64), nan=-1.0)
    out = sign.copy()
    for t in np.flatnonzero(sign[1:] != sign[:-1]):
        lo, hi = max(0, t - window), min(len(sign), t + 2 + window)
        # The middle of the widest stretch: near a back view the width is flat (a cosine) and clipped.
        widest = np.flatnonzero(width[lo:hi] >= width[lo:hi].max() - WIDEST_TOLERANCE)
        peak = lo + int(np.ceil(widest.mean()))
        out[lo:peak] = sign[t]
        out[peak:hi] = sign[t + 1]
    return out


def feet_across(body_px: np.ndarray, fps: float) -> np.ndarray:
    """``[T]`` heel-to-toe across the torso's axis in the picture (both feet averaged), in units of the
    torso's apparent height: the longest over ``TORSO_HEIGHT_WINDOW_S`` (a turn keeps it, a bend or a
    squat only shortens it). Signed; NaN where a point is missing."""
    from scipy.ndimage import maximum_filter1d

    p = np.asarray(body_px, np.float64)[..., :2]
    axis = p[:, _HP].mean(1) - p[:, _SH].mean(1)
    height = np.linalg.norm(axis, axis=1)
    have = np.isfinite(height) & (height > 0)
    if not have.any():
        return np.full(len(p), np.nan)
    idx = np.flatnonzero(have)
    longest = maximum_filter1d(height[idx], size=max(1, int(round(TORSO_HEIGHT_WINDOW_S * fps)) | 1), mode="nearest")
    height = np.interp(np.arange(len(p)), idx, longest)
    with np.errstate(invalid="ignore", divide="ignore"):
        across = np.stack([-axis[:, 1], axis[:, 0]], 1) / np.linalg.norm(axis, axis=1, keepdims=True)
        return np.sum((p[:, _TOES] - p[:, _HEELS]).mean(1) * across, axis=1) / height


def foot_ratio(across: np.ndarray, in_picture: np.ndarray, usable: np.ndarray, fps: float) -> float:
    """The foot's length in torso heights: ``sin^2 + cos^2 = 1`` solved over the frames whose
    shoulders read the turn well (the feet across, the shoulders' width); :data:`FOOT_RATIO` without
    them. NaN where the turned body shows under half that: those are not feet that were seen."""
    cal = usable & np.isfinite(across) & np.isfinite(in_picture) & (in_picture < CALIBRATE_BELOW)
    if cal.sum() < CALIBRATE_MIN_S * fps:
        return FOOT_RATIO
    ratio = float(np.sqrt(np.sum(across[cal] ** 2) / np.sum(1.0 - in_picture[cal] ** 2)))
    return ratio if ratio >= 0.5 * FOOT_RATIO else float("nan")


def sharpen_turn(torso: np.ndarray, body_px: np.ndarray, body_world: np.ndarray, fps: float = 25.0,
                 feet_seen: np.ndarray | None = None) -> np.ndarray:
    """``torso`` ``[T, 3, 3]`` (left, down, back columns) with its turn out of the picture set from
    the shoulders' foreshortening in ``body_px`` and the feet (on frames where ``feet_seen``, ``[T]``)
    where those are the more precise readings, and its frontal and back views placed where the
    shoulders look widest (:func:`facing_flips`)."""
    torso = np.asarray(torso, np.float64)
    left, down = torso[:, :, 0], torso[:, :, 1]
    frontal = np.nanmedian(width_over_height(body_world)) if np.isfinite(width_over_height(body_world)).any() else np.nan
    feet = feet_across(body_px, fps)
    use_feet = np.zeros(len(torso), bool) if feet_seen is None else np.asarray(feet_seen, bool) & np.isfinite(feet)
    with np.errstate(invalid="ignore", divide="ignore"):
        in_picture = np.clip(width_over_height(np.asarray(body_px)[..., :2]) / frontal
                             * np.linalg.norm(down[:, :2], axis=1), 0.0, 1.0)
        seen_psi = np.arccos(in_picture)
        world_psi = np.arcsin(np.clip(np.abs(left[:, 2]), 0.0, 1.0))
        w_seen = np.nan_to_num((np.sin(seen_psi) / SHOULDER_RATIO_SD) ** 2)
        w_world = 1.0 / np.radians(WORLD_TURN_SD_DEG) ** 2
        sin_feet = np.clip(np.abs(feet) / foot_ratio(feet, in_picture, use_feet, fps), 0.0, 1.0)
        use_feet &= np.isfinite(sin_feet)
        w_feet = np.where(use_feet, (1.0 - sin_feet ** 2) / FOOT_SD ** 2, 0.0)
        feet_psi = np.where(use_feet, np.arcsin(sin_feet), 0.0)
        psi = np.where(np.isfinite(seen_psi), (w_seen * np.nan_to_num(seen_psi) + w_world * world_psi + w_feet * feet_psi)
                       / (w_seen + w_world + w_feet), (w_world * world_psi + w_feet * feet_psi) / (w_world + w_feet))
        direction = left[:, :2] / np.linalg.norm(left[:, :2], axis=1, keepdims=True)
    sign = facing_flips(left[:, 2], in_picture, max(1, int(round(FLIP_WINDOW_S * fps))))
    new_left = np.concatenate([np.cos(psi)[:, None] * direction, (sign * np.sin(psi))[:, None]], 1)
    new_down = down - new_left * np.sum(down * new_left, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        new_down = new_down / np.linalg.norm(new_down, axis=1, keepdims=True)
    out = np.stack([new_left, new_down, np.cross(new_left, new_down)], axis=2)
    # Where the picture cannot say (no direction in the image), keep the world pose's axes.
    return np.where(np.isfinite(out).all((1, 2))[:, None, None], out, torso)


def steady_runs(yaw_deg: np.ndarray, valid: np.ndarray, fps: float) -> np.ndarray:
    """``[T]`` run labels (-1 where not ``valid``): a new run starts where the yaw jumps faster
    than ``MAX_TURN_DEG_PER_S`` since the previous valid frame."""
    labels = np.full(len(yaw_deg), -1)
    run, last = -1, None
    for t in np.flatnonzero(valid):
        if last is None or abs((yaw_deg[t] - yaw_deg[last] + 180.0) % 360.0 - 180.0) > MAX_TURN_DEG_PER_S * (t - last) / fps:
            run += 1
        labels[t], last = run, t
    return labels
