"""The skeleton definition, bone rotations and forward kinematics, against synth ground truth."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dreamactor_core.signals.skeleton import (
    BODY, BODY_TO_MP33, HAND21, LEFT_HAND, MP33, RIGHT_HAND, body_joints, bone_lengths, bone_rotations,
    forward_kinematics, joints_to_mp33, segment_angle,
)


def _mp33_cam(synth_dir, clip):
    gt = json.loads((synth_dir / f"{clip}.json").read_text())
    return np.array([f["mp33"]["xyz_cam"] for f in gt["frames"]])


@pytest.mark.parametrize("skel", [BODY, LEFT_HAND, RIGHT_HAND], ids=lambda s: s.name)
def test_tree_is_well_formed(skel):
    assert skel.parents[0] == -1
    assert all(0 <= p < j for j, p in enumerate(skel.parents) if j)
    norms = np.linalg.norm(skel.rest_dirs[1:], axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-12)
    assert all(g for g in skel.groups[1:])


def test_body_covers_mediapipe_and_derived_joints():
    assert set(MP33) <= set(BODY.joints)
    for name in ("pelvis", "spine", "neck", "head"):
        assert name in BODY.joints
    assert (BODY_TO_MP33 >= 0).sum() == 33
    assert LEFT_HAND.joints == HAND21 and len(HAND21) == 21
    # Left and right are mirror images in the rest pose.
    for j, name in enumerate(BODY.joints):
        if name.startswith("left_"):
            r = BODY.rest_dirs[BODY.index("right_" + name[5:])]
            np.testing.assert_allclose(r, BODY.rest_dirs[j] * [-1, 1, 1])


def test_derived_joints_and_round_trip(synth_dir):
    x = _mp33_cam(synth_dir, "pub01_walk_in_place")
    j = body_joints(x)
    np.testing.assert_allclose(j[:, BODY.index("pelvis")], x[:, 23:25].mean(1))
    np.testing.assert_allclose(j[:, BODY.index("neck")], x[:, 11:13].mean(1))
    np.testing.assert_allclose(j[:, BODY.index("head")], x[:, 7:9].mean(1))
    np.testing.assert_allclose(joints_to_mp33(j), x)


@pytest.mark.parametrize("clip", ["pub03_squat", "pub04_turn_landscape"])
def test_rotations_and_fk_reproduce_ground_truth(synth_dir, clip):
    x = body_joints(_mp33_cam(synth_dir, clip))
    pose = bone_rotations(BODY, x)
    g = pose.global_rot.numpy()
    # Proper rotations that take each rest direction onto the observed bone direction.
    np.testing.assert_allclose(g @ np.swapaxes(g, -1, -2), np.broadcast_to(np.eye(3), g.shape), atol=1e-6)
    np.testing.assert_allclose(np.linalg.det(g), 1.0, atol=1e-6)
    par = np.array(BODY.parents)
    obs = x[:, 1:] - x[:, par[1:]]
    obs /= np.linalg.norm(obs, axis=-1, keepdims=True)
    mapped = np.einsum("tjab,jb->tja", g[:, 1:], BODY.rest_dirs[1:])
    np.testing.assert_allclose(mapped, obs, atol=1e-6)
    # Forward kinematics (smplx.lbs) rebuilds the joints from local rotations + lengths.
    y = forward_kinematics(BODY, pose.local_rot, pose.lengths, root_pos=x[:, 0])
    assert np.abs(y - x).max() < 1e-6
    np.testing.assert_allclose(bone_lengths(BODY, y), pose.lengths.numpy(), atol=1e-6)


def test_twist_is_stable_over_a_walk(synth_dir):
    x = body_joints(_mp33_cam(synth_dir, "pub01_walk_in_place"))
    local = bone_rotations(BODY, x).local_rot.numpy()
    step = np.einsum("tjik,tjil->tjkl", local[:-1], local[1:])
    angle = np.degrees(np.arccos(np.clip((np.trace(step, axis1=2, axis2=3) - 1) / 2, -1, 1)))
    # 25 fps, joint speeds of the walk are well under 400 deg/s: no twist flips.
    assert angle.max() < 20.0, BODY.joints[int(angle.max(0).argmax())]


@pytest.mark.parametrize("skel", [BODY, LEFT_HAND], ids=lambda s: s.name)
def test_random_pose_round_trip(skel):
    """Random local rotations -> FK -> bone_rotations -> FK gives the same joints."""
    gen = torch.Generator().manual_seed(0)
    t = 16
    from smplx.lbs import batch_rodrigues
    rotvec = (torch.rand(t * skel.num_joints, 3, generator=gen, dtype=torch.float64) - 0.5) * 1.6
    local = batch_rodrigues(rotvec).reshape(t, skel.num_joints, 3, 3)
    lengths = torch.rand(t, skel.num_joints, generator=gen, dtype=torch.float64) * 0.3 + 0.05
    x = forward_kinematics(skel, local, lengths)
    pose = bone_rotations(skel, x)
    np.testing.assert_allclose(pose.lengths.numpy()[:, 1:], lengths.numpy()[:, 1:], atol=1e-7)
    y = forward_kinematics(skel, pose.local_rot, pose.lengths)
    assert np.abs(y - x).max() < 1e-6


def test_scaling_lengths_keeps_angles(synth_dir):
    x = body_joints(_mp33_cam(synth_dir, "pub03_squat"))
    pose = bone_rotations(BODY, x)
    y = forward_kinematics(BODY, pose.local_rot, pose.lengths * 1.3)
    knee = [BODY.index(n) for n in ("left_hip", "left_knee", "left_ankle")]
    np.testing.assert_allclose(segment_angle(y, *knee), segment_angle(x, *knee), atol=1e-4)
    np.testing.assert_allclose(bone_lengths(BODY, y), bone_lengths(BODY, x) * 1.3, atol=1e-6)


def test_folded_and_zero_length_bones_stay_finite():
    """A fully folded elbow (bone opposite its carried direction) and a zero-length bone."""
    eye = torch.eye(3, dtype=torch.float64).repeat(1, BODY.num_joints, 1, 1)
    lengths = torch.full((1, BODY.num_joints), 0.2, dtype=torch.float64)
    x = forward_kinematics(BODY, eye, lengths)
    x[0, BODY.index("left_wrist")] = x[0, BODY.index("left_shoulder")]  # forearm folded back
    x[0, BODY.index("right_thumb")] = x[0, BODY.index("right_wrist")]  # zero length
    pose = bone_rotations(BODY, x)
    assert torch.isfinite(pose.global_rot).all()
    y = forward_kinematics(BODY, pose.local_rot, pose.lengths)
    assert np.abs(y - x).max() < 1e-6
