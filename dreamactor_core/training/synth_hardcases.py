"""A public hard-case set: synthetic clips of what breaks motion extraction, with exact ground truth.

    python -m dreamactor_core.training.synth_hardcases OUT_DIR [--size 384] [--frames 40] [--only NAME ...]
                                                       [--variant N [--no-limb-morphs]]

Each case is one Anny body, one motion and one camera, declared as data in :data:`CASES`:
fast limbs, a child and a very tall body, a 360-degree turn, a portrait turning its head
to +-80 degrees, an occluding panel, upper-body and portrait framing, and a full-body
driver that comes with a portrait reference of another person. Every clip is written in
the layout of the shared synthetic set (``NAME.mp4``, ``NAME.png``, ``NAME.json``) plus its
silhouettes (``NAME.silhouette.npz``, one bit per pixel). The JSON carries ``coco17`` and
``mp33`` keypoints (``uv``, ``xyz_cam``, ``vis``; MediaPipe points that COCO does not
define have ``vis`` 0 and no position), the head (yaw, pitch, roll, sphere centre and
radius), the person box, the body's height and, as the shared set, its COCO segment lengths at rest
(``coco_segment_lengths_rest_m``, what limb estimates are scored against) and their range over the clip
(``coco_segment_lengths_clip_range_m``). ``vis`` follows the shared set's flags:
2 seen, 1 hidden (by the body or the panel), 0 outside the image. A keypoint is hidden
when a surface lies in front of it by more than a per-joint tolerance (the joint sits
inside its limb); the panel always stands between the camera and the body.

``--variant N`` (N > 0) renders held-out versions of the same cases: other bodies of each
case's class and limb lengths, views, motion speeds and phases, looks and panel positions, seeded by N
(:mod:`.synth_variants`); the JSON records the variant. ``--no-limb-morphs`` keeps every other draw and
leaves the limb lengths to the phenotype. Variant 0 is the set above.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..utils import CancelFn, ProgressFn, check_cancel, report
from .synth_humans import Camera, SynthHumanEngine, Subject, _rot, coco_segment_lengths
from .synth_variants import variant_case

COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
          "right_knee", "left_ankle", "right_ankle")
# MediaPipe-33 index of each COCO-17 point (the others have no COCO counterpart).
MP33_FROM_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
# How far (metres) a surface may lie in front of a keypoint before it hides it: the joint is inside its limb.
_TOLERANCE = (0.025,) * 5 + (0.12, 0.12, 0.10, 0.10, 0.08, 0.08, 0.15, 0.15, 0.10, 0.10, 0.08, 0.08)

_ADULT = {"gender": 0.3, "age": 0.6, "muscle": 0.5, "weight": 0.5, "height": 0.5, "proportions": 0.5}
_LOOK = {"skin": (0.78, 0.6, 0.48), "hair": (0.25, 0.2, 0.15), "shirt": (0.2, 0.4, 0.8), "pants": (0.25, 0.25, 0.3),
         "shoes": (0.1, 0.1, 0.1), "background": ((0.85, 0.85, 0.8), (0.55, 0.57, 0.62))}

# name -> body (phenotype changes), motion, framing, camera azimuth/elevation, panel (x0, y0, x1, y1 as
# shares of the image, drawn in front of the body), reference (another body and framing), description.
CASES = {
    "hc01_fast_jacks": dict(body={}, motion=("jacks", {"hz": 1.0}), framing="full", view=(10, 5),
                            text="Adult doing fast arm jumping jacks (wrists up to ~45 px per frame at 512 px)."),
    "hc02_child_march_wave": dict(body={"age": 0.25, "gender": 0.6}, motion=("march_wave", {"hz": 1.2}),
                                  framing="full", view=(-15, 4), text="Child (~1.2 m) marching and waving fast."),
    "hc03_tall_bend": dict(body={"height": 1.0, "proportions": 0.9, "gender": 0.1}, motion=("bend", {"hz": 0.5}),
                           framing="full", view=(20, 6), text="Very tall body bending forward, arms reaching down."),
    "hc04_turn_360": dict(body={"gender": 0.8}, motion=("turn", {"degrees": 360.0}), framing="full", view=(0, 5),
                          text="A whole 360-degree turn on the spot: profiles and back views."),
    "hc05_portrait_yaw80": dict(body={"gender": 0.9}, motion=("head", {"yaw": 80.0, "pitch": 15.0}),
                                framing="portrait", view=(0, 3), text="Portrait turning the head to +-80 degrees."),
    "hc06_occluded_walk": dict(body={"weight": 0.7}, motion=("march_wave", {"hz": 0.8, "wave": False}),
                               framing="full", view=(10, 5), panel=(0.0, 0.5, 0.72, 1.0),
                               text="Walking in place behind a panel that hides both legs and the right hand."),
    "hc07_upper_wave": dict(body={"gender": 0.4}, motion=("march_wave", {"hz": 1.0, "legs": False}),
                            framing="upper", view=(-10, 4), text="Upper-body framing, arm waving."),
    "hc08_walk_driver": dict(body={"gender": 0.2, "height": 0.7}, motion=("march_wave", {"hz": 0.9, "wave": False}),
                             framing="full", view=(15, 5), reference=({"gender": 1.0, "height": 0.3}, "portrait"),
                             text="Full-body walking driver; NAME.ref.png is a portrait of another person."),
}


def case_motion(kind: str, params: dict, num_frames: int, fps: float) -> dict:
    """Per-frame bone rotations of one hard-case motion (Anny's bones, see ``synth_humans``).

    ``amp`` scales the motion's angles and ``phase`` (radians) shifts its cycle; variants set them.
    """
    t = np.arange(num_frames) / fps
    amp = params.get("amp", 1.0)
    w = 2 * np.pi * params.get("hz", 1.0) * t + params.get("phase", 0.0)
    rots: dict[str, np.ndarray] = {}
    if kind == "jacks":
        a = 75 * amp * (1 - np.cos(w))
        rots.update({"upperarm01.R": _rot("y", a), "upperarm01.L": _rot("y", -a),
                     "lowerarm01.R": _rot("y", 0.2 * a), "lowerarm01.L": _rot("y", -0.2 * a)})
    elif kind == "march_wave":
        s = np.sin(w)
        if params.get("legs", True):
            for side, sign in (("L", 1), ("R", -1)):
                lift = 35 * amp * np.clip(sign * s, 0, None)
                rots[f"upperleg01.{side}"] = _rot("x", -lift)
                rots[f"lowerleg01.{side}"] = _rot("x", 1.5 * lift)
        rots["upperarm01.L"] = _rot("x", -30 * amp * s)
        if params.get("wave", True):
            rots["upperarm01.R"] = _rot("y", 120 + 25 * amp * np.sin(2 * w))
            rots["lowerarm01.R"] = _rot("y", 35 + 35 * amp * np.cos(2 * w))
        else:
            rots["upperarm01.R"] = _rot("x", 30 * amp * s)
    elif kind == "bend":
        b = 35 * amp * (1 - np.cos(w))
        rots.update({"spine03": _rot("x", 0.5 * b), "spine02": _rot("x", 0.5 * b),
                     "upperarm01.L": _rot("x", -1.3 * b), "upperarm01.R": _rot("x", -1.3 * b),
                     "neck02": _rot("x", -0.3 * b)})
    elif kind == "turn":
        start = params.get("start", 0.0)
        rots["root"] = _rot("z", start + np.linspace(0.0, params["degrees"], num_frames))
        rots["upperarm01.L"] = _rot("y", np.full(num_frames, -20.0))
        rots["upperarm01.R"] = _rot("y", np.full(num_frames, 20.0))
    elif kind == "head":
        cycle = 2 * np.pi * t / (num_frames / fps) + params.get("phase", 0.0)  # one left-right cycle over the clip
        yaw, pitch = params["yaw"] * np.sin(cycle), params["pitch"] * np.sin(2 * cycle)
        rots["neck02"] = _rot("z", 0.4 * yaw) @ _rot("x", -0.4 * pitch)
        rots["head"] = _rot("z", 0.6 * yaw) @ _rot("x", -0.6 * pitch)
    else:
        raise ValueError(f"hard case motion: unknown kind {kind!r}")
    return {"kind": kind, "num_frames": num_frames, "rotations": rots, "params": params}


def keypoint_visibility(vertices_cam, faces, points_cam, K, width: int, height: int,
                        tolerance, panel_uv=None) -> np.ndarray:
    """Shared-set flags ``[N]`` (2 seen, 1 hidden, 0 outside) of ``points_cam [N, 3]`` against the mesh."""
    from .raster import project

    uv = project(points_cam, K)
    tri = project(vertices_cam, K)[faces]  # [F, 3, 2]
    tri_z = vertices_cam[faces, 2]
    out = np.zeros(len(points_cam), np.int64)
    for i, (p, z) in enumerate(zip(uv, points_cam[:, 2])):
        if not (0 <= p[0] <= width - 1 and 0 <= p[1] <= height - 1):
            continue
        lo, hi = tri.min(1), tri.max(1)
        near = np.nonzero((lo[:, 0] <= p[0]) & (hi[:, 0] >= p[0]) & (lo[:, 1] <= p[1]) & (hi[:, 1] >= p[1]))[0]
        a, b, c = tri[near, 0], tri[near, 1], tri[near, 2]
        den = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
        ok = np.abs(den) > 1e-12
        l1 = ((b[:, 1] - c[:, 1]) * (p[0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (p[1] - c[:, 1])) / np.where(ok, den, 1)
        l2 = ((c[:, 1] - a[:, 1]) * (p[0] - c[:, 0]) + (a[:, 0] - c[:, 0]) * (p[1] - c[:, 1])) / np.where(ok, den, 1)
        l3 = 1 - l1 - l2
        hit = ok & (l1 >= 0) & (l2 >= 0) & (l3 >= 0)
        zs = tri_z[near][hit]
        bary = np.stack([l1, l2, l3], 1)[hit]
        depth = 1.0 / (bary / zs).sum(1) if len(zs) else np.array([np.inf])
        hidden = depth.min() < z - tolerance[i]
        if panel_uv is not None:
            hidden |= panel_uv[0] <= p[0] <= panel_uv[2] and panel_uv[1] <= p[1] <= panel_uv[3]
        out[i] = 1 if hidden else 2
    return out


# Head axes (left, down, back) in Anny's world at rest: +X, -Z, +Y (the body faces -Y).
_HEAD_AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _head_truth(engine: SynthHumanEngine, posed: dict, R: np.ndarray, t: np.ndarray, K: np.ndarray) -> list[dict]:
    """Per frame: head angles, rotation, and the bounding sphere of the head's vertices."""
    from ..signals.head_pose import angles_from_rotation
    from .raster import project

    verts = posed["vertices"][:, engine._dominant == "head"]  # [T, Vh, 3]
    rot = posed["head_rot"]
    mean = verts.mean(1, keepdims=True)
    local = np.einsum("tvi,tij->tvj", verts - mean, rot)  # into the head's rest-aligned frame
    centre = np.einsum("tij,tj->ti", rot, 0.5 * (local.min(1) + local.max(1))) + mean[:, 0]
    radius = float(np.linalg.norm(verts[0] - centre[0], axis=-1).max())
    centre_cam = centre @ R.T + t
    uv = project(centre_cam, K)
    out = []
    for i in range(len(verts)):
        r_cam = R @ rot[i] @ _HEAD_AXES
        yaw, pitch, roll = angles_from_rotation(r_cam)
        out.append({"yaw_deg": float(yaw), "pitch_deg": float(pitch), "roll_deg": float(roll),
                    "R_head_to_cam": r_cam.tolist(), "center_cam": centre_cam[i].tolist(), "radius_m": radius,
                    "center_uv": uv[i].tolist(), "radius_px": float(K[0, 0] * radius / centre_cam[i, 2])})
    return out


def _draw_panel(frames: np.ndarray, panel) -> tuple[np.ndarray, list[float]]:
    """The occluding panel drawn over every frame (it stands in front of the body); its pixel box."""
    h, w = frames.shape[1:3]
    x0, y0, x1, y1 = (int(round(v)) for v in (panel[0] * w, panel[1] * h, panel[2] * w, panel[3] * h))
    out = frames.copy()
    shade = np.linspace(0.9, 0.6, max(y1 - y0, 1))[:, None, None]
    out[:, y0:y1, x0:x1] = (np.array([150, 110, 70]) * shade).astype(np.uint8)
    return out, [float(x0), float(y0), float(x1 - 1), float(y1 - 1)]


def render_case(engine: SynthHumanEngine, name: str, num_frames: int, variant: int = 0,
                limb_morphs: bool = True) -> dict:
    """Frames ``[T, H, W, 3]``, silhouettes ``[T, H, W]`` bool, the ground-truth JSON and any reference photo
    of the case ``name`` (its held-out ``variant`` when that is over 0, with or without ``limb_morphs``)."""
    spec, look = variant_case(name, CASES[name], _LOOK, variant, limb_morphs)
    subject = Subject({**_ADULT, **spec["body"]}, **look, local_changes=spec.get("local_changes", {}))
    motion = case_motion(spec["motion"][0], spec["motion"][1], num_frames, engine.fps)
    clip = engine.render(subject, motion, Camera(*spec["view"], spec["framing"]))
    posed = engine.pose(subject, motion)
    K, R, t = (np.asarray(clip.gt[k], np.float64) for k in ("K", "R", "t"))
    frames, panel_uv = clip.frames, None
    if spec.get("panel"):
        frames, panel_uv = _draw_panel(frames, spec["panel"])
    kp = posed["keypoints"][:, :17] @ R.T + t
    uv = np.asarray(clip.gt["uv"])[:, :17]
    heads = _head_truth(engine, posed, R, t, K)
    rows = []
    for i in range(num_frames):
        vis = keypoint_visibility(posed["vertices"][i] @ R.T + t, engine.faces, kp[i], K, engine.width,
                                  engine.height, _TOLERANCE, panel_uv)
        mp = {"uv": [None] * 33, "xyz_cam": [None] * 33, "vis": [0] * 33}
        for c, m in enumerate(MP33_FROM_COCO):
            mp["uv"][m], mp["xyz_cam"][m], mp["vis"][m] = uv[i, c].tolist(), kp[i, c].tolist(), int(vis[c])
        rows.append({"index": i, "time_s": i / engine.fps,
                     "coco17": {"uv": uv[i].tolist(), "xyz_cam": kp[i].tolist(), "vis": vis.tolist()},
                     "mp33": mp, "head": heads[i], "person_bbox_xyxy": np.asarray(clip.gt["person_box"][i]).tolist()})
    rest = posed["rest_vertices"]
    gt = {
        "clip": name, "set": "hard", "variant": int(variant), "description": spec["text"], "hard_case_tags": [spec["motion"][0], spec["framing"]],
        "video": {"width": engine.width, "height": engine.height, "fps": engine.fps, "n_frames": num_frames},
        "camera": {"K": K.tolist(), "fx": K[0, 0], "fy": K[1, 1], "cx": K[0, 2], "cy": K[1, 2],
                   "R_world_to_cam": R.tolist(), "t_world_to_cam": t.tolist()},
        "body": {"phenotype": subject.phenotype, "local_changes": subject.local_changes,
                 "height_m_rest": float(rest[:, 2].max() - rest[:, 2].min()), "head_radius_m": heads[0]["radius_m"],
                 **segment_truth(engine.rest_keypoints(subject), posed["keypoints"], engine.keypoint_names)},
        "appearance": {k: v for k, v in asdict(subject).items() if k not in ("phenotype", "local_changes")},
        "motion": {"kind": spec["motion"][0], **spec["motion"][1]},
        "occluder": None if panel_uv is None else {"kind": "panel", "bbox_xyxy": panel_uv},
        "keypoint_names": {"coco17": list(COCO17)}, "frames": rows,
    }
    out = {"frames": frames, "masks": clip.masks > 0.5, "gt": gt}
    if spec.get("reference"):
        body, framing = spec["reference"]
        ref_subject = Subject({**_ADULT, **body}, **{**look, "shirt": spec.get("ref_shirt", (0.7, 0.3, 0.3))})
        still = {"kind": "still", "num_frames": 1, "rotations": {}}
        ref = engine.render(ref_subject, still, Camera(*spec.get("ref_view", (0.0, 3.0)), framing))
        rK, rR, rt = (np.asarray(ref.gt[k], np.float64) for k in ("K", "R", "t"))
        out["reference"] = ref.frames[0]
        out["reference_gt"] = {"framing": framing, "phenotype": ref_subject.phenotype,
                               "head": _head_truth(engine, engine.pose(ref_subject, still), rR, rt, rK)[0],
                               "coco17_uv": np.asarray(ref.gt["uv"])[0, :17].tolist()}
    return out


def segment_truth(rest_keypoints: np.ndarray, posed_keypoints: np.ndarray, names: list[str]) -> dict:
    """The shared set's two COCO segment fields: lengths at rest and each one's [min, max] over the clip.

    The rest lengths are what keypoint-based limb estimates are scored against: the COCO points follow the
    skinned surface, so posed lengths drift with the pose (a shoulder point slides as the arm lifts).
    """
    rest = coco_segment_lengths(rest_keypoints, names)
    posed = coco_segment_lengths(posed_keypoints, names)
    return {"coco_segment_lengths_rest_m": {k: round(float(v), 5) for k, v in rest.items()},
            "coco_segment_lengths_clip_range_m": {k: [round(float(v.min()), 5), round(float(v.max()), 5)]
                                                  for k, v in posed.items()}}


def write_hard_cases(out_dir, *, size: int = 384, frames: int = 40, names=None, engine=None, variant: int = 0,
                     limb_morphs: bool = True, progress: ProgressFn = None, cancel: CancelFn = None) -> list[Path]:
    """Render the hard cases (or their held-out ``variant``, its limb lengths morphed unless ``limb_morphs``
    is False) into ``out_dir`` (mp4, png, json, silhouettes; ``.ref.png``/``.ref.json``)."""
    from ..signals.video_io import write_image, write_video

    names = list(names or CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise ValueError(f"hard cases: unknown names {unknown}; choose from {list(CASES)}")
    if variant < 0:
        raise ValueError(f"hard cases: variant must be 0 (the set itself) or more, got {variant}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    morphs = variant > 0 and limb_morphs  # variants morph limb lengths unless asked not to
    eng = engine or SynthHumanEngine(size, size, local_changes=morphs)
    paths = []
    for k, name in enumerate(names):
        check_cancel(cancel)
        case = render_case(eng, name, frames, variant, limb_morphs)
        write_video(str(out / f"{name}.mp4"), case["frames"], eng.fps, crf=20)
        write_image(str(out / f"{name}.png"), case["frames"][0])
        (out / f"{name}.json").write_text(json.dumps(case["gt"]))
        np.savez_compressed(out / f"{name}.silhouette.npz", bits=np.packbits(case["masks"], axis=-1),
                            shape=np.array(case["masks"].shape))
        if "reference" in case:
            write_image(str(out / f"{name}.ref.png"), case["reference"])
            (out / f"{name}.ref.json").write_text(json.dumps(case["reference_gt"]))
        paths.append(out / f"{name}.mp4")
        report(progress, k + 1, len(names))
    return paths


def load_silhouettes(path) -> np.ndarray:
    """Silhouettes ``[T, H, W]`` bool from a ``NAME.silhouette.npz``."""
    data = np.load(path)
    shape = tuple(int(v) for v in data["shape"])
    return np.unpackbits(data["bits"], axis=-1)[..., :shape[-1]].astype(bool)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--only", nargs="*", default=None, help=f"some of: {', '.join(CASES)}")
    parser.add_argument("--variant", type=int, default=0,
                        help="0: the set itself; N > 0: held-out versions (other bodies, views, motions, looks)")
    parser.add_argument("--no-limb-morphs", dest="limb_morphs", action="store_false",
                        help="variants keep every draw but the arm/leg length morphs (bodies are phenotypes alone)")
    args = parser.parse_args(argv)
    write_hard_cases(args.out_dir, size=args.size, frames=args.frames, names=args.only, variant=args.variant,
                     limb_morphs=args.limb_morphs,
                     progress=lambda d, n: print(f"{d}/{n} cases written", flush=True))


if __name__ == "__main__":
    main()
