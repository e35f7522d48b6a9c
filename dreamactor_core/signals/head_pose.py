"""Head pose for the 3D head sphere: rotation, centre, size and gaze per frame.

The face landmarks (``Motion.face_px``) are fitted (:mod:`pose_fit`: every frame at once) against the
canonical head of :mod:`face_geometry` under a pinhole camera whose focal length is a
guess from the image size (a ~40 degree field of view on the longer side). Because the
canonical points are expressed around the head-sphere centre, the fitted translation
IS the sphere centre in camera coordinates, and the fitted rotation has the head's
(left, down, back) axes as columns, which is ``Motion.head_rotation``.

A second pass fits each face again with the head's distance held at the clip's steady one
(a running median, :func:`steady_depth`): on small faces the free fit trades pitch for
distance (:mod:`head_depth`). That pass uses every FaceMesh landmark measured on the head
(:func:`face_geometry.face_mesh_model`, some three hundred: twelve leave a small face's pitch
nearly free) and sets the pitch, roll and sphere; yaw keeps the free fit's (a free fit on all of them read
the yaw no better: the squat 4.9 -> 5.5 degrees). A collapsed mesh (:func:`head_depth.collapsed_faces`,
the face reading the head far smaller than the Pose head points) whose refit is far off the head-point
fit is dropped; ``meta["head_face_health"]`` records the flag per frame.

When the face is lost the same fit runs on the MediaPipe Pose head points (nose, eyes, ears, mouth corners in
``Motion.body_px``); such frames are flagged ``"body"`` in ``motion.meta["head_source"]``. Where the motion's
keypoint source draws them off the textbook head (``meta["source"]``'s record in :mod:`point_sources`: MediaPipe),
that fit's yaw is read again on the points where it draws them on a turned head
(:func:`face_geometry.pose_head_turned_model`, up to ``TURNED_POINTS_DEG``). The body fit also vets the face
fit: near profile FaceMesh keeps returning a face whose landmarks are wrong, and a face fit far from the body
fit is discarded for it. Gaze (eye yaw/pitch relative to the head) comes from the iris centres, only where the
face mesh was found.

Angles follow the synthetic data's convention, relative to the CAMERA axes:
``R = Ry(-yaw) @ Rx(-pitch) @ Rz(roll)``; yaw > 0 turns to the subject's left,
pitch > 0 looks up, roll > 0 tilts toward the subject's left shoulder.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..utils import DreamActorError
from . import face_geometry as geo
from .head_depth import collapsed_faces, refit_at_depth, refit_at_depth_batch, steady_depth  # noqa: F401 (re-exported)
from .motion import Motion
from .point_sources import point_source
from .pose_fit import fit_poses, refine_poses

# Field of view assumed on the longer image side when no focal length is given.
DEFAULT_FOV_DEG = 40.0
# Fits whose RMS reprojection error exceeds this fraction of the projected head radius are rejected.
MAX_RMS_FRACTION = 0.12
# A face fit that disagrees with the body-landmark fit by more than this is discarded. On the
# synthetic clips good face fits stay within ~16 degrees of the body fit; broken ones (profile
# views) differ by 35-110 degrees.
MAX_FACE_BODY_GAP_DEG = 30.0
# ... when the body fit says the head is turned at least this far (FaceMesh breaks in profiles).
PROFILE_YAW_DEG = 50.0
# The head points' yaw is read again on the points as MediaPipe draws them on a turned head
# (face_geometry.pose_head_turned_model, measured on 15-90 degree turns) up to the first of these turns and
# not past the second: beyond ~50 degrees its far side is hidden and guessed, and that model reads no better
# than the textbook one (over the shared, hard-case and held-out clips, 50-80 degree turns +8.1 -> +8.9).
TURNED_POINTS_DEG = (45.0, 60.0)
# Gaze is clamped to what eyes can physically do.
MAX_GAZE_DEG = 45.0


def default_focal_px(width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG) -> float:
    """Focal length in pixels for a field of view of ``fov_deg`` across the longer image side."""
    return 0.5 * max(width, height) / math.tan(math.radians(fov_deg) / 2.0)


def camera_matrix(width: int, height: int, focal_px: float) -> np.ndarray:
    """Pinhole intrinsics with the principal point at the image centre (OpenCV pixel centres)."""
    return np.array([[focal_px, 0.0, (width - 1) / 2.0], [0.0, focal_px, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def angles_from_rotation(r: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) degrees ``[..., 3]`` of head rotations ``[..., 3, 3]``, ``R = Ry(-yaw) Rx(-pitch) Rz(roll)``.

    Element-wise formulas, so one frame costs what it did as matrices and a clip is one call."""
    r = np.asarray(r, dtype=np.float64)
    f = -r[..., :, 2]  # the face looks along -back
    yaw = np.arctan2(f[..., 0], -f[..., 2])
    pitch = np.arctan2(-f[..., 1], np.hypot(f[..., 0], f[..., 2]))
    # Undo yaw and pitch (Rx(pitch) Ry(yaw) R); what is left is a rotation about the camera z axis, whose
    # first column is (cos roll, sin roll, 0).
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    x, y, z = r[..., 0, 0], r[..., 1, 0], r[..., 2, 0]
    roll = np.arctan2(sp * sy * x + cp * y - sp * cy * z, cy * x + sy * z)
    return np.degrees(np.stack([yaw, pitch, roll], -1))


