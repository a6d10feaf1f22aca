"""Histogram bins of a numeric property, computed once per table so a selection change only counts.

The property panel draws one histogram per numeric property of the visible states, with the
selected states on top; both are ``bincount``\\ s of the bin index of every row computed here.
"""
from __future__ import annotations

import numpy as np

N_BINS = 30


def histogram_bins(values: np.ndarray, n_bins: int = N_BINS) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(edges [b+1], bin index per value [n] (-1 = NaN), integer)`` for a numeric column.

    Integer-valued columns with few values get one bin per integer, centred on it.
    """
    x = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(x)
    if not finite.any():
        return np.array([0.0, 1.0]), np.full(len(x), -1), False
    lo, hi = float(x[finite].min()), float(x[finite].max())
    integer = bool(np.all(x[finite] == np.round(x[finite]))) and hi - lo <= 60
    if integer:
        edges = np.arange(lo - 0.5, hi + 1.0, 1.0)
    else:
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, n_bins + 1)
    index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    index[~finite] = -1
    return edges, index, integer
