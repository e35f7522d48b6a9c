"""Head pose all round: the face, the Pose head points and the torso, blended per frame and in time.

Three per-frame estimates of the head's rotation, each good somewhere:

- the **face** fit (FaceMesh, :func:`head_pose.fit_head`): precise while the face is seen
  frontally, but it flattens toward a frontal face as the head turns past ~50 degrees: its
  yaw tops out near 60 however far the head turns, and beyond it even falls back (a 77
  degree turn read as 48);
- the **head-point** fit (nose, eyes, ears and mouth of MediaPipe Pose): coarse in pitch but
  it keeps following the yaw toward profile, where the ears carry it (past ~60 degrees it barely
  tells a further turn apart: its readings past ``POINT_YAW_CAP_DEG`` count as that);
- the **torso** (shoulders and hips of the 3D world pose, its turn checked against the
  shoulders' foreshortening and the feet in the picture by :mod:`torso_turn`): always there while
  a person is tracked, including back views where neither fit holds. It says where the body faces,
  not the head, so it is corrected by the head-on-torso turn measured where the face held (its yaw
  a median over the nearest measured frames). Where the face's yaw has no weight it shares the yaw
  only once the body has turned since then (a head turning on a still body leaves that measurement
  behind; less turn will do where the head points agree with it), and never across a jump no body
  makes (MediaPipe swapping left and right when the head looks turned away). Sharing, it replaces
  the head points, which over-read a turned head and stick near 180 behind it. Its yaw is moved half
  a frame ahead along its turn, which MediaPipe's pose trails.

Each source gets a weight per frame (the face fades out between ``FACE_FULL_DEG`` and
``FACE_NONE_DEG`` of yaw, in the yaw itself already by ``FACE_YAW_NONE_DEG`` judged by the fit
that reads the head more turned, down to a floor in front of profile set by how far the head points
over-read the face, in the pitch over ``FACE_PITCH_DEG`` of pitch judged likewise, since FaceMesh
flattens a deep bow as it does a far turn; the torso only fills in), and every weight ramps in and
out over ``FADE_S`` seconds where its source appears or disappears, so the blend never jumps. Each
angle is averaged on the circle with its own weights (the head points count in yaw, hardly in
pitch). Yaw is then unwrapped in time, so a whole turn reads
0 -> 180 -> 360 instead of jumping from +180 to -180. Yaw and pitch are then made tracks in time by :mod:`yaw_track`:
anchored where the face reads steadily, bending least elsewhere (a quick look aside the face saturates on is carried
by its trend).

The sphere's centre and steady size come from the fits with these weights (:mod:`head_size`).
"""
from __future__ import annotations

import numpy as np

from .head_pose import angles_from_rotation, rotation_from_angles
from .head_size import hold_nearest, sphere_track
from .point_sources import MEDIAPIPE, PointSource
from .torso_turn import sharpen_turn, steady_runs
from .yaw_track import smooth_pitch, smooth_yaw, unbow_point_yaw

