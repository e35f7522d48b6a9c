"""Our own 3D skeleton: joint hierarchy, rest directions, bone rotations and forward kinematics.

The skeleton is defined here from scratch (no SMPL assets). Its joints are the
MediaPipe landmarks themselves plus four derived joints (pelvis = hip midpoint,
spine = torso midpoint, neck = shoulder midpoint, head = ear midpoint), so a
pose maps to joints with no fitting and back to landmarks with no loss.

Rest pose (the canonical frame, camera-aligned like MediaPipe's world
landmarks): x = the subject's LEFT, y = down, z = away from a camera the
subject faces. The subject stands upright in a T-pose facing -z.

Every bone is named by its child joint ``j`` (from ``parents[j]`` to ``j``). A
bone's global rotation maps its rest direction onto the observed direction.
Twist (the free spin about the bone) is made stable by carrying the parent's
frame with the smallest rotation (a "swing"), except where a landmark line
fixes it: the pelvis frame from the hip line, the head from the ear line, a
hand from its knuckle line. Forward kinematics runs through
``smplx.lbs.batch_rigid_transform`` (which needs no model files).

Everything is vectorised over frames; the only Python loops run over tree
depth levels (a handful), never over frames.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch
from smplx.lbs import batch_rigid_transform, batch_rodrigues

_EPS = 1e-9


@contextlib.contextmanager
def small_tensor_mode():
    """Run torch single-threaded and in inference mode for the tiny [T, J, 3, 3] tensors here.

    Skeleton tensors are a few kB; torch's thread pool costs far more than it gains
    on them (measured 16x slower with 2 threads on a loaded 2-core machine). Nothing here
    is differentiated, and inference mode drops autograd's per-op bookkeeping, a fifth of
    retargeting's skeleton time on such tensors (the same kernels, the same numbers). The
    tensors it returns cannot be changed in place outside it (copy them first).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class Skeleton:
    """A joint tree. Joint 0 is the root; ``parents[j] < j`` for every other joint.

    - ``rest_dirs[j]``: unit direction of bone ``parents[j] -> j`` in the rest pose.
    - ``groups[j]``: the length group of bone ``j`` (what ``bone_scales`` and
      reference proportions name), ``""`` for the root.
    - ``root_axes``: ((a, b, rest), (c, d, rest)): the root frame's primary axis is the
      line a->b (rest direction ``rest``), its secondary axis the line c->d.
    - ``twist_lines``: bone j -> (a, b, rest): bone j's twist follows the line a->b.
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    rest_dirs: np.ndarray
    groups: tuple[str, ...]
    root_axes: tuple[tuple[int, int, tuple[float, float, float]], ...]
    twist_lines: dict[int, tuple[int, int, tuple[float, float, float]]] = field(default_factory=dict)

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, name: str) -> int:
        return self.joints.index(name)

    def levels(self) -> list[np.ndarray]:
        """Bones grouped by tree depth (depth 1 = children of the root), parents first."""
        depth = [0] * self.num_joints
        for j in range(1, self.num_joints):
            depth[j] = depth[self.parents[j]] + 1
        return [np.array([j for j in range(1, self.num_joints) if depth[j] == d])
                for d in range(1, max(depth) + 1)]


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


# --------------------------------------------------------------------------- body
# MediaPipe Pose's 33 landmark names, in its order.
MP33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
DERIVED = ("pelvis", "spine", "neck", "head")
# Derived joint -> the MediaPipe landmarks whose mean it is.
DERIVED_FROM = {"pelvis": (23, 24), "neck": (11, 12), "head": (7, 8)}

# (joint, parent, rest direction (left-side form; mirrored for "right_"), group)
_BODY_SPEC = [
    ("pelvis", None, (0, 0, 0), ""),
    ("spine", "pelvis", (0, -1, 0), "torso"),
    ("neck", "spine", (0, -1, 0), "torso"),
    ("head", "neck", (0, -1, 0), "neck"),
    ("nose", "head", (0, 0.15, -1), "head"),
    ("left_eye_inner", "head", (0.15, -0.1, -1), "head"),
    ("left_eye", "head", (0.35, -0.1, -1), "head"),
    ("left_eye_outer", "head", (0.5, -0.1, -0.9), "head"),
    ("right_eye_inner", "head", (0.15, -0.1, -1), "head"),
    ("right_eye", "head", (0.35, -0.1, -1), "head"),
    ("right_eye_outer", "head", (0.5, -0.1, -0.9), "head"),
    ("left_ear", "head", (1, 0, 0), "head"),
    ("right_ear", "head", (1, 0, 0), "head"),
    ("mouth_left", "head", (0.25, 0.5, -1), "head"),
    ("mouth_right", "head", (0.25, 0.5, -1), "head"),
    ("left_shoulder", "neck", (1, 0, 0), "shoulder_width"),
    ("right_shoulder", "neck", (1, 0, 0), "shoulder_width"),
    ("left_elbow", "left_shoulder", (1, 0, 0), "upper_arm"),
    ("right_elbow", "right_shoulder", (1, 0, 0), "upper_arm"),
    ("left_wrist", "left_elbow", (1, 0, 0), "forearm"),
    ("right_wrist", "right_elbow", (1, 0, 0), "forearm"),
    ("left_pinky", "left_wrist", (1, 0.1, 0.2), "hand"),
    ("right_pinky", "right_wrist", (1, 0.1, 0.2), "hand"),
    ("left_index", "left_wrist", (1, 0.1, -0.2), "hand"),
    ("right_index", "right_wrist", (1, 0.1, -0.2), "hand"),
    ("left_thumb", "left_wrist", (0.7, 0.2, -0.7), "hand"),
    ("right_thumb", "right_wrist", (0.7, 0.2, -0.7), "hand"),
    ("left_hip", "pelvis", (1, 0, 0), "hip_width"),
    ("right_hip", "pelvis", (1, 0, 0), "hip_width"),
    ("left_knee", "left_hip", (0, 1, 0), "thigh"),
    ("right_knee", "right_hip", (0, 1, 0), "thigh"),
    ("left_ankle", "left_knee", (0, 1, 0), "shin"),
    ("right_ankle", "right_knee", (0, 1, 0), "shin"),
    ("left_heel", "left_ankle", (0, 0.5, 0.85), "heel"),
    ("right_heel", "right_ankle", (0, 0.5, 0.85), "heel"),
    ("left_foot_index", "left_ankle", (0, 0.45, -0.9), "foot"),
    ("right_foot_index", "right_ankle", (0, 0.45, -0.9), "foot"),
]


def _mirror(name: str, d) -> tuple[float, float, float]:
    """Rest directions are written for the subject's left side; the right side mirrors x."""
    x, y, z = d
    return (-x, y, z) if name.startswith("right_") else (x, y, z)


