"""Scores of a character mask against a true silhouette (used by tests and the mask benchmark)."""
from __future__ import annotations

import numpy as np


def mask_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """IoU, share of person pixels missed, and flicker of boolean masks ``[T, H, W]``.

    flicker: the share of pixels that change state between consecutive frames where the
    true silhouette does not change (pixels the person really enters or leaves do not count).
    """
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise ValueError(f"pred: shape {pred.shape} differs from the truth's {truth.shape}")
    union = (pred | truth).sum()
    iou = float((pred & truth).sum() / union) if union else 1.0
    person = truth.sum()
    missed = float((truth & ~pred).sum() / person) if person else 0.0
    flicker = 0.0
    if len(pred) > 1:
        stable = truth[1:] == truth[:-1]
        flicker = float(((pred[1:] != pred[:-1]) & stable).sum() / max(stable.sum(), 1))
    return {"iou": iou, "missed": missed, "flicker": flicker}
