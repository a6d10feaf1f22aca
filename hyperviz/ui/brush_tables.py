"""Colour codes -> brushes: one shared table of QBrush objects per colour map and one for categories.

The codes come from :func:`hyperviz.model.colours.colour_coding`. Keeping the brushes alive and
shared is what makes recolouring cheap (:class:`hyperviz.ui.coded_scatter.CodedScatter` looks
each brush up in its atlas once, not once per point).
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtGui

from hyperviz.model.colours import CATEGORY_COLOURS, MISSING_COLOUR, N_STEPS, ColourCoding


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