def _build(name, spec, root_axes, twist) -> Skeleton:
    names = tuple(s[0] for s in spec)
    parents = tuple(-1 if s[1] is None else names.index(s[1]) for s in spec)
    dirs = np.zeros((len(spec), 3))
    for j, s in enumerate(spec[1:], start=1):
        dirs[j] = _unit(_mirror(s[0], s[2]))
    idx = names.index
    root = tuple((idx(a), idx(b), tuple(r)) for a, b, r in root_axes)
    tw = {idx(j): (idx(a), idx(b), tuple(r)) for j, (a, b, r) in twist.items()}
    return Skeleton(name, names, parents, dirs, tuple(s[3] for s in spec), root, tw)


BODY = _build(
    "body", _BODY_SPEC,
    root_axes=[("right_hip", "left_hip", (1, 0, 0)), ("neck", "pelvis", (0, 1, 0))],
    twist={"head": ("right_ear", "left_ear", (1, 0, 0))},
)
# body joint index -> MediaPipe 33 index (derived joints are not landmarks)
BODY_TO_MP33 = np.array([MP33.index(n) if n in MP33 else -1 for n in BODY.joints])
MP33_TO_BODY = np.array([BODY.index(n) for n in MP33])

# --------------------------------------------------------------------------- hands
# MediaPipe Hands' 21 points: wrist, then thumb, index, middle, ring, pinky (4 each, base to tip).
HAND21 = ("wrist",) + tuple(f"{f}_{k}" for f in ("thumb", "index", "middle", "ring", "pinky")
                            for k in (1, 2, 3, 4))
_THUMB_REST = (0.6, 0.2, -0.8)


def _hand(side: str) -> Skeleton:
    sign = 1.0 if side == "left" else -1.0
    spec = [("wrist", None, (0, 0, 0), "")]
    for finger in ("thumb", "index", "middle", "ring", "pinky"):
        for k in (1, 2, 3, 4):
            parent = "wrist" if k == 1 else f"{finger}_{k - 1}"
            d = _THUMB_REST if finger == "thumb" else (1, 0, 0)
            spec.append((f"{finger}_{k}", parent, (sign * d[0], d[1], d[2]), "hand"))
    return _build(
        f"{side}_hand", spec,
        root_axes=[("wrist", "middle_1", (sign, 0, 0)), ("pinky_1", "index_1", (0, 0, -1))],
        twist={},
    )


LEFT_HAND = _hand("left")
RIGHT_HAND = _hand("right")


