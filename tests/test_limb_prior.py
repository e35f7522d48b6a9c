"""The limb shape estimate: a measurement weighed against the body-shape prior (synthetic measurements)."""
from __future__ import annotations

import numpy as np
import pytest

from dreamactor_core.signals.limb_prior import LIMBS, PRIOR_COV, PRIOR_MEAN, estimate_limbs

FULL = {k: 1.0 for k in LIMBS}


def _shape(lengths: dict) -> np.ndarray:
    """Each limb's log length less the mean of the four (the body's proportions, size removed)."""
    v = np.log([lengths[k] for k in LIMBS])
    return v - v.mean()


def _measured(deviation: np.ndarray, size: float = 0.4) -> dict:
    """Lengths with the prior's mean shape plus ``deviation`` (log), at an arbitrary size."""
    return {k: float(size * np.exp(m + d)) for k, m, d in zip(LIMBS, PRIOR_MEAN, deviation)}


def test_the_average_shape_comes_back_unchanged_at_its_size():
    """A body of exactly the prior's shape is returned as measured: only proportions are pulled, never the size."""
    measured = _measured(np.zeros(4), size=0.37)
    out = estimate_limbs(measured, FULL)
    for k in LIMBS:
        assert out[k] == pytest.approx(measured[k], rel=1e-4)


def test_a_steadily_seen_unusual_body_keeps_its_shape_a_glimpsed_one_leans_on_the_prior():
    """A body 2 sd from the average shape along the bodies' main direction of variation (upper arm and
    thigh short, forearm and shin long: 9 % apart). Measured on every frame, the estimate keeps over
    half of that deviation on every limb; the same numbers from a clip that saw each limb on only 40 %
    of its frames (guessed joints at the edges) keep under a tenth: they lean on the average shape."""
    var, vec = np.linalg.eigh(PRIOR_COV)
    dev = 2.0 * np.sqrt(var[-1]) * vec[:, -1]
    measured = _measured(dev)
    base = PRIOR_MEAN - PRIOR_MEAN.mean()
    kept = (_shape(estimate_limbs(measured, FULL)) - base) / dev
    glimpsed = (_shape(estimate_limbs(measured, {k: 0.4 for k in LIMBS})) - base) / dev
    assert np.all(kept > 0.5) and np.all(kept <= 1.0), kept
    assert np.all(glimpsed < 0.1) and np.all(glimpsed >= 0.0), glimpsed


def test_a_noisy_limb_is_pulled_more_than_the_others_of_the_same_clip():
    """One limb seen on half the frames, three on all: the estimate moves the half-seen limb's share
    towards the prior by more than any other's (each limb's reliability counts, not one shared pull)."""
    dev = np.array([0.03, -0.03, 0.03, -0.03])
    measured = _measured(dev)
    share = {**FULL, "thigh": 0.5}
    moved = np.abs(_shape(estimate_limbs(measured, share)) - _shape(measured))
    pulled = moved / np.abs(dev)
    assert pulled[LIMBS.index("thigh")] > pulled[[0, 1, 3]].max()


def test_fewer_than_two_limbs_are_returned_as_measured():
    """One limb has no proportion to weigh (its length is all size); unmeasured limbs stay out."""
    assert estimate_limbs({"upper_arm": 0.3, "forearm": np.nan}, {"upper_arm": 1.0}) == {"upper_arm": 0.3}
    two = estimate_limbs({"upper_arm": 0.3, "forearm": 0.2, "thigh": np.nan}, {"upper_arm": 1.0, "forearm": 1.0})
    assert set(two) == {"upper_arm", "forearm"} and all(np.isfinite(v) for v in two.values())
