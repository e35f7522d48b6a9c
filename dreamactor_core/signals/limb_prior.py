"""Limb proportions: a clip's measurement weighed against a prior on body shape.

Measured on one clip, MediaPipe's limb lengths scatter about as much as bodies differ: on the public
and hard sets each limb's share of the body (its log length less the four limbs' mean) misses the
truth by 1.6-3.7 % rms, while the bodies' own shares spread by 1.5-2.4 %. Body-model fitters weigh
such evidence against a prior on shape, and so does :func:`estimate_limbs`, the textbook Gaussian
way: the posterior mean given the prior (mean shape ``PRIOR_MEAN``, the bodies' spread around it
``PRIOR_COV``) and the measurement's noise (``NOISE_SD`` per limb). The overall size is left free
(``SCALE_VAR``): only the proportions between limbs are weighed. A limb the clip saw on only part of
its frames leans more on the prior (noise sd over the seen share squared): on the public and hard
sets the three limbs seen on 82-88 % of the frames miss by 5.1 % rms, the fully seen ones by 2.5 %.

The truth is the body's keypoints at rest (the public set's ``coco_segment_lengths_rest_m``, which its
README gives for comparing keypoint estimates). A posed body's keypoints are not at those distances:
with the arms hanging, the bodies' forearm keypoints sit 0-3 % further apart than at rest and their
upper arm ones 0-5 % closer. ``MEASURE_OFFSET`` is the shape MediaPipe's measurement reads on average
against that truth (what ``body_size.LANDMARK_BIAS`` leaves of it); it is taken off before weighing.

Proportions change with stature: a child's thighs are short for its arms, a tall body's long. MediaPipe
hardly sees it (its landmarks pull every body towards an average adult: on the held-out variant sets the
measurement's error correlates with the true log height by 0.3-0.7, opposite in sign to the true
shares'). Where the clip gives a height (``body_size.estimate_height``: head-to-body ratio) the prior's
mean moves along ``HEIGHT_SLOPE`` (each share per unit of log stature) and its spread is what is left
around that line (``PRIOR_COV_GIVEN_HEIGHT``). MediaPipe's offset moves with stature too
(``MEASURE_HEIGHT_SLOPE``): its landmarks sit off the body's joints by amounts set by parts that do not scale
with the limbs (its hip a share of the torso above the body's hip, and a child's torso is long against its
thighs) and pull every body towards an adult's shape. In pixels, its thigh over the true one falls with the
true log stature (correlation -0.82 over 80 clips of the public, hard and held-out sets). The line fitted on
the public and hard sets (upper arm, forearm, thigh, shin: +1.4, +9.0, -4.0, -6.4 % per unit of log stature)
has the same sign on every limb fitted on the held-out variant sets without limb morphs (38 clips: +4.6, +4.2,
-7.0, -1.8) and with them (26 clips: +12.2, +7.7, -10.4, -9.5).

Nothing else the clip shows says how far to trust it. Over 220 limbs (the public and hard sets and
nine held-out variant sets) a limb's error correlates with the spread of its per-frame lengths, the
left/right gap, how flat it lies and its size in pixels by -0.02 to 0.09 (with its seen share by
-0.26): MediaPipe's per-body landmark offsets hold steady over frames, so a steady measurement is not
a right one, and the weights are per limb, not per clip. Nor does the pose help: MediaPipe's upper arm
reads 1-2.5 % short when raised past the horizontal and its shin 4-6 % short in a deep squat, but measured
on the frames nearest rest (upper arm below the horizontal, elbow straighter than 120 deg, knee than 150)
the clips over 3 % stay where they are (25-27 of 77 held out; the public squat's shin reads as short on its
standing frames).

Source: the 14 clips of the public and hard sets, nothing held out (``benchmarks/limb_floor.py
--fit-prior`` refits them). ``PRIOR_MEAN``, ``HEIGHT_SLOPE``, ``PRIOR_COV_GIVEN_HEIGHT``: a line through
the 14 bodies' true shares against their log stature, centred at ``HEIGHT_REF``, and its residuals'
covariance; ``PRIOR_COV``: the shares' covariance. ``MEASURE_OFFSET`` and ``NOISE_SD``: the mean and the
rms (mean removed) of measured less true share over the 10 clips measuring four limbs; ``MEASURE_HEIGHT_SLOPE``:
the slope of that difference against the log of the clip's estimated stature (what the estimate is given). Anny's own
phenotype space as the prior (1,000 bodies, with or without its limb-length morphs) did worse on the
held-out sets: its forearms and thighs spread 2-3 times wider than these bodies'.

The cost: bodies far off the average are flattened. Scored against the posed keypoints (the truth before
the rest lengths), clips over 3 % on eleven held-out sets went 43 -> 30 of 77 with the first prior, but
the estimate follows 0.17 of the morphed bodies' true deviation (the measurement 0.39), and a fresh
morphed walk (legs +8 %, forearm -11 % of the average shape) went 4.8 -> 7.5 %. A heavy-tailed prior
(its covariance x1 or x4, weighted 0.8 / 0.2 by each clip's likelihood) follows 0.26 but put the public
and hard sets' fast jacks over 3 %.

Where the shrink comes from (fifteen held-out sets, measured before ``body_size.PROJECTION_CAP``): MediaPipe's
2D landmarks placed at the true depths follow 0.50, 0.87, 0.41 and 0.88 of the morphed bodies' deviations
(upper arm, forearm, thigh, shin): its elbow and hip slide along the limb towards an average adult's places
(-0.46 of the true share). Its depth does the rest: the arms-to-legs balance follows 0.26 as measured, 0.67 at
the true depths. Even at the true depths, weighed against this prior refitted alike, 30 of 105 held-out clips
stay over 3 % (as many as at its own depths; 79 with no prior): the per-body landmark offsets, not the prior's
weight, set the floor.
"""
from __future__ import annotations