# --------------------------------------------------------------------------- landmarks -> joints
def body_joints(landmarks: np.ndarray) -> np.ndarray:
    """Body joint positions ``[..., 37, 3]`` from MediaPipe-33 landmarks ``[..., 33, 3]``.

    Works for world landmarks, camera coordinates or pixels (any affine space):
    derived joints are midpoints, the rest are the landmarks themselves.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim < 2 or lm.shape[-2] != 33:
        raise ValueError(f"body landmarks: expected [..., 33, C], got {lm.shape}")
    out = np.empty(lm.shape[:-2] + (BODY.num_joints, lm.shape[-1]))
    out[..., MP33_TO_BODY, :] = lm
    for name, (a, b) in DERIVED_FROM.items():
        out[..., BODY.index(name), :] = 0.5 * (lm[..., a, :] + lm[..., b, :])
    out[..., BODY.index("spine"), :] = 0.5 * (out[..., BODY.index("pelvis"), :] + out[..., BODY.index("neck"), :])
    return out


def joints_to_mp33(joints: np.ndarray) -> np.ndarray:
    """MediaPipe-33 landmarks ``[..., 33, C]`` back from body joints ``[..., 37, C]``."""
    return np.asarray(joints)[..., MP33_TO_BODY, :]


def bone_lengths(skel: Skeleton, joints: np.ndarray) -> np.ndarray:
    """Per-frame bone lengths ``[..., J]`` (entry 0, the root, is 0)."""
    j = np.asarray(joints, dtype=np.float64)
    par = np.array(skel.parents)
    out = np.zeros(j.shape[:-1])
    out[..., 1:] = np.linalg.norm(j[..., 1:, :] - j[..., par[1:], :], axis=-1)
    return out


# --------------------------------------------------------------------------- rotations
def _frame(primary: torch.Tensor, secondary: torch.Tensor) -> torch.Tensor:
    """Orthonormal frames ``[N, 3, 3]`` (columns p, s, p x s) from two directions ``[N, 3]``."""
    p = primary / primary.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    s = secondary - (secondary * p).sum(-1, keepdim=True) * p
    s = s / s.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    return torch.stack([p, s, torch.cross(p, s, dim=-1)], dim=-1)


def _rest_frame(primary, secondary) -> torch.Tensor:
    f = _frame(torch.tensor([primary], dtype=torch.float64), torch.tensor([secondary], dtype=torch.float64))
    return f[0]


def _swing(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Smallest rotations ``[N, 3, 3]`` taking unit vectors ``src`` onto ``dst`` (via Rodrigues)."""
    axis = torch.cross(src, dst, dim=-1)
    sin = axis.norm(dim=-1)
    cos = (src * dst).sum(-1)
    angle = torch.atan2(sin, cos)
    # Opposite vectors: any axis perpendicular to src works; pick one that is not parallel.
    helper = torch.where((src[:, :1].abs() < 0.9), torch.tensor([1.0, 0, 0], dtype=src.dtype),
                         torch.tensor([0, 1.0, 0], dtype=src.dtype))
    fallback = torch.cross(src, helper, dim=-1)
    axis = torch.where((sin < 1e-8)[:, None], fallback, axis)
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    return batch_rodrigues(axis * angle[:, None])


@dataclass
class Pose:
    """Bone rotations of a skeleton over T frames (torch float64).

    ``root_rot`` [T,3,3] global root frame; ``global_rot`` [T,J,3,3] each bone's global
    rotation (rest direction -> observed); ``local_rot`` [T,J,3,3] relative to the parent
    bone (entry 0 = ``root_rot``); ``lengths`` [T,J] observed bone lengths.
    """

    root_rot: torch.Tensor
    global_rot: torch.Tensor
    local_rot: torch.Tensor
    lengths: torch.Tensor


def bone_rotations(skel: Skeleton, joints: np.ndarray) -> Pose:
    """Per-frame bone rotations from joint positions ``[T, J, 3]``.

    A bone's global rotation maps its rest direction exactly onto the observed one.
    Twist comes from the skeleton's twist lines or, elsewhere, from the parent frame
    carried by the smallest swing. Zero-length bones keep the carried direction.
    """
    with small_tensor_mode():
        return _bone_rotations(skel, joints)


