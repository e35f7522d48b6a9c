"""Limb proportions: a clip's measurement weighed against a prior on body shape.

Measured on one clip, MediaPipe's limb lengths scatter about as much as bodies differ: on the public
and hard sets each limb's share of the body (its log length less the four limbs' mean) misses the
truth by 1.8-3.8 % rms, while the bodies' own shares spread by 1.8-2.6 %. Body-model fitters weigh
such evidence against a prior on shape, and so does :func:`estimate_limbs`, the textbook Gaussian
way: the posterior mean given the prior (mean shape ``PRIOR_MEAN``, the bodies' spread around it
``PRIOR_COV``) and the measurement's noise (``NOISE_SD`` per limb). The overall size is left free
(``SCALE_VAR``): only the proportions between limbs are weighed. A limb the clip saw on only part of
its frames leans more on the prior (noise sd over the seen share squared): on the public and hard
sets the three limbs seen on 82-88 % of the frames missed by 5.3 % rms, the fully seen ones by 2.4 %.

Nothing else the clip shows says how far to trust it. Over 220 limbs (the public and hard sets and
nine held-out variant sets) a limb's error correlates with the spread of its per-frame lengths, the
left/right gap, how flat it lies and its size in pixels by -0.02 to 0.09 (with its seen share by
-0.26): MediaPipe's per-body landmark offsets hold steady over frames, so a steady measurement is not
a right one, and the weights are per limb, not per clip.

Source: the 14 clips of the public and hard sets, nothing held out (``benchmarks/limb_floor.py
--fit-prior`` refits them). ``PRIOR_COV``: the covariance of the 14 bodies' true shares (Anny bodies,
limb-length morphs included). ``PRIOR_MEAN``: the mean measured share over the 10 clips measuring
four limbs (MediaPipe's shared landmark offsets are in it, as in the measurement). ``NOISE_SD``:
those clips' rms of measured less true share, their mean removed. Anny's own phenotype space as the
prior (1,000 bodies, with or without its limb-length morphs) did worse on the held-out sets (31-34 of
63 clips over 3 % against 24): its forearms and thighs spread 2-3 times wider than these bodies'.

The cost: bodies far off the average are flattened. On eleven held-out sets clips over 3 % go 43 -> 30
of 77, but the estimate follows 0.17 of the morphed bodies' true deviation (the measurement 0.39), and a
fresh morphed walk (legs +8 %, forearm -11 % of the average shape) went 4.8 -> 7.5 %. A heavy-tailed
prior (its covariance x1 or x4, weighted 0.8 / 0.2 by each clip's likelihood) follows 0.26 and gives
29 of 77 (that walk 5.4 %), but puts the public and hard sets' fast jacks over 3 % (2.93 -> 3.06 %).
"""
from __future__ import annotations

import numpy as np

LIMBS = ("upper_arm", "forearm", "thigh", "shin")
PRIOR_MEAN = np.array([-0.1741, -0.2635, 0.2210, 0.2166])
PRIOR_COV = 1e-4 * np.array([[6.658, -3.569, 1.418, -4.507],
                             [-3.569, 5.139, -2.404, 0.833],
                             [1.418, -2.404, 3.081, -2.095],
                             [-4.507, 0.833, -2.095, 5.768]])
NOISE_SD = np.array([0.0192, 0.0380, 0.0182, 0.0258])
# Prior variance of the common log size: large against the shares' (~1e-3), so the measurement alone
# sets the body's size and only the proportions between limbs are weighed.
SCALE_VAR = 100.0


def estimate_limbs(measured: dict, seen_share: dict) -> dict:
    """Posterior-mean lengths of the :data:`LIMBS` measured (finite in ``measured``, same unit back).

    ``seen_share``: per limb, the share of the clip's frames it was measured on (0-1]. Fewer than two
    limbs measured: returned as measured (one length is all size and no proportion).
    """
    names = [k for k in LIMBS if np.isfinite(measured.get(k, np.nan))]
    out = {k: float(measured[k]) for k in names}
    if len(names) < 2:
        return out
    i = [LIMBS.index(k) for k in names]
    m = np.log([measured[k] for k in names])
    share = np.clip([seen_share[k] for k in names], 0.05, 1.0)
    noise = np.diag((NOISE_SD[i] / share ** 2) ** 2)
    prior = PRIOR_COV[np.ix_(i, i)] + SCALE_VAR
    mean = PRIOR_MEAN[i] + np.mean(m - PRIOR_MEAN[i])
    post = mean + prior @ np.linalg.solve(prior + noise, m - mean)
    return {k: float(np.exp(v)) for k, v in zip(names, post)}
