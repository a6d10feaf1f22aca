"""Colour for the map: property values -> small integer codes -> a shared table of brushes.

:func:`colour_coding` is numpy only: a continuous property maps linearly onto 256 steps of a
perceptual, colour-blind-safe map (viridis or cividis) between its 1st and 99th percentile;
categories (text, or numbers with few distinct values that are not whole-number sequences
such as epochs) get one code each, drawn from the Okabe-Ito
palette. Missing values get their own grey code. :class:`BrushTables` turns codes into brushes
and keeps the QBrush objects alive and shared, which is what makes recolouring cheap.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui

from hyperviz.model.state import column_kind

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


def category_colour(i: int) -> QtGui.QColor:
    return QtGui.QColor(CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)])


class BrushTables:
    """Shared brushes: one table per colour map (256 steps + missing), one for categories."""

    def __init__(self, cmap: str = "viridis", alpha: int = 235) -> None:
        self.alpha = alpha
        self._continuous: dict[str, list[QtGui.QBrush]] = {}
        self._categorical: list[QtGui.QBrush] = []
        missing = QtGui.QColor(MISSING_COLOUR)
        missing.setAlpha(alpha)
        self._missing = QtGui.QBrush(missing)
        self.cmap_name = cmap

    def colour_map(self, name: str | None = None) -> pg.ColorMap:
        return pg.colormap.get(name or self.cmap_name)

    def continuous(self, name: str | None = None) -> list[QtGui.QBrush]:
        name = name or self.cmap_name
        if name not in self._continuous:
            colours = self.colour_map(name).getLookupTable(nPts=N_STEPS, mode="qcolor")
            brushes = []
            for colour in colours:
                colour = QtGui.QColor(colour)
                colour.setAlpha(self.alpha)
                brushes.append(QtGui.QBrush(colour))
            self._continuous[name] = brushes + [self._missing]
        return self._continuous[name]

    def categorical(self, n: int) -> list[QtGui.QBrush]:
        while len(self._categorical) < n:
            colour = category_colour(len(self._categorical))
            colour.setAlpha(self.alpha)
            self._categorical.append(QtGui.QBrush(colour))
        return self._categorical[:n] + [self._missing]

    def table_for(self, coding: ColourCoding) -> list[QtGui.QBrush]:
        """The brush table ``coding.codes`` index."""
        if coding.kind == "continuous":
            return self.continuous()
        return self.categorical(len(coding.labels))