def _bone_rotations(skel: Skeleton, joints: np.ndarray) -> Pose:
    x = torch.as_tensor(np.asarray(joints, dtype=np.float64))
    if x.ndim != 3 or x.shape[1:] != (skel.num_joints, 3):
        raise ValueError(f"{skel.name} joints: expected [T, {skel.num_joints}, 3], got {tuple(x.shape)}")
    t = x.shape[0]
    par = torch.tensor(skel.parents)
    rest = torch.as_tensor(skel.rest_dirs)
    (a, b, ra), (c, d, rc) = skel.root_axes
    root = _frame(x[:, b] - x[:, a], x[:, d] - x[:, c]) @ _rest_frame(ra, rc).T
    glob = torch.zeros(t, skel.num_joints, 3, 3, dtype=torch.float64)
    glob[:, 0] = root
    vec = x[:, 1:] - x[:, par[1:]]
    lengths = torch.zeros(t, skel.num_joints, dtype=torch.float64)
    lengths[:, 1:] = vec.norm(dim=-1)
    for level in skel.levels():
        lv = torch.as_tensor(level)
        g_par = glob[:, par[lv]]  # [T, n, 3, 3]
        carried = (g_par @ rest[lv][None, :, :, None])[..., 0]  # parent frame applied to rest dirs
        obs = vec[:, lv - 1]
        norm = obs.norm(dim=-1, keepdim=True)
        obs = torch.where(norm > 1e-7, obs / norm.clamp_min(_EPS), carried)
        n = len(level)
        rot = (_swing(carried.reshape(-1, 3), obs.reshape(-1, 3)).reshape(t, n, 3, 3) @ g_par)
        for k, j in enumerate(level.tolist()):
            if j in skel.twist_lines:  # the twist is observed: build the full frame instead
                ta, tb, tr = skel.twist_lines[j]
                rot[:, k] = _frame(obs[:, k], x[:, tb] - x[:, ta]) @ _rest_frame(tuple(rest[j].tolist()), tr).T
        glob[:, lv] = rot
    local = glob.clone()
    local[:, 1:] = glob[:, par[1:]].transpose(-1, -2) @ glob[:, 1:]
    return Pose(root, glob, local, lengths)


# --------------------------------------------------------------------------- forward kinematics
def rest_joints(skel: Skeleton, lengths) -> torch.Tensor:
    """Rest-pose joint positions ``[T, J, 3]`` (root at the origin) for bone lengths ``[T, J]``."""
    lengths = torch.as_tensor(lengths, dtype=torch.float64)
    offsets = torch.as_tensor(skel.rest_dirs)[None] * lengths[..., None]
    anc = _ancestors(skel)
    return torch.einsum("jk,tkc->tjc", anc, offsets)


def _ancestors(skel: Skeleton) -> torch.Tensor:
    """``[J, J]`` matrix with 1 where bone k lies on the path from the root to joint j."""
    m = np.zeros((skel.num_joints, skel.num_joints))
    for j in range(1, skel.num_joints):
        k = j
        while k > 0:
            m[j, k] = 1.0
            k = skel.parents[k]
    return torch.as_tensor(m)


def forward_kinematics(skel: Skeleton, pose_local: torch.Tensor, lengths, root_pos=None) -> np.ndarray:
    """Joint positions ``[T, J, 3]`` from local rotations ``[T, J, 3, 3]`` and bone lengths ``[T, J]``.

    Runs ``smplx.lbs.batch_rigid_transform`` on an expanded tree: per bone a start
    node (at the parent joint, carrying the bone's local rotation) and an end node
    (at the child joint). The root node carries ``pose_local[:, 0]``.
    """
    with small_tensor_mode():
        return _forward_kinematics(skel, pose_local, lengths, root_pos)


def _forward_kinematics(skel: Skeleton, pose_local, lengths, root_pos) -> np.ndarray:
    local = torch.as_tensor(pose_local, dtype=torch.float64)
    t, nj = local.shape[:2]
    lengths = torch.as_tensor(lengths, dtype=torch.float64).expand(t, nj)
    rest = rest_joints(skel, lengths)
    par = skel.parents
    # Node ids: root 0; bone j has a start node 2j-1 (at its parent joint, rotated by the
    # bone's local rotation) and an end node 2j (at joint j, identity), whose children are
    # the start nodes of the bones leaving joint j.
    nodes = 1 + 2 * (nj - 1)
    starts = [2 * j - 1 for j in range(1, nj)]
    ends = [2 * j for j in range(1, nj)]
    node_par = [-1] * nodes
    src = [0] * nodes  # the rest joint each node sits on
    for j in range(1, nj):
        node_par[2 * j - 1] = 0 if par[j] == 0 else 2 * par[j]
        node_par[2 * j] = 2 * j - 1
        src[2 * j - 1], src[2 * j] = par[j], j
    rots = torch.eye(3, dtype=torch.float64).repeat(t, nodes, 1, 1)
    rots[:, 0] = local[:, 0]
    rots[:, starts] = local[:, 1:]
    posed, _ = batch_rigid_transform(rots, rest[:, src], torch.tensor(node_par), dtype=torch.float64)
    out = posed[:, [0] + ends]
    if root_pos is not None:
        out = out + torch.as_tensor(np.asarray(root_pos, dtype=np.float64))[:, None]
    return out.numpy()


def segment_angle(joints: np.ndarray, a: int, b: int, c: int) -> np.ndarray:
    """Angle in degrees at joint b between segments b->a and b->c, per frame."""
    u = joints[..., a, :] - joints[..., b, :]
    v = joints[..., c, :] - joints[..., b, :]
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