import numpy as np

LIMBS = ("upper_arm", "forearm", "thigh", "shin")
HEIGHT_REF = 1.738  # m: the 14 bodies' geometric mean stature, where PRIOR_MEAN holds
PRIOR_MEAN = np.array([-0.1584, -0.2750, 0.2207, 0.2126])
HEIGHT_SLOPE = np.array([-0.0143, -0.0403, 0.0558, -0.0012])
PRIOR_COV = 1e-4 * np.array([[2.560, -0.364, 1.083, -3.279],
                             [-0.364, 3.209, -1.950, -0.894],
                             [1.083, -1.950, 2.282, -1.415],
                             [-3.279, -0.894, -1.415, 5.588]])
PRIOR_COV_GIVEN_HEIGHT = 1e-4 * np.array([[2.719, -0.548, 1.386, -3.557],
                                          [-0.548, 3.044, -1.514, -0.982],
                                          [1.386, -1.514, 1.644, -1.516],
                                          [-3.557, -0.982, -1.516, 6.054]])
MEASURE_OFFSET = np.array([-0.0202, 0.0110, 0.0033, 0.0059])
NOISE_SD = np.array([0.0181, 0.0394, 0.0209, 0.0266])
MEASURE_HEIGHT_SLOPE = np.array([0.0141, 0.0899, -0.0401, -0.0639])
# Prior variance of the common log size: large against the shares' (~1e-3), so the measurement alone
# sets the body's size and only the proportions between limbs are weighed.
SCALE_VAR = 100.0


def estimate_limbs(measured: dict, seen_share: dict, height_m: float | None = None) -> dict:
    """Posterior-mean lengths of the :data:`LIMBS` measured (finite in ``measured``, same unit back).

    ``seen_share``: per limb, the share of the clip's frames it was measured on (0-1]. ``height_m``: the
    body's estimated stature, or None where the clip gives none (the prior is then the bodies' average
    shape). Fewer than two limbs measured: returned as measured (one length is all size and no proportion).
    """
    names = [k for k in LIMBS if np.isfinite(measured.get(k, np.nan))]
    out = {k: float(measured[k]) for k in names}
    if len(names) < 2:
        return out
    i = [LIMBS.index(k) for k in names]
    share = np.clip([seen_share[k] for k in names], 0.05, 1.0)
    noise = np.diag((NOISE_SD[i] / share ** 2) ** 2)
    if height_m is None:
        shape, cov, offset = PRIOR_MEAN, PRIOR_COV, MEASURE_OFFSET
    else:
        stature = np.log(height_m / HEIGHT_REF)
        shape, cov = PRIOR_MEAN + HEIGHT_SLOPE * stature, PRIOR_COV_GIVEN_HEIGHT
        offset = MEASURE_OFFSET + MEASURE_HEIGHT_SLOPE * stature
    m = np.log([measured[k] for k in names]) - offset[i]
    prior = cov[np.ix_(i, i)] + SCALE_VAR
    mean = shape[i] + np.mean(m - shape[i])
    post = mean + prior @ np.linalg.solve(prior + noise, m - mean)
    return {k: float(np.exp(v)) for k, v in zip(names, post)}
