"""A pyqtgraph scatter item coloured by integer codes into a small table of shared brushes.

pyqtgraph's ``ScatterPlotItem.setBrush(list)`` looks every point's (symbol, size, pen, brush) up in
its symbol atlas one by one in Python: ~1.7 s to recolour 100k points here. With at most a few
hundred distinct brushes, the atlas rectangle of each brush can be looked up once and the
per-point rectangles taken with one numpy index (``rects[codes]``): recolouring 100k points
then costs a few milliseconds. Visibility (filters) is set the same way, without touching styles.

The item stays a normal ``ScatterPlotItem`` (same data layout), so painting, bounds and the
exporters (PNG/SVG) work unchanged; only the styling path is replaced. ``tests/hyperviz/ui``
checks that the rectangles equal the ones pyqtgraph computes itself.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui


class CodedScatter(pg.ScatterPlotItem):
    """Points ``(x, y)`` whose fill is ``brushes[codes]``; one symbol, size and pen for all."""

    def __init__(self, size: float = 6.0, pen: QtGui.QPen | None = None, symbol: str = "o", **kwargs) -> None:
        super().__init__(pxMode=True, **kwargs)
        self._size = float(size)
        self._pen = pen if pen is not None else QtGui.QPen(QtGui.Qt.PenStyle.NoPen)
        self._symbol = symbol
        self._brushes: np.ndarray = np.array([pg.mkBrush(120, 120, 120)], dtype=object)
        self._codes = np.zeros(0, dtype=np.intp)

    # ---- style -------------------------------------------------------------------------------
    def set_style(self, size: float | None = None, pen: QtGui.QPen | None = None, symbol: str | None = None) -> None:
        """Change the symbol, size or pen of every point (re-renders the few atlas entries)."""
        if size is not None:
            self._size = float(size)
        if pen is not None:
            self._pen = pen
        if symbol is not None:
            self._symbol = symbol
        self._restyle()

    def _rects(self) -> np.ndarray:
        """Atlas rectangle of each brush in the table (structured array, the layout pyqtgraph uses)."""
        styles = [(self._symbol, self._size, self._pen, brush) for brush in self._brushes]
        coords = self.fragmentAtlas[styles]
        return np.array([tuple(c) for c in coords], dtype=self.data.dtype["sourceRect"])

    def _restyle(self) -> None:
        data = self.data
        if len(data) == 0:
            return
        data["symbol"] = self._symbol
        data["size"] = self._size
        data["pen"] = self._pen
        data["brush"] = self._brushes[self._codes]
        data["sourceRect"] = self._rects()[self._codes]
        self._updateMaxSpotSizes(data=data)
        self.prepareGeometryChange()
        self.bounds = [None, None]
        self.invalidate()

    # ---- data ----------------------------------------------------------------------------------
    def set_points(self, x: np.ndarray, y: np.ndarray, codes: np.ndarray | None = None,
                   brushes: Sequence[QtGui.QBrush] | None = None, visible: np.ndarray | None = None) -> None:
        """Replace all points: coordinates ``[n]``, codes ``[n]`` into ``brushes`` (default: all 0)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        data = np.empty(len(x), dtype=self.data.dtype)
        data["x"], data["y"] = x, y
        data["visible"] = True if visible is None else np.asarray(visible, dtype=bool)
        data["hovered"] = False
        self.data = data
        if brushes is not None:
            self._brushes = np.array(list(brushes), dtype=object)
        self._codes = np.zeros(len(x), np.intp) if codes is None else self._check_codes(codes, len(x))
        self._restyle()
        self.informViewBoundsChanged()
        self.sigPlotChanged.emit(self)

    def set_codes(self, codes: np.ndarray, brushes: Sequence[QtGui.QBrush] | None = None) -> None:
        """Recolour: new codes ``[n]`` (and optionally a new brush table); positions unchanged."""
        if brushes is not None:
            self._brushes = np.array(list(brushes), dtype=object)
        self._codes = self._check_codes(codes, len(self.data))
        self._restyle()

    def set_visible(self, visible: np.ndarray | bool) -> None:
        """Show only the points where ``visible`` ``[n]`` is True (styles untouched)."""
        self.data["visible"] = visible if isinstance(visible, bool) else np.asarray(visible, dtype=bool)
        self.invalidate()

    def _check_codes(self, codes: np.ndarray, n: int) -> np.ndarray:
        codes = np.asarray(codes, dtype=np.intp)
        if codes.shape != (n,):
            raise ValueError(f"codes must have shape ({n},), got {codes.shape}")
        if n and (codes.min() < 0 or codes.max() >= len(self._brushes)):
            raise ValueError(f"codes must index the {len(self._brushes)} brushes")
        return codes

    @property
    def codes(self) -> np.ndarray:
        return self._codes