def rotation_from_angles(yaw_deg, pitch_deg, roll_deg) -> np.ndarray:
    """Inverse of :func:`angles_from_rotation`: ``[..., 3, 3]`` for angles of any (broadcast) shape."""
    y, p, r = np.radians(yaw_deg), np.radians(pitch_deg), np.radians(roll_deg)
    cy, sy, cp, sp, cr, sr = np.cos(y), np.sin(y), np.cos(p), np.sin(p), np.cos(r), np.sin(r)
    rows = (cy * cr + sy * sp * sr, sy * sp * cr - cy * sr, -sy * cp,
            cp * sr, cp * cr, sp,
            sy * cr - cy * sp * sr, -sy * sr - cy * sp * cr, cy * cp)
    out = np.empty((*np.broadcast_shapes(*(np.shape(v) for v in rows)), 9))
    for j, v in enumerate(rows):
        out[..., j] = v
    return out.reshape(*out.shape[:-1], 3, 3)


def _yaw_deg(r: np.ndarray) -> np.ndarray:
    """The yaw of :func:`angles_from_rotation`, alone (``[...]`` for ``[..., 3, 3]``)."""
    return np.degrees(np.arctan2(-r[..., 0, 2], r[..., 2, 2]))


def _rotation_gap_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees of the rotation between ``a`` and ``b`` (``[..., 3, 3]`` each; NaN where either is)."""
    cos = ((a * b).sum((-2, -1)) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _project(k: np.ndarray, pts_cam: np.ndarray) -> np.ndarray:
    uvw = pts_cam @ k.T
    return uvw[..., :2] / uvw[..., 2:3]


def fit_head(image_pts: np.ndarray, model_pts: np.ndarray,
             k: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Rotation ``[3,3]`` (head -> camera), head-centre translation ``[3]`` (mm) and RMS reprojection
    error (pixels): one frame of :func:`pose_fit.fit_poses` (SQPnP, then Levenberg-Marquardt).

    ``image_pts`` ``[N, 2]`` pixels, ``model_pts`` ``[N, 3]`` head-frame mm. Non-finite
    rows are dropped. Returns None when too few points remain, the fit fails or puts the
    head behind the camera. The caller judges the error (:func:`fits_well`): a fit that fails
    that check is still worth something where nothing else reads the head.
    """
    rot, t, rms = fit_poses(np.asarray(image_pts, np.float64)[None, :, :2], model_pts, k)
    return None if np.isnan(rms[0]) else (rot[0], t[0], float(rms[0]))


