"""How big the person is: limb proportions over several frames, and height in metres.

MediaPipe's world landmarks come in an average adult's scale: a 1.2 m child and a 2.3 m
adult both measure about 1.7 m. Their *ratios* carry over (see :mod:`retarget`), and the
head gives the absolute size back: heads vary far less than bodies (a six-year-old's head
is ~0.9 of an adult's while the body is ~0.7), so the body's height in head sizes tells
how tall the person is.

- :func:`clip_proportions` measures each length group on every frame where both ends are
  seen (inside the picture, rated visible) and takes a weighted median over frames. A limb
  lying in the image plane is measured by its pixels alone, one pointing at the camera
  leans on MediaPipe's guessed depth, so frames weigh by how flat the limb lies (its pixel
  extent over its full length, to the 4th power); not the arms' frames, whose flatness as
  MediaPipe's depth gives it says nothing of their error (``FLAT_WEIGHED``). Left and right are measured apart and
  combined by how steady each side's length is over the frames (weight spread^-4): a bone
  does not change length, so a side whose length jumps from frame to frame has joints that
  MediaPipe guesses (a wrist out of the frame pulled onto its edge, a limb behind the body),
  while the side it sees keeps one length. Sides further apart than ``SIDE_CONFLICT`` are not
  blended: the steadier one is taken alone. A side seen on fewer than
  ``MIN_SEEN_SHARE`` of the frames is not measured (a knee glimpsed above a panel, a portrait's
  elbow below the frame that MediaPipe rates visible on the few frames its guess lands inside).
  A shin is capped by its longest extent across the line of sight (``PROJECTION_CAP``).
  MediaPipe's 2D landmarks themselves sit off the synthetic bodies' keypoints by a few percent of
  a limb, differently per body (its hip 2-7% of the torso above theirs, a bent elbow nearer the
  shoulder): placed at the true depths they give a worst limb of 0.6-9.1% after one best scale
  on the public and hard sets (``benchmarks/limb_floor.py``). ``LANDMARK_BIAS`` removes the offset they share, not the per-body
  part, which no weighting of frames or sides can undo. So the four limbs' reported proportions are that
  measurement weighed against a prior on body shape at the body's height (:mod:`limb_prior`), the raw one kept
  beside them.
- :func:`stature` (run once per clip, inside :func:`clip_proportions`, so that the limb prior can follow
  the height; :func:`estimate_height` reports it) divides the stature chain (shin, thigh and neck as measured by
  :func:`clip_proportions`, the torso on frames where the body stands (trunk in line with the legs,
  a knee straight) since the spine flexes, plus the floor-to-ankle and ears-to-crown parts) by the
  head sphere's radius, taken at the trunk's depth, on frames where the whole body is seen, stands
  and the head faces the camera (a bowed head's sphere reads small), and turns that head-to-body
  ratio into metres with head size growing as stature to the power ``HEAD_GROWTH``. No height where
  the head stage did not measure the sphere's size on the clip (``meta["head_scale"]``, set where the
  sphere's scale is chosen: FaceMesh never held the face's size beside the head points).
"""
from __future__ import annotations

import numpy as np

from .camera import back_project, estimate_camera, focal_guess
from .limb_prior import estimate_limbs
from .motion import Motion
from .reliability import reliable_landmarks
from .skeleton import BODY, body_joints

