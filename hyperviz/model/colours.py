"""Colour for the map, without Qt: property values -> small integer codes.

A continuous property maps linearly onto 256 steps of a perceptual, colour-blind-safe map
(viridis or cividis) between its 1st and 99th percentile; categories (text, or numbers with few
distinct values that are not whole-number sequences such as epochs) get one code each, drawn
from the Okabe-Ito palette. Missing values get their own grey code. The views turn codes into
brushes with one shared table per colour map (``hyperviz.ui.brush_tables``), which is what makes
recolouring cheap.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hyperviz.model.columns import column_kind

N_STEPS = 256
COLOUR_MAPS = ("viridis", "cividis")
#: Okabe & Ito (2008), colour-blind safe; then Paul Tol's muted scheme for more categories.
CATEGORY_COLOURS = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
    "#AA4499", "#DDDDDD", "#6699CC", "#997700", "#EE99AA", "#994455", "#004488", "#BBBBBB",
)
MISSING_COLOUR = "#b8b8b8"


@dataclass(frozen=True)
class ColourCoding:
    """How one property is coloured. ``codes [n]`` index the table of its ``kind``.

    continuous: codes 0..255 along the map from ``lo`` to ``hi``, ``N_STEPS`` for missing.
    categorical: code i is ``labels[i]``; ``len(labels)`` is the missing code.
    """

    column: str
    kind: str                    # "continuous" | "categorical"
    codes: np.ndarray
    lo: float = 0.0
    hi: float = 1.0
    labels: tuple[str, ...] = field(default=())

    @property
    def missing_code(self) -> int:
        return N_STEPS if self.kind == "continuous" else len(self.labels)


def _label(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value)


def _ordinal(values: np.ndarray) -> bool:
    """Whole numbers with more than two distinct values (epochs, counts), not hyperparameter levels."""
    x = values.astype(np.float64)
    x = x[np.isfinite(x)]
    return x.size > 0 and bool(np.all(x == np.round(x))) and len(np.unique(x)) > 2


def colour_coding(column: str, values: np.ndarray) -> ColourCoding:
    """Codes for ``values [n]``: see :class:`ColourCoding`."""
    values = np.asarray(values)
    kind = column_kind(values)
    if kind == "discrete" and _ordinal(values):
        kind = "continuous"                 # e.g. epochs: ordered, so a colour map reads better than a legend
    if kind == "continuous":
        x = values.astype(np.float64)
        finite = np.isfinite(x)
        if not finite.any():
            return ColourCoding(column, "continuous", np.full(len(x), N_STEPS, dtype=np.intp))
        lo, hi = np.percentile(x[finite], [1, 99])
        if hi <= lo:
            lo, hi = float(x[finite].min()), float(x[finite].max())
        if hi <= lo:
            hi = lo + 1.0
        scaled = np.clip((np.where(finite, x, lo) - lo) / (hi - lo), 0.0, 1.0)
        codes = np.minimum((scaled * N_STEPS).astype(np.intp), N_STEPS - 1)
        codes[~finite] = N_STEPS
        return ColourCoding(column, "continuous", codes, float(lo), float(hi))
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        levels = np.unique(values[finite])
        codes = np.full(len(values), len(levels), dtype=np.intp)
        codes[finite] = np.searchsorted(levels, values[finite])
    else:
        levels, codes = np.unique(values.astype(str) if values.dtype.kind in "SO" else values, return_inverse=True)
        codes = codes.astype(np.intp)
    return ColourCoding(column, "categorical", codes, labels=tuple(_label(v) for v in levels))


def accuracy_coding(acc: np.ndarray, shown: ColourCoding | None) -> ColourCoding:
    """Codes for sampled models' test accuracies ``acc [k]``, on the scale the map shows them.

    When the map is coloured by a continuous ``test_acc`` its ``lo..hi`` is used, so a star and a
    zoo model of the same accuracy get the same colour; otherwise the scale is 0..1.
    """
    acc = np.asarray(acc, dtype=np.float64)
    same = shown is not None and shown.column == "test_acc" and shown.kind == "continuous"
    lo, hi = (shown.lo, shown.hi) if same else (0.0, 1.0)
    coding = colour_coding("test_acc", np.concatenate([acc, [lo, hi]]))
    if coding.kind != "continuous":
        return ColourCoding("test_acc", "categorical", coding.codes[:-2], labels=coding.labels)
    scaled = np.clip((np.nan_to_num(acc, nan=lo) - lo) / max(hi - lo, 1e-12), 0, 1)
    codes = np.minimum((scaled * N_STEPS).astype(np.intp), N_STEPS - 1)
    codes[~np.isfinite(acc)] = N_STEPS
    return ColourCoding("test_acc", "continuous", codes, float(lo), float(hi))