def fits_well(fit: tuple[np.ndarray, np.ndarray, float] | None, k: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``fit``'s (rotation, translation) where :func:`fit_head` found one whose reprojection error is
    at most ``MAX_RMS_FRACTION`` of the projected head radius, else None."""
    if fit is None or not _fit_well(fit[1], np.float64(fit[2]), k):
        return None
    return fit[0], fit[1]


def _fit_well(t: np.ndarray, rms: np.ndarray, k: np.ndarray) -> np.ndarray:
    """:func:`fits_well`'s check for fits ``t`` ``[..., 3]``, ``rms`` ``[...]``: False where there is no fit (NaN)."""
    return rms <= MAX_RMS_FRACTION * k[0, 0] * geo.HEAD_RADIUS_MM / t[..., 2]


def _turned_points_yaw(image_pts: np.ndarray, rotation: np.ndarray, translation: np.ndarray, k: np.ndarray,
                       turned_model: Callable[[float], np.ndarray]) -> np.ndarray:
    """``rotation`` ``[N, 3, 3]`` (the head-point fits', ``translation`` ``[N, 3]``, on ``image_pts`` ``[N, M, 2]``)
    with its yaw read again on the points where their source draws them on a head turned that far
    (``turned_model``, MediaPipe's up to :data:`TURNED_POINTS_DEG`); its pitch and roll are kept. The refit starts
    from the textbook fit (the two models differ by a few degrees)."""
    yaw = _yaw_deg(rotation)
    share = np.clip((TURNED_POINTS_DEG[1] - np.abs(yaw)) / (TURNED_POINTS_DEG[1] - TURNED_POINTS_DEG[0]), 0.0, 1.0)
    out = np.array(rotation, np.float64)
    use = np.flatnonzero(share > 0)
    if not use.size:
        return out
    models = np.stack([turned_model(y) for y in yaw[use]])
    turned = refine_poses(image_pts[use], models, k, out[use], translation[use])[0]
    step = (_yaw_deg(turned) - yaw[use] + 180.0) % 360.0 - 180.0
    step = np.where(np.isfinite(step), step, 0.0)
    # Turned about the camera's vertical axis by the change in yaw: pitch and roll are kept (R = Ry(-yaw) ...).
    out[use] = rotation_from_angles(share[use] * step, 0.0, 0.0) @ out[use]
    return out


def _gaze_batch(faces: np.ndarray, rots: np.ndarray, trans: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Eye (yaw, pitch) degrees relative to the head for N frames at once, from the iris centres.

    ``faces`` ``[N, 478, 2+]``, ``rots`` ``[N, 3, 3]``, ``trans`` ``[N, 3]``; returns ``[N, 2]``,
    NaN where unusable. For each eye the resting iris position is predicted from the
    detected eye corners plus the canonical corner-to-pupil offset under the fitted pose;
    the eye rotation about the eyeball centre that moves the projected pupil onto the
    detected iris is then solved by a few Gauss-Newton steps (all frames and both eyes
    in one batch). Eyes are weighted by their projected width (a foreshortened eye in a
    turned head says little).
    """
    n = len(faces)
    fidx, fpts = geo.face_model()
    pos = {int(i): p for i, p in zip(fidx, fpts)}
    pidx, ppts = geo.pupil_model()
    radius = geo.EYE_ROTATION_RADIUS_MM
    lim = math.radians(60)
    total = np.zeros((n, 2))
    weight = np.zeros(n)
    for iris, pupil in zip(pidx, ppts):
        outer, inner = geo.EYE_CORNERS[int(iris)]
        seen = faces[:, [iris, outer, inner], :2].astype(np.float64)  # [N, 3, 2]
        ok = np.isfinite(seen).all(axis=(1, 2))
        corners = np.stack([pos[outer], pos[inner]])  # [2, 3]
        corners_model = _project(k, np.einsum("nij,cj->nci", rots, corners) + trans[:, None])
        target = seen[:, 0] - (seen[:, 1:].mean(axis=1) - corners_model.mean(axis=1))  # [N, 2]
        centre = pupil + np.array([0.0, 0.0, radius])

        def pupil_px(a: np.ndarray) -> np.ndarray:  # a [N, 2] -> pixels [N, 2]
            d = np.stack([np.sin(a[:, 0]) * np.cos(a[:, 1]), -np.sin(a[:, 1]), -np.cos(a[:, 0]) * np.cos(a[:, 1])], 1)
            return _project(k, np.einsum("nij,nj->ni", rots, centre + radius * d) + trans)

        ang = np.zeros((n, 2))
        eps = 1e-3
        for _ in range(4):
            base = pupil_px(ang)
            jac = np.stack([(pupil_px(ang + [eps, 0]) - base) / eps, (pupil_px(ang + [0, eps]) - base) / eps], axis=2)
            resid = np.where(ok[:, None], target - base, 0.0)
            # Least-squares step (the pseudo-inverse also copes with a singular Jacobian).
            step = np.einsum("nij,nj->ni", np.linalg.pinv(np.where(np.isfinite(jac), jac, 0.0)), resid)
            ang = np.clip(ang + step, -lim, lim)
        width = np.linalg.norm(seen[:, 1] - seen[:, 2], axis=1)
        use = ok & np.isfinite(ang).all(axis=1) & (width > 0)
        w = np.where(use, width**2, 0.0)
        total += np.where(use[:, None], np.degrees(ang), 0.0) * w[:, None]
        weight += w
    out = np.full((n, 2), np.nan)
    has = weight > 0
    out[has] = np.clip(total[has] / weight[has, None], -MAX_GAZE_DEG, MAX_GAZE_DEG)
    return out


def estimate_head(motion: Motion, *, focal_px: float | None = None) -> Motion:
    """A new :class:`Motion` with ``head_angles``, ``head_rotation``, ``head_center_px``,
    ``head_radius_px`` and ``gaze`` filled from the face landmarks (body fallback).

    ``focal_px`` overrides the focal-length guess. ``motion.meta["source"]`` must name a keypoint source of
    :mod:`point_sources` (``"mediapipe"`` from extract_motion, ``"pose_keypoint"`` from an import).
    ``meta["head_source"]`` lists per frame ``"face"``, ``"body"`` (fitted on the Pose head points: less accurate,
    no gaze), ``"torso"``, ``"held"`` (a tracked person's head no source read: the head points' loose fit
    where they give one, else interpolated from the frames around) or ``"none"``;
    ``meta["head_face_rejected"]`` lists frames whose face fit was discarded because it disagreed
    with the body fit by more than ``MAX_FACE_BODY_GAP_DEG`` (FaceMesh in near-profile views) or
    was a collapsed mesh the head points contradict;
    ``meta["head_face_health"]`` says per frame whether FaceMesh's face ``"held"`` its size, had
    ``"collapsed"`` (:func:`head_depth.collapsed_faces`: it does not size the sphere there) or was
    ``"none"`` (no face fit); ``meta["head_scale"]`` whether the sphere's size was ``"measured"`` on this
    clip or is the ``"typical"`` face-to-head-point scale (:func:`head_size.sphere_track`; ``"none"`` without
    any head fit); ``meta["head_focal_px"]`` records the focal length used.
    """
    if not isinstance(motion, Motion):
        raise DreamActorError(f"estimate_head: expected a Motion, got {type(motion).__name__}")
    f = float(focal_px) if focal_px is not None else default_focal_px(motion.width, motion.height)
    if not f > 0:
        raise DreamActorError(f"estimate_head: focal_px must be positive, got {focal_px}")
    # Where the head points sit on the head is the keypoint source's (read once, before any fit).
    points = point_source(motion.meta, "estimate_head")
    k = camera_matrix(motion.width, motion.height, f)
    out = motion.copy()
    fidx, fpts = geo.face_model()
    bidx, bpts = geo.pose_head_model()
    n = motion.num_frames
    for name, shape in (("head_angles", (3,)), ("head_rotation", (3, 3)), ("head_center_px", (2,)),
                        ("head_radius_px", ()), ("gaze", (2,))):
        setattr(out, name, np.full((n, *shape), np.nan, dtype=np.float32))
    from .head_fusion import fuse_head  # (it uses this module's angle convention)
    from .reliability import reliable_landmarks

    # Every frame's free fits at once (pose_fit): the face's twelve points where all of them are seen, and the
    # head points where at least five are.
    face_img = motion.face_px[:, fidx, :2].astype(np.float64)
    face_img[~np.isfinite(face_img).all((1, 2))] = np.nan
    face_r, face_t, face_rms = fit_poses(face_img, fpts, k)
    face_ok = _fit_well(face_t, face_rms, k)
    body_img = motion.body_px[:, bidx, :2].astype(np.float64)
    body_r, body_t, body_rms = fit_poses(body_img, bpts, k)
    body_found, body_ok = np.isfinite(body_rms), _fit_well(body_t, body_rms, k)
    textbook_yaw = np.where(body_ok, _yaw_deg(body_r), np.nan)
    if points.turned_model is not None and body_found.any():
        body_r[body_found] = _turned_points_yaw(body_img[body_found], body_r[body_found], body_t[body_found], k,
                                                points.turned_model)
    # Only for a head nothing else reads (fuse_head's "held" frames): there the head points' fit that failed
    # only the reprojection check beats interpolating past the turn's extreme (10 such frames of two held-out
    # portraits: yaw error 13.1 -> 8.2 degrees, pitch 5.6 -> 4.3).
    rough = np.where((body_found & ~body_ok & ~face_ok)[:, None, None], body_r, np.nan)
    # Near profile FaceMesh still "tracks" but its landmarks collapse into a frontal-looking face; the coarse
    # body fit is then far more trustworthy. Elsewhere (a head tipped far back or down) the body fit is the one
    # that breaks, so the face is kept.
    with np.errstate(invalid="ignore"):
        profile = (face_ok & body_ok & (_rotation_gap_deg(face_r, body_r) > MAX_FACE_BODY_GAP_DEG)
                   & (np.abs(_yaw_deg(body_r)) > PROFILE_YAW_DEG))
    face_ok &= ~profile
    rejected = np.flatnonzero(profile).tolist()
    tracks = {kind: {"rotation": np.where(good[:, None, None], r, np.nan),
                     "center_px": np.where(good[:, None], _project(k, t), np.nan),
                     "radius_px": np.where(good, f * geo.HEAD_RADIUS_MM / t[:, 2], np.nan)}
              for kind, good, r, t in (("face", face_ok, face_r, face_t), ("body", body_ok, body_r, body_t))}
    # Read once, from the free fits' sizes: FaceMesh's mesh collapsed where it reads the head far smaller
    # than the Pose head points do.
    collapsed = collapsed_faces(tracks["face"]["radius_px"], tracks["body"]["radius_px"], motion.fps,
                                points.collapsed_face_ratio)
    health = np.where(collapsed, "collapsed", np.where(np.isfinite(tracks["face"]["radius_px"]), "held", "none"))
    # Second pass: every face fit's pitch and roll again at the clip's steady head distance (see refit_at_depth).
    depth = steady_depth(np.where(face_ok, face_t[:, 2], np.nan), motion.fps)
    gaze_frames = np.flatnonzero(face_ok)
    # The refit uses every landmark measured on the head: the pitch needs far more than the free
    # fit's twelve (see face_points).
    midx, mpts = geo.face_mesh_model()
    gaze_r, gaze_t = refit_at_depth_batch(motion.face_px[gaze_frames][:, midx, :2], mpts, k, face_r[gaze_frames],
                                          face_t[gaze_frames], depth[gaze_frames])
    # Yaw keeps the free fit's: the face's left-right depth (cheeks and eye corners recede on both sides)
    # pins it without help, and it did not trade with distance (measured: free-fit yaw slope 1.05, pitch
    # 0.75 against the truth).
    refit_angles = angles_from_rotation(gaze_r)
    gaze_r = rotation_from_angles(_yaw_deg(face_r[gaze_frames]), refit_angles[:, 1], refit_angles[:, 2])
    tracks["face"]["rotation"][gaze_frames] = gaze_r
    tracks["face"]["center_px"][gaze_frames] = _project(k, gaze_t)
    tracks["face"]["radius_px"][gaze_frames] = f * geo.HEAD_RADIUS_MM / gaze_t[:, 2]
    # Held at the steady distance a collapsed mesh can only be explained by a wild pitch (+47 or -81
    # for a -20 bow; measured 31-82 degrees off the head points' on the hard-case set and its variants,
    # its error 15-74): it is kept only within MAX_FACE_BODY_GAP_DEG of the head-point fit (as a face
    # near profile is), where FaceMesh only misjudged the face's size (a turned portrait's, pitch error 2-5).
    with np.errstate(invalid="ignore"):
        drop = collapsed[gaze_frames] & (_rotation_gap_deg(gaze_r, body_r[gaze_frames]) > MAX_FACE_BODY_GAP_DEG)
    drop &= body_ok[gaze_frames]
    for name in ("rotation", "center_px", "radius_px"):
        tracks["face"][name][gaze_frames[drop]] = np.nan
    rejected = sorted(rejected + gaze_frames[drop].tolist())
    gaze_frames, gaze_r, gaze_t = gaze_frames[~drop], gaze_r[~drop], gaze_t[~drop]
    fused = fuse_head(tracks["face"], tracks["body"], motion.body_world, motion.body_px, reliable_landmarks(motion),
                      motion.fps, face_collapsed=collapsed, rough_rotation=rough, point_textbook_yaw=textbook_yaw,
                      points=points)
    out.head_rotation[:] = fused["rotation"]
    out.head_angles[:] = fused["angles"]
    out.head_center_px[:] = fused["center_px"]
    out.head_radius_px[:] = fused["radius_px"]
    sources = fused["source"]
    if gaze_frames.size:
        out.gaze[gaze_frames] = _gaze_batch(motion.face_px[gaze_frames], gaze_r, gaze_t, k)
    out.meta["head_source"] = sources
    out.meta["head_face_rejected"] = rejected
    out.meta["head_face_health"] = health.tolist()
    out.meta["head_scale"] = fused["scale"]
    out.meta["head_focal_px"] = f
    return out


def head_sphere_params(motion: Motion, frame_index: int) -> dict | None:
    """The head sphere of one frame for renderers, or None where the head is unknown.

    Returns ``{"center_px": (x, y), "radius_px": r, "rotation": [3,3] head -> camera
    (columns left, down, back), "angles": (yaw, pitch, roll), "gaze": (yaw, pitch) or NaN}``.
    """
    if not 0 <= frame_index < motion.num_frames:
        raise DreamActorError(f"head_sphere_params: frame_index {frame_index} outside 0..{motion.num_frames - 1}")
    c = motion.head_center_px[frame_index]
    rad = float(motion.head_radius_px[frame_index])
    rot = motion.head_rotation[frame_index]
    if not (np.isfinite(c).all() and math.isfinite(rad) and np.isfinite(rot).all()):
        return None
    return {
        "center_px": (float(c[0]), float(c[1])),
        "radius_px": rad,
        "rotation": rot.astype(np.float64),
        "angles": tuple(float(a) for a in motion.head_angles[frame_index]),
        "gaze": tuple(float(g) for g in motion.gaze[frame_index]),
    }