# group -> joint pairs (both sides for limbs), in :data:`skeleton.BODY` names.
PAIRS = {
    "torso": [("pelvis", "neck")], "neck": [("neck", "head")],
    "shoulder_width": [("left_shoulder", "right_shoulder")], "hip_width": [("left_hip", "right_hip")],
    "head": [("left_ear", "right_ear")],
    **{g: [(f"{s}_{a}", f"{s}_{b}") for s in ("left", "right")] for g, (a, b) in {
        "upper_arm": ("shoulder", "elbow"), "forearm": ("elbow", "wrist"), "thigh": ("hip", "knee"),
        "shin": ("knee", "ankle"), "foot": ("ankle", "foot_index"), "heel": ("ankle", "heel"),
        "hand": ("wrist", "index")}.items()},
}
FLAT_POWER = 4.0
# Groups whose frames weigh by that flatness. Not the arms: MediaPipe's depth hardly sees them tilt towards the
# camera. Over the public, hard and 14 held-out variant sets (110 clips, 8,000-9,000 seen frames per arm segment)
# its flatness follows the true one by a correlation of 0.38 (upper arm) and 0.69 (forearm), and a frame's
# length error does not follow it (-0.03 and 0.05) while it does follow the true flatness (0.20 and 0.25: arms truly
# foreshortened under 0.7 read 5-6% short). Weighing by it only leaned on a few frames chosen at random; the
# median over every seen frame put the public squat 3.5 -> 2.5%, held-out clips over 3% 29 -> 29 of 105.
# The legs keep it: the stature chain reads them (ADULT_HEAD_RATIO was set on those lengths), and the limbs'
# scores do not move either way.
FLAT_WEIGHED = frozenset(PAIRS) - {"upper_arm", "forearm"}
# A shin is no longer than PROJECTION_CAP times its longest extent across the line of sight over the clip: it
# stands in the image plane whenever the body stands; the factor allows a camera up to ~30 deg above the legs.
# MediaPipe's depth is a learned adult's: a shin shorter in the picture than that adult's gets the missing length
# as invented depth (ankle put behind the knee), never the other way, so short shins read average. Where the cap
# binds (20 of 85 clips with shins: every held-out set's child march, walks, jacks) MediaPipe's shins lie at a
# median flatness of 0.81, the true ones 0.94.
PROJECTION_CAPPED, PROJECTION_CAP = frozenset({"shin"}), 1.15
# Left/right weigh by (spread of their per-frame lengths) ** -SIDE_POWER; spreads below
# SPREAD_FLOOR (a single frame, a perfectly steady side) count as that floor.
SIDE_POWER, SPREAD_FLOOR = 4.0, 0.005
# Left and right lengths further apart than this (|log| of their ratio) are a failure, not noise:
# one side's joints are guessed, and a blend of the two would be wrong for both, so the steadier
# side is taken alone (a bone keeps its length; guessed joints jump). In the 18 gaps over 10% on
# the public and hard sets and four held-out variant sets (43 clips) the steadier side was the
# nearer one every time; the longer side (MediaPipe's failures mostly shorten) in 16.
SIDE_CONFLICT = 0.1
# A joint seen on under a quarter of the frames is out of sight most of the time and the frames it
# is "seen" on are mostly guesses drifting over the edge: on a held-out portrait MediaPipe rated the
# elbows (below and beside the frame throughout) visible and inside on 8 of 40 frames and the wrists
# on 2-4, which measured forearms 27% short. On the public and hard sets no limb is seen on 10-25%.
MIN_SEEN_SHARE = 0.25
# MediaPipe's landmarks are not the skeleton's joint centres: against the synthetic bodies'
# joints its upper arm reads ~4% short, its thigh ~1.5% and its shin ~6% long relative to the
# forearm (arms: mean over the five full-body clips of the public set; legs: refitted on all ten
# clips with four limbs of the public and hard sets, which leaves the arms' offset as it was. On the
# six held-out variant sets, which took no part in the fit, clips over 3% went 28 -> 23 of 42 and
# the mean worst limb 4.0 -> 3.7%; refitting the forearm too, as those sets would like, puts the
# hard set's bend and upper-body clips over 3%). The thigh's part is MediaPipe's hip, 2-7% of the
# torso above the bodies' hip. The shin's part
# is MediaPipe's depth, not its pixels: on legs standing in the image plane its world landmarks
# put the ankle 0.16-0.40 of the shin behind the knee (every full-body clip, held-out ones too),
# which lengthens a back-projected shin by 1-8%; measuring shins by their pixels instead leaves
# the hip's offset (2-7% of the torso above the bodies' hip) and scores worse on held-out clips.
# Reported lengths are corrected by these factors; retargeting compares MediaPipe with
# MediaPipe, where they cancel, and does not use them.
LANDMARK_BIAS = {"upper_arm": 1.044, "thigh": 0.986, "shin": 0.942}
# Head size ~ stature ** HEAD_GROWTH. Growth charts alone (head ~19.5 cm crown to chin at 1.2 m,
# ~23 cm at 1.75 m) give ~0.44, but taller adults also have larger heads: the public synthetic
# set's five adults (1.42-2.01 m, true head spheres and heights) give 0.55, and so do the hard
# set's 1.22 m child and 2.34 m adult within their spread (0.62 over all 14 bodies). With 0.44,
# short bodies read ~10% tall and tall ones ~10% short.
HEAD_GROWTH = 0.55
# An average adult of ADULT_HEIGHT_M measures ADULT_HEAD_RATIO head-sphere radii by this chain
# (the public synthetic set's five full-body adults: 14.3 when the fitted sphere read ~0.93 of the
# head's bounding sphere, scaled by the mean ratio's change, 13.42 / 14.36, now that it reads 1.00-1.03;
# then 13.36 scaled by 12.74 / 13.19 when the sphere moved to the trunk's depth, see estimate_height;
# then 12.90 scaled by 0.9929, the chain's change on those five when LANDMARK_BIAS's legs were refitted;
# refitted on all ten whole-body clips of the public and hard sets, mean log height error zero, when the head
# was brought nearer by its pitch: 13.03, where the old sizing would have given 12.87).
ADULT_HEIGHT_M = 1.75
ADULT_HEAD_RATIO = 13.03
# Stature parts the chain leaves out, as shares: floor to ankle joint (of the stature) and
# ear line to crown (in head radii).
ANKLE_SHARE, CROWN_RADII = 0.045, 1.0
# Below this head radius (a face under ~32 px across) FaceMesh's points are too coarse to size
# the head against the body: at 256 px a 2.34 m adult's head (~10 px) read 3.3 m, while heads of
# 18 px (the same adult and a 1.2 m child at 384 and 256 px) read as well as larger ones.
MIN_HEAD_RADIUS_PX = 16.0
# No body measures more head radii than this: across Anny's whole phenotype range (1,900 bodies,
# 0.7-2.4 m, the longest-legged and smallest-headed included) stature over the head's bounding
# sphere stays within 8.3-15.1, and the measured ratio scatters ~3% around the true one. A chain
# longer than MAX_HEAD_RATIO radii means the sphere read small: on three held-out hard-case variants
# it read 0.6-0.8 of the head on every frame, giving 4.9 m for 1.86 m and 4.7 m for 2.40 m.
MAX_HEAD_RATIO = 17.0
# The torso enters the stature as measured on frames where pelvis-to-neck lies within this angle of
# the ankles-to-hips line (standing straight): the spine flexes, so a forward bend or a squat
# shortens it (a 2.34 m body bending forward: 0.69 m upright, 0.54 m at the deepest), and stature is
# measured standing. Clips with fewer than UPRIGHT_MIN_FRAMES such frames use the torso's length
# over all frames.
UPRIGHT_DEG, UPRIGHT_MIN_FRAMES = 20.0, 3
# A standing frame also has a knee bent under this (thigh-to-shin angle): a walk's stance knee stays
# within ~20 deg, a squat's bends 60-120 deg while its trunk and hips-to-ankles line stay upright.
STRAIGHT_KNEE_DEG = 30.0
# Frames sized for the height: the head within these yaw and pitch angles of facing the camera.
FACING_YAW_DEG, FACING_PITCH_DEG = 45.0, 20.0
WHOLE_BODY = (7, 8, 11, 12, 23, 24, 25, 26, 27, 28)  # ears, shoulders, hips, knees, ankles


