"""Held-out variants of the hard-case set: variant 0 is the set, others are seeded and keep each case's class.

The class checks render every case small (96 px, 3 frames) and read the ground truth the
renderer writes: a child's rest height stays a child's, the tall body stays tall (limb-length
morphs included), the panel
still hides the ankles, a portrait never shows the hips, a full-body clip shows hips to ankles.
"""
from __future__ import annotations

import numpy as np
import pytest

from dreamactor_core.training.synth_hardcases import _LOOK, CASES
from dreamactor_core.training.synth_variants import ARM_MORPHS, LEG_MORPHS, body_class, variant_case

VARIANTS = (1, 2, 3)
HEIGHTS = {"child": (1.05, 1.4), "tall": (2.05, 2.45), "adult": (1.35, 2.15)}  # metres, rest height


def test_variant_0_is_the_hard_case_set():
    for name, spec in CASES.items():
        assert variant_case(name, spec, _LOOK, 0) == (spec, _LOOK)


def test_variants_are_seeded_and_differ():
    for name, spec in CASES.items():
        seen = []
        for n in VARIANTS:
            first = variant_case(name, spec, _LOOK, n)
            assert first == variant_case(name, spec, _LOOK, n), name
            var, look = first
            assert var["variant"] == n and var["framing"] == spec["framing"], name
            assert var["body"] != spec["body"] and look != _LOOK and var["motion"][1] != spec["motion"][1], name
            assert var["motion"][0] == spec["motion"][0], name
            seen.append(first)
        assert all(a != b for i, a in enumerate(seen) for b in seen[i + 1:]), name


def test_variants_keep_the_motion_class():
    for n in range(1, 9):
        turn, _ = variant_case("hc04_turn_360", CASES["hc04_turn_360"], _LOOK, n)
        assert abs(turn["motion"][1]["degrees"]) == 360.0
        head, _ = variant_case("hc05_portrait_yaw80", CASES["hc05_portrait_yaw80"], _LOOK, n)
        assert 70.0 <= abs(head["motion"][1]["yaw"]) <= 85.0
        assert abs(head["view"][0]) <= 6.0  # the camera adds to the head's turn
        child, _ = variant_case("hc02_child_march_wave", CASES["hc02_child_march_wave"], _LOOK, n)
        tall, _ = variant_case("hc03_tall_bend", CASES["hc03_tall_bend"], _LOOK, n)
        assert set(child["local_changes"]) == set(ARM_MORPHS)  # a child's height is its class: legs kept
        assert all(tall["local_changes"][k] >= 0.0 for k in LEG_MORPHS)  # the tall body's legs only lengthen
        walk, _ = variant_case("hc06_occluded_walk", CASES["hc06_occluded_walk"], _LOOK, n)
        x0, y0, x1, y1 = walk["panel"]
        assert y1 == 1.0 and y0 <= 0.6 and (x0 == 0.0 or x1 == 1.0) and x1 - x0 >= 0.6


def test_without_limb_morphs_only_the_limbs_change():
    # The variants rendered before limb morphs existed (phenotype-only bodies) stay reproducible.
    for name, spec in CASES.items():
        for n in VARIANTS:
            (morphed, look), (plain, plain_look) = (variant_case(name, spec, _LOOK, n, limb_morphs=m) for m in (True, False))
            assert morphed["local_changes"] and plain["local_changes"] == {}, name
            assert {**plain, "local_changes": morphed["local_changes"]} == morphed and plain_look == look, name


@pytest.fixture(scope="module")
def engine():
    pytest.importorskip("anny")
    from dreamactor_core.training.synth_humans import SynthHumanEngine

    return SynthHumanEngine(96, 96, local_changes=True)


def test_variant_bodies_keep_their_class(engine):
    from dreamactor_core.training.synth_hardcases import _ADULT
    from dreamactor_core.training.synth_humans import Subject

    still = {"kind": "still", "num_frames": 1, "rotations": {}}
    for name, spec in CASES.items():
        lo, hi = HEIGHTS[body_class(name)]
        for n in VARIANTS:
            var, look = variant_case(name, spec, _LOOK, n)
            posed = engine.pose(Subject({**_ADULT, **var["body"]}, **look, local_changes=var["local_changes"]), still)
            rest = posed["rest_vertices"]
            height = rest[:, 2].max() - rest[:, 2].min()
            assert lo <= height <= hi, (name, n, height)
            # The arm morph is there: the same phenotype without it has another shoulder-to-wrist length.
            plain = engine.pose(Subject({**_ADULT, **var["body"]}, **look), still)["keypoints"][0]
            arm = np.linalg.norm(posed["keypoints"][0, 9] - posed["keypoints"][0, 5])
            change = arm / np.linalg.norm(plain[9] - plain[5]) - 1
            assert abs(change) > 0.003 and np.sign(change) == np.sign(var["local_changes"][ARM_MORPHS[0]]), (name, n)


def test_rendered_variant_keeps_its_framing_and_records_itself(engine):
    from dreamactor_core.training.synth_hardcases import render_case

    for name in CASES:
        case = render_case(engine, name, 3, variant=1)
        gt = case["gt"]
        assert gt["variant"] == 1 and gt["motion"] == {"kind": CASES[name]["motion"][0],
                                                      **variant_case(name, CASES[name], _LOOK, 1)[0]["motion"][1]}
        vis = np.array([f["coco17"]["vis"] for f in gt["frames"]])
        framing = CASES[name]["framing"]
        if framing == "portrait":
            assert (vis[:, 11:] == 0).all(), name  # hips, knees and ankles below the frame
        elif framing == "upper":
            assert (vis[:, 13:] == 0).all(), name  # knees and ankles below the frame
        else:
            assert (vis[:, 11:] > 0).all(), name  # hips to ankles in the frame (jacks take the wrists out)
        if CASES[name].get("panel"):
            assert (vis[:, 15:] == 1).all(), name  # the panel hides the ankles
        assert case["masks"].any(axis=(1, 2)).all(), name
    # Same variant, same clip; another variant, another clip.
    a = render_case(engine, "hc02_child_march_wave", 2, variant=1)["frames"]
    assert np.array_equal(a, render_case(engine, "hc02_child_march_wave", 2, variant=1)["frames"])
    assert not np.array_equal(a, render_case(engine, "hc02_child_march_wave", 2, variant=2)["frames"])
