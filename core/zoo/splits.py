"""Train/val/test splits of a zoo, always by model: a model's checkpoints never sit in two splits."""
from __future__ import annotations

import numpy as np

from core.errors import HyperVizError


def split_by_model(model_ids, fractions=(0.7, 0.15, 0.15), seed: int = 42) -> np.ndarray:
    """``"train"``/``"val"``/``"test"`` per row, splitting the *unique* model ids.

    All rows (checkpoints) of one model land in one split. Unique ids are sorted, shuffled with
    ``seed``, and cut by ``fractions`` (rounded, at least one model per split), so the result does
    not depend on the order of the rows. Needs at least 3 models.
    """
    ids = np.asarray(model_ids)
    if ids.ndim != 1:
        raise HyperVizError(f"model ids must be one per row, got shape {tuple(ids.shape)}")
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or np.any(~np.isfinite(fr)) or np.any(fr <= 0) or abs(fr.sum() - 1.0) > 1e-6:
        raise HyperVizError(f"split fractions {tuple(fractions)}: need three positive numbers summing to 1")
    unique, inverse = np.unique(ids, return_inverse=True)
    m = len(unique)
    if m < 3:
        raise HyperVizError(f"zoo too small to split: {m} model{'s' if m != 1 else ''}; need at least 3")
    n_val = max(1, int(round(fr[1] * m)))
    n_test = max(1, int(round(fr[2] * m)))
    while m - n_val - n_test < 1:  # only for tiny zoos: give train its model
        if n_val >= n_test and n_val > 1:
            n_val -= 1
        else:
            n_test -= 1
    order = np.random.default_rng(seed).permutation(m)
    model_split = np.empty(m, dtype="<U5")
    model_split[order[: m - n_val - n_test]] = "train"
    model_split[order[m - n_val - n_test : m - n_test]] = "val"
    model_split[order[m - n_test :]] = "test"
    return model_split[inverse.ravel()]