def _camera_points(motion: Motion, frames: np.ndarray):
    """Landmarks in camera space ``[F, 33, 3]`` (world scale) and the fitted camera, for ``frames``."""
    px = motion.body_px[frames, :, :2].astype(np.float64)
    world = motion.body_world[frames].astype(np.float64)
    conf = np.nan_to_num(motion.body_conf[frames].astype(np.float64), nan=0.0)
    seen = reliable_landmarks(motion)[frames]
    weights = np.where(seen, np.maximum(conf, 0.05), 1e-6)
    cam = estimate_camera(px, world, motion.width, motion.height, weights=weights,
                          focal=focal_guess(motion.width, motion.height))
    depth = world[..., 2] + cam.translation[:, 2:3]
    return back_project(px, depth, cam.K), cam, seen


def clip_proportions(motion: Motion, frames=None) -> dict:
    """Group lengths (world scale) measured over several frames; NaN for groups never seen.

    Returns ``{"lengths": {group: length}, "measured": {group: length}, "seen_share": {group: share of the
    frames}, "frames": [F], "samples": {group: count}, "points": camera-space landmarks [F, 33, 3] of those
    frames, "focal": px, "stature": :func:`stature`'s result}`` (the camera fit, which the stature step
    reuses). ``lengths`` is ``measured`` with the four limbs' proportions weighed against a body-shape prior
    at the body's estimated height where the clip gives one (:func:`limb_prior.estimate_limbs`): the best
    estimate; ``measured`` is the evidence alone.
    """
    valid = np.isfinite(motion.body_world).all((1, 2)) & np.isfinite(motion.body_px[..., :2]).all((1, 2))
    idx = np.flatnonzero(valid) if frames is None else np.array([f for f in frames if valid[f]], dtype=np.int64)
    lengths, samples, seen_share = {}, {}, {}
    if len(idx) == 0:
        nan = {g: np.nan for g in PAIRS}
        out = {"lengths": nan, "measured": dict(nan), "seen_share": {}, "frames": [], "samples": {g: 0 for g in PAIRS}}
        out["stature"] = stature(motion, out)
        return out
    pts, cam, seen = _camera_points(motion, idx)
    joints = body_joints(pts)
    jseen = body_joints(seen[..., None].astype(np.float64))[..., 0] > 0.999
    need = max(1.0, MIN_SEEN_SHARE * len(idx))
    for group, pairs in PAIRS.items():
        sides, samples[group] = [], 0
        for a, b in pairs:
            ia, ib = BODY.index(a), BODY.index(b)
            d = joints[:, ia] - joints[:, ib]
            full = np.linalg.norm(d, axis=-1)
            # Flatness: the extent across the line of sight over the full length.
            mid = 0.5 * (joints[:, ia] + joints[:, ib])
            ray = mid / np.linalg.norm(mid, axis=-1, keepdims=True)
            along = np.abs(np.sum(d * ray, axis=-1))
            flat = np.sqrt(np.clip(1.0 - (along / np.maximum(full, 1e-9)) ** 2, 0.0, 1.0))
            ok = jseen[:, ia] & jseen[:, ib] & np.isfinite(full) & (full > 0)
            samples[group] += int(ok.sum())
            if ok.sum() >= need:
                weight = flat[ok] ** FLAT_POWER + 1e-6 if group in FLAT_WEIGHED else np.ones(int(ok.sum()))
                length, spread = _side_length(full[ok], weight)
                if group in PROJECTION_CAPPED:
                    length = min(length, PROJECTION_CAP * float(np.max(full[ok] * flat[ok])))
                sides.append((length, spread))
                seen_share[group] = max(seen_share.get(group, 0.0), ok.sum() / len(idx))
        lengths[group] = _combine_sides(sides) * LANDMARK_BIAS.get(group, 1.0) if sides else np.nan
    out = {"lengths": dict(lengths), "measured": lengths, "seen_share": seen_share, "frames": idx.tolist(),
           "samples": samples, "points": pts, "focal": cam.focal}
    # The prior's shape follows the body's stature where the clip gives one (see limb_prior). The stature
    # reads the measured lengths only, so it is worked out once, here, before the prior, and kept for
    # estimate_height to scale the final lengths by.
    out["stature"] = stature(motion, out)
    out["lengths"].update(estimate_limbs(lengths, seen_share, out["stature"]["height_m"]))
    return out


