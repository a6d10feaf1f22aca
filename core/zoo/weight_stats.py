"""The s(W) baseline: per-layer weight statistics (Unterthiner et al., "Predicting neural network
accuracy from weights").

For every parametric layer, separately for its weights and its biases: the mean, the variance
(population variance, ``ddof=0``) and the percentiles 1/25/50/75/99 (linear interpolation, numpy's
default). That gives ``7 x 2 x n_layers`` features, ordered layer by layer, weights before biases::

    L0.w.mean L0.w.var L0.w.p01 L0.w.p25 L0.w.p50 L0.w.p75 L0.w.p99 L0.b.mean ... L1.w.mean ...

It is a strong baseline for property prediction and the probes always show it beside the learned
embeddings.
"""
from __future__ import annotations

import numpy as np
import torch

from core.errors import HyperVizError
from core.zoo.arch import ArchSpec

STATS = ("mean", "var", "p01", "p25", "p50", "p75", "p99")
PERCENTILES = (1.0, 25.0, 50.0, 75.0, 99.0)
_KIND_TAG = {"weight": "w", "bias": "b"}
# Rows per block: bounds the float64 working copy to ~32 MiB whatever the zoo size.
_BLOCK_ELEMENTS = 4_000_000


def _slots_in_order(spec: ArchSpec):
    """Layout slots ordered layer by layer, weight before bias."""
    return sorted(spec.layout, key=lambda s: (s.layer, 0 if s.kind == "weight" else 1))


def weight_statistics_names(spec: ArchSpec) -> list[str]:
    """Feature names of :func:`weight_statistics`, e.g. ``L0.w.mean``, ``L2.b.p99``."""
    return [f"L{slot.layer}.{_KIND_TAG[slot.kind]}.{stat}" for slot in _slots_in_order(spec) for stat in STATS]


def weight_statistics(spec: ArchSpec, weights) -> np.ndarray:
    """s(W) of every row of ``weights`` (``[n, n_params]`` flat vectors): float64 ``[n, 14 * n_layers]``.

    Vectorised over rows (processed in blocks to bound memory); column order as
    :func:`weight_statistics_names`.
    """
    w = np.asarray(weights)
    if w.ndim != 2 or w.shape[1] != spec.n_params:
        raise HyperVizError(
            f"weights of shape {tuple(w.shape)} do not fit {spec.name!r}: expected [n_models, {spec.n_params}]"
        )
    slots = _slots_in_order(spec)
    n = w.shape[0]
    out = np.empty((n, len(slots) * len(STATS)), dtype=np.float64)
    block = max(1, _BLOCK_ELEMENTS // max(1, spec.n_params))
    for start in range(0, n, block):
        rows = slice(start, min(n, start + block))
        for j, slot in enumerate(slots):
            part = np.asarray(w[rows, slot.offset : slot.stop], dtype=np.float64)
            cols = slice(j * len(STATS), (j + 1) * len(STATS))
            res = out[rows, cols]
            res[:, 0] = part.mean(axis=1)
            res[:, 1] = part.var(axis=1)
            res[:, 2:] = np.percentile(part, PERCENTILES, axis=1).T
    return out


def rank_normalise(reference: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Each column of ``x`` ``[n, F]`` mapped through the empirical CDF of the same column of
    ``reference`` ``[m, F]`` (mid-ranks, ties averaged) and the inverse normal CDF: float32, about
    standard normal on the reference rows, monotone in every feature. The hyper-representation's
    statistics head learns these (core.hyperrep.autoencoder): on this scale a heavy-tailed statistic
    such as a layer's variance weighs as much as a mean, and its order is what counts."""
    ref = np.sort(np.asarray(reference, dtype=np.float64), axis=0)
    x = np.asarray(x, dtype=np.float64)
    if ref.ndim != 2 or x.ndim != 2 or ref.shape[1] != x.shape[1] or len(ref) == 0:
        raise HyperVizError(f"rank_normalise: reference {ref.shape} and values {x.shape} need [m, F] and [n, F], m > 0")
    m = len(ref)
    u = np.empty_like(x)
    for j in range(x.shape[1]):
        lo = np.searchsorted(ref[:, j], x[:, j], "left")
        hi = np.searchsorted(ref[:, j], x[:, j], "right")
        u[:, j] = (lo + hi) / (2.0 * m)
    u = np.clip(u, 0.5 / m, 1 - 0.5 / m)
    return torch.special.ndtri(torch.from_numpy(u)).numpy().astype(np.float32)   # inverse normal CDF



def zoo_weight_statistics(zoo, states: np.ndarray) -> np.ndarray:
    """s(W) of the zoo's model states ``states [n, 2]`` (model row, checkpoint): float64
    ``[n, 14 * L]`` with ``L`` the most layers among the zoo's architectures. Each state's statistics
    are those of its own architecture, layer ``l`` in the columns of layer ``l`` whatever the
    architecture; the columns of layers an architecture lacks are 0. For a zoo of one architecture
    this is :func:`weight_statistics`."""
    states = np.asarray(states, dtype=np.int64).reshape(-1, 2)
    if not zoo.is_mixed:
        return weight_statistics(zoo.archs[0], zoo.weights[states[:, 0], states[:, 1]])
    width = 2 * len(STATS) * max(spec.n_layers for spec in zoo.archs)
    out = np.zeros((len(states), width), dtype=np.float64)
    names = zoo.model_archs()[states[:, 0]]
    for spec in zoo.archs:
        pick = np.flatnonzero(names == spec.name)
        if len(pick):
            rows = states[pick]
            stats = weight_statistics(spec, zoo.weights[rows[:, 0], rows[:, 1], : spec.n_params])
            out[pick, : stats.shape[1]] = stats
    return out