FACE_FULL_DEG, FACE_NONE_DEG = 45.0, 75.0  # face weight 1 below, 0 above (yaw, from the head-point fit)
FACE_YAW_NONE_DEG = 65.0  # ...in yaw itself gone by this turn, judged by the fit that reads the head more turned
# ...but in front of profile it keeps a share of it that cancels the head points' over-read (see _face_yaw_floor):
FACE_DEFICIT_DEG = 25.0  # how far a saturated face reads short of a head turned 75-90 degrees (measured 18-27)
EXCESS_FACE_DEG = (15.0, 45.0)  # the points' over-read is measured where the face reads this far (it holds there)
FACE_PITCH_DEG = (25.0, 45.0)  # ...in pitch full below, gone above this pitch, judged by the fit that reads it larger
POINT_WEIGHTS = (0.1, 0.05, 0.05)  # head-point fit (yaw, pitch, roll) against a full-weight face
TORSO_WEIGHT = 0.02  # the torso only fills in where neither fit holds...
TORSO_WITHOUT_FACE = True
TORSO_FILL_YAW = 0.01  # ...in yaw less still: its head-on-torso turn is a median that lags a head turning on its body
BEHIND_DEG = (100.0, 120.0)  # ...until the head points say the head is turned away this far
BODY_TURN_DEG = (15.0, 45.0)  # ...or, with no face, the body has turned this far since the head was measured on it
AGREE_DEG = (15.0, 30.0)  # ...or, with no face, the head points and the torso agree within this (full, none)
TORSO_SHARE_WEIGHT = 0.4  # the torso's yaw weight where it shares: 4x the head points (see fuse_head)
NECK_WINDOW_S = 0.4  # the head-on-torso yaw is the median of this many seconds of measured frames
# ...taken as none below this: on a fast turn the face misreads the head by up to 10-15 degrees (a frame
# late where FaceMesh picks it up, over-read at 20-45, saturated near 50) and the torso by up to 5, so a
# smaller head-on-torso turn measured there is their error (10 kept one such: a 360 turn at 9.7 degrees).
NECK_DEADBAND_DEG = 15.0
# MediaPipe's pose trails a turning body by about half a frame (its own filter between video frames): on the
# whole turns of the hard-case set and its variants the torso read 3.3-3.6 degrees behind at 9.2 deg/frame
# (the unsharpened world pose more); the torso's yaw is moved ahead by this many frames of its own speed.
TORSO_LEAD_FRAMES = 0.5
# Past ~60 degrees MediaPipe's head points hardly move as the head turns further: the nose-to-near-ear distance
# peaks near 50-55 degrees and the far eye, ear and mouth corner are drawn, not seen (on the hard-case portrait
# and its variants the far-to-near eye and ear gaps follow 55-95 degree turns with a correlation of 0.3-0.4 within
# a clip). Their fit then reads 60-90 degree turns as 73-79, 6-8 degrees apart, and a reading past this is that
# scatter, not more turn: in the blend it counts as this, the middle of the span it cannot tell apart. (Up to
# BEHIND_DEG's end; the readings that judge weights keep their own value.)
POINT_YAW_CAP_DEG = 75.0
LONE_FACE_DEG = 45.0  # a face with no head points, this far off the torso's head, is not a face (see fuse_head)
FADE_S = 0.2  # seconds over which a source's weight ramps in or out
_SHOULDERS, _HIPS, _FEET = (11, 12), (23, 24), (29, 30, 31, 32)


