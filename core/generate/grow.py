"""Models for a wider architecture than the zoo's: function-preserving widening (Net2WiderNet).

A hyper-representation generates weights of the architectures it was trained on. To sample for a
*larger member of the same family* that is not in the zoo (``sample --arch cnn_wide`` on a zoo of
``cnn``), hyperviz samples in the zoo's architecture and widens every sample to the target:

* every hidden unit (conv channel, linear neuron) of the target is a **replica** of one source
  unit: unit ``j < width_source`` is unit ``j`` itself, each further unit a uniformly drawn one;
  a replica copies its source's incoming weights and bias;
* the layer after it reads each replica with a **share** of the source unit's outgoing weights:
  the shares of one source unit's replicas are positive and sum to 1 (drawn uniform in
  ``[0.5, 1.5]`` and normalised), so the widened model computes *exactly* the function of its
  source (the replicas compute the same values, for any elementwise activation, max-pool and
  dropout); unequal shares give the replicas different gradients, so fine-tuning can separate
  them (equal shares would keep them identical forever);
* a linear layer after ``flatten`` reads ``channels x positions`` features; a channel's replica
  brings its positions along.

Two architectures can be widened into each other when they have the same layers in the same
order (types, kernel sizes, padding, pooling), the same input and the same number of classes, and
every hidden width of the target is at least the source's (:func:`check_widenable`). The
widened samples' zero-shot accuracy is therefore their source sample's; what the wider model
adds shows after fine-tuning, beside a ``random`` initialisation of the target architecture.
"""
from __future__ import annotations

import numpy as np
import torch

from core.errors import HyperVizError
from core.zoo.arch import ArchSpec
from core.zoo.modules import split_params

_SHAPE_KEYS = ("kernel", "padding", "size")


def widening_problem(source: ArchSpec, target: ArchSpec) -> str | None:
    """Why ``source`` cannot be widened into ``target`` (None: it can)."""
    if source.input_shape != target.input_shape:
        return f"inputs differ ({source.input_shape} vs {target.input_shape})"
    if [layer["type"] for layer in source.layers] != [layer["type"] for layer in target.layers]:
        return "their layers differ in type or order"
    for i, (a, b) in enumerate(zip(source.layers, target.layers)):
        for key in _SHAPE_KEYS:
            if a.get(key, 0) != b.get(key, 0):
                return f"layer {i} ({a['type']}) differs in {key} ({a.get(key, 0)} vs {b.get(key, 0)})"
        if a["type"] in ("conv", "linear") and b["out"] < a["out"]:
            return f"layer {i} ({a['type']}) is narrower in {target.name!r} ({b['out']} < {a['out']} units)"
    if source.n_classes != target.n_classes:
        return f"their number of classes differs ({source.n_classes} vs {target.n_classes})"
    return None


def check_widenable(source: ArchSpec, target: ArchSpec) -> None:
    """A one-line error when ``source`` cannot be widened into ``target``."""
    problem = widening_problem(source, target)
    if problem is not None:
        raise HyperVizError(f"architecture {target.name!r} is not a wider {source.name!r}: {problem}")


def _replicas(width_source: int, width_target: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Which source unit each target unit copies ``[width_target]``, and its share of that unit's
    outgoing weights (the shares of one unit's replicas sum to 1)."""
    extra = rng.integers(0, width_source, size=width_target - width_source)
    source = np.concatenate([np.arange(width_source), extra])
    share = rng.uniform(0.5, 1.5, size=width_target)
    total = np.bincount(source, weights=share, minlength=width_source)
    return source, share / total[source]


def widen(source: ArchSpec, target: ArchSpec, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``weights [n, P_source]`` widened to ``[n, P_target]`` (see the module docstring); one
    replica map for all ``n`` models, drawn from ``rng``."""
    check_widenable(source, target)
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 2 or weights.shape[1] != source.n_params:
        raise HyperVizError(f"weights of shape {weights.shape} do not fit {source.name!r} ({source.n_params} parameters)")
    params = split_params(source, torch.from_numpy(weights))
    out = []
    units_in = np.arange(source.input_shape[0])              # the input is not widened
    share_in, width_in = np.ones(len(units_in)), len(units_in)
    for layer_index, i in enumerate(source.parametric_layers):
        layer_s, layer_t = source.layers[i], target.layers[i]
        w, b = params[2 * layer_index], params[2 * layer_index + 1]
        if layer_index == source.n_layers - 1:               # the classes stay as they are
            units, share = np.arange(layer_s["out"]), np.ones(layer_s["out"])
        else:
            units, share = _replicas(layer_s["out"], layer_t["out"], rng)
        cols, col_share = units_in, share_in
        if layer_s["in"] != width_in:
            # a linear layer after flatten: channel-major features, each channel's positions follow it
            positions = layer_s["in"] // width_in
            cols = (units_in[:, None] * positions + np.arange(positions)[None, :]).reshape(-1)
            col_share = np.repeat(share_in, positions)
        scale = torch.from_numpy(col_share.astype(np.float32)).view(1, 1, -1, *([1] * (w.dim() - 3)))
        rows_t, cols_t = torch.from_numpy(units), torch.from_numpy(cols)
        out += [(w[:, rows_t][:, :, cols_t] * scale).reshape(len(weights), -1), b[:, rows_t]]
        units_in, share_in, width_in = units, share, layer_s["out"]
    widened = torch.cat(out, 1).numpy()
    if widened.shape[1] != target.n_params:                 # the layout walk above must give the target's size
        raise HyperVizError(f"widening {source.name!r} to {target.name!r} gave {widened.shape[1]} parameters, "
                            f"expected {target.n_params}")
    return np.ascontiguousarray(widened)
