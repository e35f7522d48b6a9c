"""Synthetic humans with exact ground truth, from the ``anny`` body model.

The engine poses one Anny body (MakeHuman based, with shape parameters and a
rig) with procedural motions, renders it with our own rasteriser under varied
body shape, clothing colours, background and camera, and returns the frames
with their ground truth: COCO keypoints in 2D and 3D, head angles in the
synthetic data's convention, the person box and the silhouette. Rendering a
second body with the same poses and camera gives the exact target frame for
"reference body in the driving pose", which is what evaluation needs.

World axes are Anny's: metres, +Z up, +X the subject's left, the body faces -Y.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .raster import project, rasterize, vertex_normals

MOTIONS = ("wave", "walk", "squat", "head", "turn", "reach")
FRAMINGS = ("full", "upper", "portrait")
# The COCO-17 keypoint pairs the shared synthetic set reports as ``coco_segment_lengths_rest_m`` (its names):
# what a keypoint-based estimate such as MediaPipe's is compared with.
COCO_SEGMENTS = {
    "left_upper_arm": ("left_shoulder", "left_elbow"), "right_upper_arm": ("right_shoulder", "right_elbow"),
    "left_forearm": ("left_elbow", "left_wrist"), "right_forearm": ("right_elbow", "right_wrist"),
    "left_thigh": ("left_hip", "left_knee"), "right_thigh": ("right_hip", "right_knee"),
    "left_shin": ("left_knee", "left_ankle"), "right_shin": ("right_knee", "right_ankle"),
    "shoulder_width": ("left_shoulder", "right_shoulder"), "hip_width": ("left_hip", "right_hip"),
    "left_torso_side": ("left_shoulder", "left_hip"), "right_torso_side": ("right_shoulder", "right_hip"),
}


@dataclass
class Subject:
    """Body shape and look of one synthetic person."""

    phenotype: dict[str, float]
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    shirt: tuple[float, float, float]
    pants: tuple[float, float, float]
    shoes: tuple[float, float, float]
    background: tuple[tuple[float, float, float], tuple[float, float, float]]
    # Anny local morphs (e.g. "measure-upperarm-length-incr", each in [-1, 1]); needs an engine made with
    # local_changes=True. Empty: the body is its phenotype alone.
    local_changes: dict[str, float] = field(default_factory=dict)


@dataclass
class Camera:
    """A pinhole camera looking at the body from azimuth/elevation (degrees)."""

    azimuth: float
    elevation: float
    framing: str = "full"
    K: np.ndarray | None = None
    R: np.ndarray | None = None
    t: np.ndarray | None = None


@dataclass
class Clip:
    frames: np.ndarray  # uint8 [T, H, W, 3]
    masks: np.ndarray  # float32 [T, H, W]
    gt: dict = field(default_factory=dict)


def _rot(axis: str, deg: np.ndarray) -> np.ndarray:
    """Rotation matrices [T, 3, 3] about a world axis."""
    a = np.deg2rad(np.asarray(deg, np.float64))
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    if axis == "x":
        m = [[o, z, z], [z, c, -s], [z, s, c]]
    elif axis == "y":
        m = [[c, z, s], [z, o, z], [-s, z, c]]
    else:
        m = [[c, -s, z], [s, c, z], [z, z, o]]
    return np.moveaxis(np.array(m), (0, 1), (-2, -1))


def coco_segment_lengths(keypoints: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Length (metres) of each :data:`COCO_SEGMENTS` pair in ``keypoints`` ``[..., K, 3]`` named by ``names``."""
    kp = np.asarray(keypoints, np.float64)
    return {seg: np.linalg.norm(kp[..., names.index(a), :] - kp[..., names.index(b), :], axis=-1)
            for seg, (a, b) in COCO_SEGMENTS.items()}