def _side_length(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """One side's length (weighted median over frames) and its spread (weighted mean |log| deviation)."""
    med = _weighted_median(values, weights)
    return med, float(np.sum(weights * np.abs(np.log(values / med))) / np.sum(weights))


def _combine_sides(sides: list[tuple[float, float]]) -> float:
    """Geometric mean of the sides' lengths, each weighted by its spread ** -SIDE_POWER; the
    steadier side alone where they are more than ``SIDE_CONFLICT`` apart."""
    lengths = np.log([length for length, _ in sides])
    spreads = np.array([max(spread, SPREAD_FLOOR) for _, spread in sides])
    if np.ptp(lengths) > SIDE_CONFLICT:
        return float(np.exp(lengths[np.argmin(spreads)]))
    w = spreads ** -SIDE_POWER
    return float(np.exp(np.sum(w * lengths) / np.sum(w)))


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def estimate_height(motion: Motion, proportions: dict | None = None) -> dict:
    """Height in metres from the head-to-body ratio, on frames where the whole body is seen
    (those where the head faces the camera within ``FACING_YAW_DEG``/``FACING_PITCH_DEG`` when
    there are any), and the best lengths in metres.

    Needs the head sphere (:func:`head_pose.estimate_head`); ``proportions`` is
    :func:`clip_proportions`'s result when already measured (its stature is reused, not worked out
    again). Returns ``{"height_m": float or None, "head_ratio": stature / head radius or None, "frames":
    count of the frames looked at (0 where the sphere's size was not measured on the clip), "lengths_m":
    {group: metres} or None, "why": reason when None}``.
    """
    proportions = proportions or clip_proportions(motion)
    found = proportions["stature"]
    metres = found["metres"]
    lengths_m = None if metres is None else {
        g: (round(v * metres, 4) if np.isfinite(v) else None) for g, v in proportions["lengths"].items()}
    return {"height_m": found["height_m"], "head_ratio": found["head_ratio"], "frames": found["frames"],
            "lengths_m": lengths_m, "why": found["why"]}


def stature(motion: Motion, proportions: dict) -> dict:
    """The stature step: the body's height from :func:`clip_proportions`'s measured lengths and camera fit
    (``proportions``, the limb prior not yet needed) and the head sphere.

    Returns ``{"height_m": float or None, "head_ratio": float or None, "frames": count, "why": reason when
    None, "metres": metres per world-scale unit or None}``; :func:`estimate_height` gives its public form.
    """
    # The head stage sizes the sphere by FaceMesh's face where its mesh held its size beside the head points;
    # where it held too seldom it puts the head points on the typical face-to-head-points scale, not a measurement
    # (the points read 0.75 of the head on the hard-case renderer, 0.81 on the shared set's). The seven held-out clips
    # refused (walks and a child whose mesh read 0.57-0.61 of the head on 39-40 of 40 frames, 360 turns with 1-2 held
    # frames reading 0.78-0.93) give -7..+21% on it, +20..+68% on those frames alone; forced on all 81 whole-body
    # clips it misses 27 of 71 held out (RMS 14%, measured 8%), the shared set -9%. Refusing needs none of the below.
    if motion.meta.get("head_scale", "measured") != "measured":
        return {"height_m": None, "head_ratio": None, "frames": 0, "metres": None,
                "why": "the face mesh held its size on too few frames: the head sphere's size is a typical "
                       "face-to-head-points scale, not measured on this clip"}
    sized = height_frames(motion, proportions)
    idx = sized["facing"]
    none = {"height_m": None, "head_ratio": None, "frames": int(len(idx)), "metres": None}
    if len(idx) == 0:
        return {**none, "why": "the whole body (ears to ankles) is never seen with a head sphere"}
    size_px = float(np.median(motion.head_radius_px[idx]))
    if size_px < MIN_HEAD_RADIUS_PX:
        return {**none, "why": f"the head is too small in the picture ({size_px:.0f} px radius, "
                               f"needs {MIN_HEAD_RADIUS_PX:.0f}); use a larger or closer shot"}
    idx = sized["frames"]
    radius = float(np.median(motion.head_radius_px[idx].astype(np.float64) * sized["head_depth"] / sized["focal"]))
    # Bone lengths rather than per-frame extents: bending a knee does not shorten them. As measured, not pulled
    # towards the average shape (limb_prior): ADULT_HEAD_RATIO was set on measured chains, and with the pulled
    # legs the 2.34 m bend and pub02 read 10.2 and 10.0 % off (9.8, 9.9).
    bones = proportions["measured"]
    chain = sum(bones[k] for k in ("shin", "thigh", "neck")) + _standing_torso(sized["joints"], sized["standing"],
                                                                                bones["torso"])
    if not np.isfinite(chain):
        return {**none, "why": "a leg or the trunk was not measured"}
    tall = (chain + CROWN_RADII * radius) / (1.0 - ANKLE_SHARE)  # the stature, world scale
    ratio = tall / radius
    if ratio > MAX_HEAD_RATIO:
        return {**none, "why": f"the head sphere is too small for the body ({ratio:.1f} head radii tall, no body "
                               f"measures over {MAX_HEAD_RATIO:.0f}): the head was not sized on this clip"}
    height = ADULT_HEIGHT_M * (ratio / ADULT_HEAD_RATIO) ** (1.0 / (1.0 - HEAD_GROWTH))
    return {"height_m": round(height, 3), "head_ratio": round(ratio, 3), "frames": int(len(idx)),
            "metres": height / tall, "why": None}


def height_frames(motion: Motion, proportions: dict) -> dict:
    """The frames :func:`estimate_height` sizes the head and torso on, and the camera-space body joints.

    ``proportions`` is :func:`clip_proportions`'s result (its camera fit is reused). Returns ``{"whole":
    frames where the whole body is seen with a head sphere, "facing": those where the head faces the camera
    (all of them if it never does), "frames": the facing ones where the body stands (all facing ones when
    under UPRIGHT_MIN_FRAMES), "depth": the trunk's depth on "frames" (world scale), "head_depth": the head's
    there (the trunk's, brought forward by the head's pitch), "joints": body joints of
    the "whole" frames [F, J, 3] (camera space, world scale), "standing": [F] which of them stand, "focal": px}``.
    """
    seen = reliable_landmarks(motion)
    whole = seen[:, list(WHOLE_BODY)].all(1) & np.isfinite(motion.head_radius_px)
    whole &= np.isfinite(motion.body_world).all((1, 2))
    # The head sphere is sized best on a head facing the camera: bowed 40 deg it reads ~0.8 of its
    # upright size (a bend's ratio, and so its height, came out ~10% high). Clips that never face the
    # camera use every frame.
    with np.errstate(invalid="ignore"):
        turn = np.abs((motion.head_angles[:, :2].astype(np.float64) + 180.0) % 360.0 - 180.0)
    facing = whole & (turn[:, 0] <= FACING_YAW_DEG) & (turn[:, 1] <= FACING_PITCH_DEG)
    idx = np.flatnonzero(facing if facing.any() else whole)
    # One camera fit serves the proportions, the head's frames and the standing torso's: the fit
    # solves each frame on its own (the focal is fixed), so a subset's fit is the same numbers.
    every = np.flatnonzero(whole)
    if len(every) == 0:
        return {"whole": every, "facing": idx, "frames": idx, "depth": np.zeros(0), "head_depth": np.zeros(0),
                "joints": np.zeros((0, BODY.num_joints, 3)), "standing": np.zeros(0, bool), "focal": np.nan}
    fitted = np.asarray(proportions["frames"], dtype=np.int64)
    if np.isin(every, fitted).all():  # clip_proportions' fit covers these frames (it fits every valid one)
        pts, focal = proportions["points"][np.searchsorted(fitted, every)], proportions["focal"]
    else:
        pts, cam, _ = _camera_points(motion, every)
        focal = cam.focal
    all_joints = body_joints(pts)
    joints = all_joints[np.searchsorted(every, idx)]
    # Head radius in the same (world) scale as the bones, at the depth of the trunk (mid neck and
    # pelvis) rather than of the ears: the pelvis's depth is the fitted camera's own translation, the
    # ears' is MediaPipe's least certain guess. On 20 full-body synthetic clips (public, hard and two
    # held-out variants of the hard set) the true head sits 1.2-2.8% of the distance nearer than the
    # shoulders and MediaPipe's ears 1.3-4.0%; the measured ratio's scatter against the truth falls
    # from 3.2% to 2.5% (largest deviation 9.0 -> 5.5%). The head is then brought forward by its pitch
    # (below); what is left of its lead is in ADULT_HEAD_RATIO.
    # The trunk's depth is the camera fit's, and the fit holds MediaPipe's world skeleton to the pixels:
    # a folded body's world skeleton does not shrink as its picture does, so the fit pushes it back (a
    # squat: the fitted pelvis 30% further away at the deepest, the true one 8%) and the head, sized at
    # that depth, grows. The head is sized on standing frames (see _standing) where there are enough.
    standing = _standing(all_joints)
    frames = idx
    upright = standing[np.searchsorted(every, idx)]
    if upright.sum() >= UPRIGHT_MIN_FRAMES:
        frames, joints = idx[upright], joints[upright]
    mid = 0.5 * (joints[:, BODY.index("neck")] + joints[:, BODY.index("pelvis")])
    # The head sits above the trunk's middle: tipped towards the camera by its pitch (a camera looking down,
    # a body leaning in) it is nearer than the trunk by that height times the pitch's sine, and reads larger.
    # The hard set's tall bend still leans 8-13 deg on its standing frames: its head 4.4% nearer than the
    # trunk against ~2% on the other clips, so its sphere read that much large at the trunk's depth and its
    # height 10-16% low on most held-out variants. (The true head's depth over the trunk's follows the true
    # pitch, corr 0.94 over 58 whole-body clips; MediaPipe's own depths do not see the lean.)
    above = np.linalg.norm(joints[:, BODY.index("head")] - mid, axis=-1)
    # The clip's median pitch over these frames: one frame's misread pitch (-14 for -2 on a held-out turn)
    # moved a height by 2%.
    pitch = np.radians(np.median(np.nan_to_num(motion.head_angles[frames, 1].astype(np.float64))))
    return {"whole": every, "facing": idx, "frames": frames, "depth": mid[:, 2],
            "head_depth": mid[:, 2] + above * np.sin(pitch), "joints": all_joints, "standing": standing,
            "focal": focal}


def _standing(j: np.ndarray) -> np.ndarray:
    """Frames of body joints ``j`` ``[F, J, 3]`` (camera space) where the body stands: pelvis-to-neck
    within ``UPRIGHT_DEG`` of the ankles-to-hips line and a knee bent under ``STRAIGHT_KNEE_DEG`` (in a
    squat the trunk and the hips-to-ankles line both stay upright; only the knees tell it apart)."""
    B = BODY.index
    trunk = j[:, B("neck")] - j[:, B("pelvis")]
    legs = 0.5 * (j[:, B("left_hip")] + j[:, B("right_hip")] - j[:, B("left_ankle")] - j[:, B("right_ankle")])
    upright = _cos(trunk, legs) >= np.cos(np.radians(UPRIGHT_DEG))
    knee = np.max([_cos(j[:, B(f"{s}_knee")] - j[:, B(f"{s}_hip")], j[:, B(f"{s}_ankle")] - j[:, B(f"{s}_knee")])
                   for s in ("left", "right")], axis=0)
    return upright & (knee >= np.cos(np.radians(STRAIGHT_KNEE_DEG)))


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of the angle between vectors ``a`` and ``b`` ``[..., 3]``."""
    return np.sum(a * b, axis=-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)


def _standing_torso(j: np.ndarray, standing: np.ndarray, torso: float) -> float:
    """Pelvis-to-neck length (world scale) over the ``standing`` frames of body joints ``j`` ``[F, J, 3]``
    (camera space); ``torso`` (its length over all frames) if under ``UPRIGHT_MIN_FRAMES``."""
    length = np.linalg.norm(j[:, BODY.index("neck")] - j[:, BODY.index("pelvis")], axis=-1)
    return float(np.median(length[standing])) if standing.sum() >= UPRIGHT_MIN_FRAMES else torso


def body_size(motion: Motion) -> dict:
    """What :func:`extract.extract_motion` records in ``meta["body_size"]``: the multi-frame
    proportions (world scale, ``None`` where unseen) and the height estimate."""
    prop = clip_proportions(motion)
    rounded = {key: {g: (round(float(v), 5) if np.isfinite(v) else None) for g, v in prop[key].items()}
               for key in ("lengths", "measured")}
    return {**rounded, **estimate_height(motion, prop)}