def torso_rotations(body_world: np.ndarray) -> np.ndarray:
    """``[T, 3, 3]`` torso axes (left, down, back as columns; camera axes), NaN where unknown.

    Left is the shoulder and hip lines together, down runs from the shoulders' to the hips'
    midpoint (made square to left), back completes a right-handed frame as the head's does.
    """
    w = np.asarray(body_world, dtype=np.float64)
    left = (w[:, 11] - w[:, 12]) + (w[:, 23] - w[:, 24])
    down = w[:, _HIPS].mean(1) - w[:, _SHOULDERS].mean(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        left = left / np.linalg.norm(left, axis=1, keepdims=True)
        down = down - left * np.sum(down * left, axis=1, keepdims=True)
        down = down / np.linalg.norm(down, axis=1, keepdims=True)
    return np.stack([left, down, np.cross(left, down)], axis=2)


def fade(valid: np.ndarray, frames: int) -> np.ndarray:
    """``[T]`` weights in [0, 1]: 1 inside a run of valid frames, ramping to 0 over ``frames``
    toward where the run ends (the clip's own ends count as valid beyond)."""
    valid = np.asarray(valid, bool)
    n = len(valid)
    dist = np.full(n, np.inf)
    for order in (range(n), range(n - 1, -1, -1)):
        last = np.inf
        for t in order:
            last = 0.0 if not valid[t] else last + 1.0
            dist[t] = min(dist[t], last)
    return np.where(valid, np.minimum(1.0, dist / max(frames, 1)), 0.0)


def face_weight(turn_deg: np.ndarray, none_deg: float = FACE_NONE_DEG, full_deg: float = FACE_FULL_DEG) -> np.ndarray:
    """Weight of the face fit by how far the head is turned: 1 up to ``full_deg``, 0 from ``none_deg``."""
    a = np.abs(np.nan_to_num(turn_deg, nan=0.0))
    return np.clip((none_deg - a) / (none_deg - full_deg), 0.0, 1.0)


def blend_angles(angles: list[np.ndarray], weights: list[np.ndarray]) -> np.ndarray:
    """Per-frame weighted circular mean ``[T, 3]`` of several (yaw, pitch, roll) tracks in degrees.

    ``weights`` holds one ``[T, 3]`` (or ``[T]``) array per track: each angle has its own, since
    the head-point fit is good in yaw and poor in pitch. NaN where no track has weight.
    """
    s = c = 0.0
    for a, w in zip(angles, weights):
        w = np.broadcast_to(np.asarray(w, np.float64).reshape(len(a), -1), a.shape)
        ok = np.isfinite(a) & (w > 0)
        rad = np.radians(np.where(ok, a, 0.0))
        s = s + np.where(ok, w * np.sin(rad), 0.0)
        c = c + np.where(ok, w * np.cos(rad), 0.0)
    out = np.degrees(np.arctan2(s, c))
    return np.where((np.abs(s) + np.abs(c)) > 0, out, np.nan)


def _angles(rotations: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) ``[T, 3]`` of rotation matrices ``[T, 3, 3]``, NaN where unknown."""
    out = np.full((len(rotations), 3), np.nan)
    ok = np.isfinite(rotations).all((1, 2))
    if ok.any():
        out[ok] = angles_from_rotation(rotations[ok])
    return out


def _larger_reading(face_a: np.ndarray, point_a: np.ndarray, axis: int) -> np.ndarray:
    """``[T]`` the larger magnitude of one angle as the face and the head-point fits read it (the
    face's own reading where the head-point fit has none): FaceMesh flattens far turns and deep
    bows toward a frontal face, so its own reading cannot tell when it is wrong."""
    both = np.isfinite(face_a).all(1) & np.isfinite(point_a).all(1)
    return np.where(both, np.maximum(np.abs(face_a[:, axis]), np.abs(point_a[:, axis])), face_a[:, axis])


def _face_yaw_floor(face_a: np.ndarray, point_a: np.ndarray) -> float:
    """The face's least yaw weight in front of profile (against the head points' ``POINT_WEIGHTS[0]``).

    Past ~65 degrees the two fits err in opposite directions: FaceMesh saturates and reads short (by
    ``FACE_DEFICIT_DEG`` at 75-90 degrees), while MediaPipe's head points read the head too far turned on
    some heads and looks and not on others (measured where the face holds, 15-45 degrees: 0.4-2.6 degrees
    more than the face on the shared clips, 6-12 on the hard-case portrait and its variants, where they
    over-read 55-85 degree turns by up to 20). The face gets the share ``E / (E + D)`` of the yaw that
    cancels the two: none where the points agree with the face, a third where they over-read it by 12.
    """
    f, p = np.nan_to_num(face_a[:, 0]), np.nan_to_num(point_a[:, 0])
    both = np.isfinite(face_a[:, 0]) & np.isfinite(point_a[:, 0]) & (np.sign(f) == np.sign(p))
    use = both & (np.abs(f) >= EXCESS_FACE_DEG[0]) & (np.abs(f) <= EXCESS_FACE_DEG[1])
    if use.sum() < 3:
        return 0.0
    excess = max(0.0, float(np.median(np.abs(p[use]) - np.abs(f[use]))))
    return POINT_WEIGHTS[0] * excess / FACE_DEFICIT_DEG


def _cap_point_yaw(point_a: np.ndarray) -> np.ndarray:
    """``point_a`` ``[T, 3]`` with the yaws between ``POINT_YAW_CAP_DEG`` and ``BEHIND_DEG[1]`` (either side)
    read as ``POINT_YAW_CAP_DEG``: past it the head points no longer tell a further turn apart."""
    out = np.array(point_a, np.float64)
    y = np.nan_to_num(out[:, 0])
    over = (np.abs(y) > POINT_YAW_CAP_DEG) & (np.abs(y) < BEHIND_DEG[1])
    out[over, 0] = np.sign(y[over]) * POINT_YAW_CAP_DEG
    return out


def _gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[T]`` absolute angle differences (degrees) the short way round; NaN where either is."""
    return np.abs((np.asarray(a, np.float64) - b + 180.0) % 360.0 - 180.0)


def _hold_sides(values: np.ndarray, have: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[T]`` values of the last and of the next row where ``have`` is True (NaN where none)."""
    pos = np.arange(len(values))
    last = np.maximum.accumulate(np.where(have, pos, -1))
    nxt = np.minimum.accumulate(np.where(have, pos, len(values))[::-1])[::-1]
    pad = np.append(np.asarray(values, np.float64), np.nan)
    return pad[np.where(last >= 0, last, len(values))], pad[nxt]


def _steady_neck(neck: np.ndarray, measured: np.ndarray, fps: float) -> np.ndarray:
    """``[T, 3, 3]`` head-on-torso rotations held from the nearest ``measured`` frame, with the yaw
    replaced by the median over the ``NECK_WINDOW_S`` worth of measured frames nearest in time (none where
    that is under ``NECK_DEADBAND_DEG``).

    One frame's measurement carries that frame's face error: FaceMesh picking a face up again on a
    fast turn lags it by a frame (10-20 degrees at 230-340 deg/s), which a single frame would then
    hold over a whole back view. Where the nearest run of measured frames is shorter than the
    window, the next nearest frames fill it in. (Pitch and roll stay the nearest frame's.)
    """
    idx = np.flatnonzero(measured)
    yaw = _angles(neck[idx])[:, 0]
    k = min(len(idx), max(1, int(round(NECK_WINDOW_S * fps))))
    steady = np.empty(len(neck))
    for t in range(len(neck)):
        lo = hi = int(np.searchsorted(idx, t))  # the window idx[lo:hi] grows toward the nearer side
        while hi - lo < k:
            if hi < len(idx) and (lo == 0 or idx[hi] - t <= t - idx[lo - 1]):
                hi += 1
            else:
                lo -= 1
        steady[t] = np.median(yaw[lo:hi])
    steady = np.where(np.abs(steady) < NECK_DEADBAND_DEG, 0.0, steady)
    a = _angles(hold_nearest(neck, measured))
    return rotation_from_angles(steady, a[:, 1], a[:, 2])


def _lead_turn(torso: np.ndarray, valid: np.ndarray, fps: float) -> np.ndarray:
    """``torso`` ``[T, 3, 3]`` with its yaw moved ``TORSO_LEAD_FRAMES`` ahead along its own turning speed
    (central differences within each :func:`steady_runs` run of ``valid`` frames, none across a swap)."""
    a = _angles(torso)
    ok = np.asarray(valid, bool) & np.isfinite(a).all(1)
    runs = steady_runs(a[:, 0], ok, fps)
    speed = np.zeros(len(a))  # degrees per frame
    for run in np.unique(runs[ok]):
        idx = np.flatnonzero(runs == run)
        if len(idx) >= 3:
            speed[idx] = np.gradient(np.degrees(np.unwrap(np.radians(a[idx, 0]))), idx)
    out = np.array(torso, np.float64)
    if ok.any():
        out[ok] = rotation_from_angles(a[ok, 0] + TORSO_LEAD_FRAMES * speed[ok], a[ok, 1], a[ok, 2])
    return out


def fuse_head(face_fit: dict, point_fit: dict, body_world: np.ndarray, body_px: np.ndarray, seen: np.ndarray,
              fps: float, face_collapsed: np.ndarray | None = None, rough_rotation: np.ndarray | None = None,
              point_textbook_yaw: np.ndarray | None = None, points: PointSource = MEDIAPIPE) -> dict:
    """Blend the per-frame fits into one head track.

    ``face_fit`` / ``point_fit``: ``{"rotation" [T,3,3], "center_px" [T,2], "radius_px" [T]}``
    (NaN where the fit failed); ``seen`` ``[T, 33]`` the reliable landmarks (the torso counts
    only where shoulders and hips are seen: a portrait's hips are invented); ``face_collapsed`` ``[T]``
    the frames whose face mesh collapsed (:func:`head_depth.collapsed_faces`; none if not given), which
    place the sphere but do not size it. Returns ``{"rotation", "angles", "center_px", "radius_px",
    "source", "scale"}`` with a value on every frame that has a body pose (``scale``, one for the clip, is
    :func:`head_size.sphere_track`'s); ``source`` names the
    source with the largest weight per frame ("face", "body", "torso" or "none"), or "held" where a tracked
    person's head had none: its angles are then ``rough_rotation``'s ``[T, 3, 3]`` (head-point fits kept
    despite a large reprojection error; NaN where none) or else interpolated from the frames around.
    ``point_textbook_yaw`` ``[T]``: the head points' yaw fitted on the textbook points, where ``point_fit``'s
    is read on the turned ones (:func:`head_pose.estimate_head`); the face's floor in front of profile
    measures their over-read on it (``point_fit``'s own yaw if not given). ``points``: the record of the keypoint
    source that drew the head points (:mod:`point_sources`), for the sphere's typical scale and whether their yaw
    saturates.
    """
    n = len(body_world)
    ramp = max(1, int(round(FADE_S * fps)))
    face_a, point_a = _angles(face_fit["rotation"]), _angles(point_fit["rotation"])
    # On a bowed head the face has lost, the points' yaw less their over-read beside the face (yaw_track).
    point_a = unbow_point_yaw(point_a, face_a[:, 0])
    have_f, have_p = np.isfinite(face_a).all(1), np.isfinite(point_a).all(1)
    # The face reads a turned head as less turned, the head points as more: judge by both.
    turn = np.where(have_p & have_f, 0.5 * (np.abs(face_a[:, 0]) + np.abs(point_a[:, 0])), face_a[:, 0])
    w_face = fade(have_f, ramp) * face_weight(turn)
    # FaceMesh's yaw tops out near 60 degrees however far the head turns (beyond, it even falls
    # back), so its own reading cannot tell when it is wrong: for the yaw itself the face is judged
    # by whichever fit reads the head more turned, and is gone by FACE_YAW_NONE_DEG. (Its pitch and
    # roll, the sphere and the head-on-torso turn keep the weight above.)
    larger_yaw = _larger_reading(face_a, point_a, 0)
    w_face_yaw = fade(have_f, ramp) * face_weight(larger_yaw, FACE_YAW_NONE_DEG)
    # Its pitch flattens the same way on a head bowed far down (a -54 degree bow read as -37): the
    # face is foreshortened top to bottom and FaceMesh draws it more frontal than it is.
    w_face_pitch = fade(have_f, ramp) * face_weight(_larger_reading(face_a, point_a, 1), FACE_PITCH_DEG[1],
                                                    FACE_PITCH_DEG[0])
    w_point = fade(have_p, ramp)[:, None] * np.array(POINT_WEIGHTS)
    point_blend = _cap_point_yaw(point_a) if points.yaw_saturates else point_a
    fitted = blend_angles([face_a, point_blend], [w_face, w_point])
    have_fit = np.isfinite(fitted).all(1)

    # The torso (its turn checked against the shoulders in the picture), turned by the head-on-torso
    # rotation of the nearest frame where the face held.
    have_t = np.asarray(seen)[:, list(_SHOULDERS + _HIPS)].all(1)
    torso = sharpen_turn(torso_rotations(body_world), body_px, body_world, fps, np.asarray(seen)[:, list(_FEET)].all(1))
    have_t &= np.isfinite(torso).all((1, 2))
    torso = _lead_turn(torso, have_t, fps)
    body_yaw = _angles(torso)[:, 0]
    both = have_fit & have_t & (w_face >= 0.5)
    torso_a = np.full((n, 3), np.nan)
    turned, since = np.ones(n), np.full(n, np.inf)
    if both.any():
        # Only the runs of frames joined to where the head was measured on the torso: the others
        # lie beyond a left-right swap of MediaPipe's body.
        runs = steady_runs(body_yaw, have_t, fps)
        have_t &= np.isin(runs, runs[both])
        fitted_r = np.tile(np.eye(3), (n, 1, 1))
        fitted_r[both] = rotation_from_angles(*fitted[both].T)
        neck = np.einsum("tji,tjk->tik", np.where(both[:, None, None], torso, 0.0), fitted_r)
        torso = np.einsum("tij,tjk->tik", torso, _steady_neck(neck, both, fps))
        # The held head-on-torso turn says where the head is only while the body turns with it;
        # a head turning on a still body leaves it behind. The body's turn is counted from the
        # measurements on both sides (a whole turn comes back to where the next one is made).
        since = np.zeros(n)
        for held in _hold_sides(body_yaw, both):
            since = np.fmax(since, np.abs((body_yaw - held + 180.0) % 360.0 - 180.0))
        turned = np.clip((since - BODY_TURN_DEG[0]) / (BODY_TURN_DEG[1] - BODY_TURN_DEG[0]), 0.0, 1.0)
    torso_a[have_t] = _angles(torso[have_t])
    # Past profile the head points are guesses too (the nose and eyes are hidden): there the
    # torso and the head points, which err independently, share the yaw.
    behind = np.clip((np.abs(np.nan_to_num(point_a[:, 0])) - BEHIND_DEG[0]) / (BEHIND_DEG[1] - BEHIND_DEG[0]), 0, 1)
    # Where the head points agree with the torso (within their own 10-25 degree error past 50 degrees
    # of yaw), a body that has turned at all since the face held is turning with the head: it needs
    # only up to BODY_TURN_DEG[0] of turn, not BODY_TURN_DEG[1]. (A still body never qualifies.)
    agree = np.clip((AGREE_DEG[1] - _gap(point_a[:, 0], torso_a[:, 0])) / (AGREE_DEG[1] - AGREE_DEG[0]), 0.0, 1.0)
    turned = np.maximum(turned, np.nan_to_num(agree) * np.clip(since / BODY_TURN_DEG[0], 0.0, 1.0))
    share = np.maximum(behind, turned * (1.0 - w_face_yaw)) if TORSO_WITHOUT_FACE else behind
    # Sharing, the torso weighs more than the head points: its shoulders and feet read a turned body
    # within ~5 degrees, where the head points over-read 50-85 degrees by up to 25 and stick near 180
    # in back views (measured on the whole turns of the public and hard-case sets).
    w_torso = have_t[:, None] * np.stack([TORSO_FILL_YAW + share * (TORSO_SHARE_WEIGHT - TORSO_FILL_YAW),
                                          np.full(n, TORSO_WEIGHT), np.full(n, TORSO_WEIGHT)], 1)
    # FaceMesh can find a "face" on the back of a spinning head where the Pose head points fail (a
    # 115-degree turn read as 35): a face no head point backs, far off where the torso carries the
    # head, is dropped.
    lone = have_f & ~have_p & (np.nan_to_num(_gap(face_a[:, 0], torso_a[:, 0])) > LONE_FACE_DEG)
    w_face, w_face_yaw, w_face_pitch = (np.where(lone, 0.0, w) for w in (w_face, w_face_yaw, w_face_pitch))
    # Where the torso shares the yaw the head points give way to it: past profile they stick near 180 and
    # only made up for the torso trailing the turn, which it no longer does (TORSO_LEAD_FRAMES). The sphere
    # gives them up there too (below): their size behind the head is as much a guess (360 turns' radius
    # spread x1.06-1.13 -> x1.04-1.05 on the hard set and held-out variants; one variant x1.20 either way).
    w_point = w_point * np.stack([1.0 - share * have_t, np.ones(n), np.ones(n)], 1)
    weights = [w_face, w_point[:, 0], w_torso[:, 0]]
    # A saturated face still says the head is at least that turned, where the head points over-read it. Their
    # over-read is measured on the textbook points' yaw: in front of profile, where it is cancelled, theirs is
    # still that reading (head_pose.TURNED_POINTS_DEG).
    textbook_a = point_a if point_textbook_yaw is None else np.c_[point_textbook_yaw, point_a[:, 1:]]
    floor = np.where(~lone & (np.abs(np.nan_to_num(larger_yaw)) < 90.0),
                     _face_yaw_floor(face_a, textbook_a) * fade(have_f, ramp), 0.0)
    collapsed = np.zeros(n, bool) if face_collapsed is None else np.asarray(face_collapsed, bool)
    # A mesh that collapsed near frontal (its landmarks crowded into the middle of the face, face_collapsed) has
    # lost the cheeks' and eye corners' left-right depth its yaw rests on: it swung 15-35 degrees on a head held
    # at 24 while the head points read it within 5 (a held-out walk). Its yaw is left to them there.
    shrunk = collapsed & (np.abs(np.nan_to_num(larger_yaw)) < FACE_FULL_DEG)
    w_face_angles = np.stack([np.where(shrunk, 0.0, np.maximum(w_face_yaw, floor)), np.minimum(w_face, w_face_pitch),
                              w_face], 1)
    angles = blend_angles([face_a, point_blend, torso_a], [w_face_angles, w_point, w_torso])
    have = np.isfinite(angles).all(1)
    if have.any():  # continuous through +-180: a whole turn reads 0 -> 360
        angles[have, 0] = np.degrees(np.unwrap(np.radians(angles[have, 0])))

    collapsed = np.zeros(n, bool) if face_collapsed is None else np.asarray(face_collapsed, bool)
    center, radius, scale = sphere_track(face_fit, point_fit, w_face, w_point, body_px, fps, collapsed, points)
    tracked = np.isfinite(body_px[..., :2]).all((1, 2))
    stack = np.stack(weights)
    source = [("face", "body", "torso")[int(np.argmax(stack[:, i]))] if have[i] and stack[:, i].max() > 0 else "none"
              for i in range(n)]
    # A tracked person whose head no source reads (a portrait near profile, where FaceMesh is lost and
    # MediaPipe's head points fit no head: 5 of 40 frames of a held-out +-80 degree portrait) still has a
    # head: the head points' loose fit (failing only the reprojection check) reads it where there is one,
    # as it turns past the extreme the frames around never reach; else the angles are interpolated.
    held = tracked & ~have
    if held.any() and have.any():
        idx, pos = np.flatnonzero(have), np.flatnonzero(held)
        angles[held] = np.stack([np.interp(pos, idx, angles[idx, j]) for j in range(3)], 1)
        if rough_rotation is not None:
            loose = _angles(np.asarray(rough_rotation)[pos])
            loose = _cap_point_yaw(loose) if points.yaw_saturates else loose
            fit = np.isfinite(loose).all(1)
            # Yaw on the unwrapped track's turn (the interpolated value's), so +-180 stays continuous.
            loose[:, 0] = angles[pos, 0] + (loose[:, 0] - angles[pos, 0] + 180.0) % 360.0 - 180.0
            angles[pos[fit]] = loose[fit]
        have = have | held
        for i in pos:
            source[i] = "held"
    # Yaw and pitch as tracks in time: anchored where the face reads steadily, bending least elsewhere (yaw_track).
    face = np.where(lone[:, None], np.nan, face_a)
    angles[have, 0] = smooth_yaw(np.where(have, angles[:, 0], np.nan), face[:, 0], point_a[:, 0], fps)[have]
    angles[have, 1] = smooth_pitch(np.where(have, angles[:, 1], np.nan), face[:, 1], fps)[have]
    rotation = np.full((n, 3, 3), np.nan)
    rotation[have] = rotation_from_angles(*angles[have].T)
    keep = have & (tracked | have_f | have_p) & np.isfinite(radius) & np.isfinite(center).all(1)
    rotation[~keep], angles[~keep], center[~keep], radius[~keep] = np.nan, np.nan, np.nan, np.nan
    return {"rotation": rotation, "angles": angles, "center_px": center, "radius_px": radius,
            "source": [s if k else "none" for s, k in zip(source, keep)], "scale": scale}