class SynthHumanEngine:
    """Renders posed Anny bodies. One instance holds the (large) body model."""

    def __init__(self, width: int = 128, height: int = 128, fps: float = 25.0, local_changes: bool = False):
        import anny  # imported here: only the training engine needs it
        import torch

        self._torch = torch
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        # Local morphs (limb lengths and the like) load extra blend shapes: only when asked for.
        self.local_changes = bool(local_changes)
        self.model = anny.Anny(local_changes="default") if self.local_changes else anny.Anny()
        self.keypoints = anny.KeypointsRegressor.coco(self.model)
        self.keypoint_names = list(self.keypoints.labels)
        self.bones = list(self.model.bone_labels)
        self.faces = self.model.get_triangular_faces().cpu().numpy()
        idx = self.model.vertex_bone_indices.cpu().numpy()
        w = self.model.vertex_bone_weights.cpu().numpy()
        self._dominant = np.array(self.bones)[idx[np.arange(len(idx)), w.argmax(1)]]

    # --- sampling --------------------------------------------------------
    def sample_subject(self, rng: np.random.Generator) -> Subject:
        """A random adult body and look."""
        ph = {
            "gender": float(rng.uniform(0, 1)), "age": float(rng.uniform(0.5, 0.9)),
            "muscle": float(rng.uniform(0.3, 0.7)), "weight": float(rng.uniform(0.3, 0.8)),
            "height": float(rng.uniform(0.2, 0.8)), "proportions": float(rng.uniform(0.3, 0.7)),
        }
        tone = rng.uniform(0.35, 0.95)
        skin = (tone, tone * rng.uniform(0.72, 0.82), tone * rng.uniform(0.58, 0.7))

        def colour() -> tuple[float, float, float]:
            return tuple(float(v) for v in rng.uniform(0.05, 0.95, 3))

        hair_l = rng.uniform(0.05, 0.6)
        bg = (colour(), colour())
        return Subject(ph, skin, (hair_l, hair_l * 0.8, hair_l * 0.6), colour(), colour(), colour(), bg)

    def sample_camera(self, rng: np.random.Generator, framing: str | None = None) -> Camera:
        framing = framing or str(rng.choice(FRAMINGS, p=[0.6, 0.25, 0.15]))
        return Camera(float(rng.uniform(-30, 30)), float(rng.uniform(-2, 12)), framing)

    def sample_motion(self, rng: np.random.Generator, num_frames: int, kind: str | None = None) -> dict:
        """Per-frame local rotations {bone: [T,3,3]} plus the motion's description."""
        kind = kind or str(rng.choice(MOTIONS))
        t = np.arange(num_frames) / self.fps
        f = rng.uniform(0.4, 1.0)
        ph = rng.uniform(0, 2 * np.pi)
        s = np.sin(2 * np.pi * f * t + ph)
        c = np.cos(2 * np.pi * f * t + ph)
        rots: dict[str, np.ndarray] = {}
        side = rng.choice([1, -1])
        if kind == "wave":
            arm, sign = ("upperarm01.R", 1) if side > 0 else ("upperarm01.L", -1)
            fore = arm.replace("upperarm01", "lowerarm01")
            rots[arm] = _rot("y", sign * (rng.uniform(90, 140) + 15 * s))
            rots[fore] = _rot("y", sign * (30 + 30 * c))
        elif kind == "walk":
            amp = rng.uniform(20, 40)
            rots["upperleg01.L"] = _rot("x", -amp * np.clip(s, 0, None))
            rots["upperleg01.R"] = _rot("x", -amp * np.clip(-s, 0, None))
            rots["lowerleg01.L"] = _rot("x", 1.5 * amp * np.clip(s, 0, None))
            rots["lowerleg01.R"] = _rot("x", 1.5 * amp * np.clip(-s, 0, None))
            rots["upperarm01.L"] = _rot("x", 0.8 * amp * s)
            rots["upperarm01.R"] = _rot("x", -0.8 * amp * s)
        elif kind == "squat":
            depth = rng.uniform(40, 80) * (0.5 - 0.5 * c)
            for sd in "LR":
                rots[f"upperleg01.{sd}"] = _rot("x", -depth)
                rots[f"lowerleg01.{sd}"] = _rot("x", 2 * depth)
                rots[f"foot.{sd}"] = _rot("x", -depth)
                rots[f"upperarm01.{sd}"] = _rot("x", -1.2 * depth)
            rots["spine03"] = _rot("x", -0.3 * depth)
        elif kind == "head":
            yaw = rng.uniform(30, 60) * s
            pitch = rng.uniform(10, 25) * np.sin(2 * np.pi * 0.7 * f * t)
            rots["neck02"] = _rot("z", 0.4 * yaw) @ _rot("x", -0.4 * pitch)
            rots["head"] = _rot("z", 0.6 * yaw) @ _rot("x", -0.6 * pitch)
        elif kind == "turn":
            rots["root"] = _rot("z", rng.uniform(30, 80) * s)
            rots["upperarm01.L"] = _rot("y", -20 - 10 * c)
            rots["upperarm01.R"] = _rot("y", 20 + 10 * c)
        else:  # reach: both arms forward/up with elbows bending
            lift = rng.uniform(40, 100) * (0.5 + 0.5 * s)
            for sd in "LR":
                rots[f"upperarm01.{sd}"] = _rot("x", -lift)
                rots[f"lowerarm01.{sd}"] = _rot("x", -30 * (0.5 + 0.5 * c))
        return {"kind": kind, "num_frames": num_frames, "rotations": rots}

    # --- posing and rendering -------------------------------------------
    def _body_kwargs(self, subject: Subject, num_frames: int) -> dict:
        """The model's shape arguments for ``subject``, repeated over ``num_frames``."""
        torch = self._torch

        def rows(values: dict) -> dict:
            return {k: torch.full((num_frames,), v, dtype=self.model.dtype) for k, v in values.items()}

        local = None
        if subject.local_changes:
            if not self.local_changes:
                raise ValueError("synthetic humans: this subject has local_changes; make the engine with "
                                 "SynthHumanEngine(..., local_changes=True)")
            local = rows(subject.local_changes)
        return {"phenotype_kwargs": rows(subject.phenotype), "local_changes_kwargs": local}

    def rest_keypoints(self, subject: Subject) -> np.ndarray:
        """COCO keypoints ``[K, 3]`` (metres) of ``subject`` at rest.

        Rest is the model posed with no pose parameters, as the shared set's ``coco_segment_lengths_rest_m``
        (its six clips' twelve lengths agree to 5e-6 m, their rounding); the unskinned ``rest_vertices`` the
        model also returns give limbs a few millimetres off that.
        """
        with self._torch.no_grad():
            out = self.model(pose_parameters=None, **self._body_kwargs(subject, 1))
            return self.keypoints(out)[0].cpu().numpy().astype(np.float64)

    def pose(self, subject: Subject, motion: dict) -> dict:
        """Posed vertices [T,V,3], COCO keypoints [T,K,3] and head rotation [T,3,3] in world metres."""
        torch = self._torch
        T = motion["num_frames"]
        params = {}
        for bone, rot in motion["rotations"].items():
            m = np.tile(np.eye(4), (T, 1, 1))
            m[:, :3, :3] = rot
            params[bone] = torch.from_numpy(m).to(self.model.dtype)
        with torch.no_grad():
            out = self.model(pose_parameters=params or None, **self._body_kwargs(subject, T))
            kp = self.keypoints(out)
        verts = out["vertices"].cpu().numpy()
        kps = kp.cpu().numpy()
        rest = out["rest_vertices"].cpu().numpy()
        # Feet stay on the floor: the lowest point of each frame is put back at the rest floor.
        drop = verts[..., 2].min(1) - rest[..., 2].min(1)
        verts[..., 2] -= drop[:, None]
        kps[..., 2] -= drop[:, None]
        head = self.bones.index("head")
        bp = out["bone_poses"].cpu().numpy()
        rbp = out["rest_bone_poses"].cpu().numpy()
        head_rot = bp[:, head, :3, :3] @ np.swapaxes(rbp[:, head, :3, :3], 1, 2)
        head_pos = bp[:, head, :3, 3] - np.stack([np.zeros(T), np.zeros(T), drop], 1)
        return {"vertices": verts, "keypoints": kps, "head_rot": head_rot, "head_pos": head_pos,
                "rest_vertices": rest[0]}

    def place_camera(self, camera: Camera, rest_vertices: np.ndarray) -> Camera:
        """Fill K, R, t so the framing's body part fits the image."""
        zmin, zmax = rest_vertices[:, 2].min(), rest_vertices[:, 2].max()
        h = zmax - zmin
        if camera.framing == "portrait":
            lo, hi = zmax - 0.3 * h, zmax + 0.02 * h
        elif camera.framing == "upper":
            lo, hi = zmax - 0.6 * h, zmax + 0.03 * h
        else:
            lo, hi = zmin - 0.06 * h, zmax + 0.06 * h
        target = np.array([0.0, 0.0, 0.5 * (lo + hi)])
        f = 1.5 * max(self.width, self.height)
        dist = f * (hi - lo) / self.height
        a, e = np.deg2rad(camera.azimuth), np.deg2rad(camera.elevation)
        pos = target + dist * np.array([np.sin(a) * np.cos(e), -np.cos(a) * np.cos(e), np.sin(e)])
        fwd = (target - pos) / np.linalg.norm(target - pos)
        right = np.cross(fwd, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        R = np.stack([right, down, fwd])
        K = np.array([[f, 0, (self.width - 1) / 2], [0, f, (self.height - 1) / 2], [0, 0, 1.0]])
        return Camera(camera.azimuth, camera.elevation, camera.framing, K, R, -R @ pos)

    def _vertex_colours(self, subject: Subject, rest: np.ndarray) -> np.ndarray:
        dom = self._dominant

        def part(*prefixes: str) -> np.ndarray:
            return np.array([d.startswith(prefixes) for d in dom])

        col = np.tile(np.array(subject.skin), (len(dom), 1))
        torso = part("spine", "clavicle", "shoulder", "upperarm", "pelvis")
        col[torso] = subject.shirt
        legs = part("upperleg", "lowerleg", "pelvis")
        col[legs] = subject.pants
        col[part("foot", "toe")] = subject.shoes
        head = dom == "head"
        hz, hy = rest[head, 2], rest[head, 1]
        # Hair: the top and the back of the skull, never the face (which looks along -Y). The back
        # starts behind the ears (the head's vertices crowd the face, so the front-back median lies
        # near the cheeks: a cut there painted cheeks, temples and jaw like a balaclava) and above
        # the jaw line, as on the shared synthetic set.
        z, y = rest[:, 2], rest[:, 1]
        hair = head & ((z > np.percentile(hz, 72)) | ((y > np.percentile(hy, 75)) & (z > np.percentile(hz, 40))))
        col[hair] = subject.hair
        col[part("eye")] = (0.08, 0.06, 0.05)
        return col

    def render(self, subject: Subject, motion: dict, camera: Camera) -> Clip:
        """Render a clip of ``subject`` doing ``motion`` seen by ``camera``, with ground truth."""
        posed = self.pose(subject, motion)
        cam = camera if camera.K is not None else self.place_camera(camera, posed["rest_vertices"])
        albedo = self._vertex_colours(subject, posed["rest_vertices"])
        bg = _background(subject.background, self.width, self.height)
        light = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
        frames, masks = [], []
        for verts in posed["vertices"]:
            n = vertex_normals(verts, self.faces)
            shade = 0.35 + 0.65 * np.clip(n @ light, 0, 1)
            vc = np.clip(albedo * shade[:, None], 0, 1)
            img, mask = rasterize(verts @ cam.R.T + cam.t, self.faces, vc, cam.K, self.width, self.height, bg)
            frames.append((img * 255 + 0.5).astype(np.uint8))
            masks.append(mask)
        kp_cam = posed["keypoints"] @ cam.R.T + cam.t
        uv = project(kp_cam, cam.K)
        face_dir = cam.R @ (posed["head_rot"] @ np.array([0.0, -1.0, 0.0])).T  # [3, T]
        yaw = np.degrees(np.arctan2(face_dir[0], -face_dir[2]))
        pitch = np.degrees(np.arctan2(-face_dir[1], np.hypot(face_dir[0], face_dir[2])))
        masks_np = np.stack(masks)
        gt = {
            "keypoint_names": self.keypoint_names, "uv": uv.astype(np.float32),
            "xyz_cam": kp_cam.astype(np.float32), "head_yaw": yaw, "head_pitch": pitch,
            "head_center_uv": project(posed["head_pos"] @ cam.R.T + cam.t, cam.K),
            "person_box": _boxes(masks_np), "K": cam.K, "R": cam.R, "t": cam.t,
            "motion": motion["kind"], "framing": cam.framing, "fps": self.fps,
        }
        return Clip(np.stack(frames), masks_np, gt)


def _background(colours, width: int, height: int) -> np.ndarray:
    top, bottom = np.array(colours[0]), np.array(colours[1])
    ramp = np.linspace(0, 1, height)[:, None, None]
    return np.broadcast_to(top * (1 - ramp) + bottom * ramp, (height, width, 3)).astype(np.float32)


def _boxes(masks: np.ndarray) -> np.ndarray:
    boxes = np.full((len(masks), 4), np.nan, np.float32)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m > 0.5)
        if len(xs):
            boxes[i] = (xs.min(), ys.min(), xs.max(), ys.max())
    return boxes


def yaw_sweep(engine: SynthHumanEngine, num_frames: int, max_yaw: float = 60.0) -> dict:
    """A turn-around motion (root yaw from -max to +max) used for pseudo-references."""
    yaw = np.linspace(-max_yaw, max_yaw, num_frames)
    return {"kind": "yaw_sweep", "num_frames": num_frames, "rotations": {"root": _rot("z", yaw)}, "yaw": yaw}
