"""Property histograms with range brushes: one small plot per property, linked to the selection.

Numeric properties get a histogram of the visible states (grey) with the selected ones on top
(blue) and a draggable range (``LinearRegionItem``). Releasing the range sets that property's range
term in the selection (``AppState.brush_range``); dragging it to cover everything removes the
term; a double-click resets it. Text properties get a bar per category; clicking a bar selects
that category (Shift adds, Ctrl/Alt subtracts, like the map). Counts are re-binned from bin
indices computed once per table (:func:`hyperviz.model.histogram.histogram_bins`), so a
selection change costs one ``bincount`` per property.
"""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from hyperviz.model.brush import combine_mode
from hyperviz.model.crossfilter import split_terms
from hyperviz.model.formatting import format_value, range_text, round_bound
from hyperviz.model.histogram import histogram_bins
from hyperviz.model.selection import InSet
from hyperviz.ui.context import AppContext
from hyperviz.ui.modifiers import modifiers

ALL_BRUSH = pg.mkBrush("#d9dde3")
SELECTED_BRUSH = pg.mkBrush("#3a78c2")
REGION_BRUSH = pg.mkBrush(58, 120, 194, 40)
IDLE_BRUSH = pg.mkBrush(0, 0, 0, 0)
REGION_PEN = pg.mkPen("#3a78c2", width=2)
IDLE_PEN = pg.mkPen("#c3ccd8", width=2)
PLOT_HEIGHT = 84
#: Numeric properties with at most this many distinct values are drawn as bars, one per value.
FEW_VALUES = 5


class _LogAxis(pg.AxisItem):
    """A log axis that labels decades only (and 2x, 5x when fewer than two decades are in view);
    the other integer multiples get unlabelled ticks. pyqtgraph labels every multiple whenever a
    narrow plot has no whole-decade tick spacing, and in a 190 px histogram those labels run
    together ("0.0010.002...")."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.setLogMode(True)
        self.setStyle(maxTextLevel=0)

    def logTickValues(self, minVal, maxVal, size, stdTicks):
        lo, hi = int(np.floor(minVal)), int(np.ceil(maxVal))
        inside = lambda v: minVal <= v <= maxVal  # noqa: E731
        decades = [float(v) for v in range(lo, hi + 1) if inside(v)]
        multiples = [(v + np.log10(k), k) for v in range(lo, hi) for k in range(2, 10) if inside(v + np.log10(k))]
        if len(decades) < 2:
            decades += [v for v, k in multiples if k in (2, 5)]
            multiples = [(v, k) for v, k in multiples if k not in (2, 5)]
        return [(1.0, sorted(decades)), (None, [v for v, _k in multiples])]


def _axis(view: pg.ViewBox, ticks=None, log: bool = False) -> pg.AxisItem:
    kind = _LogAxis if log else pg.AxisItem
    axis = kind("bottom", linkView=view, pen=pg.mkPen("#b8b8b8"), textPen=pg.mkPen("#666666"))
    axis.setHeight(20)
    if ticks is not None:
        axis.setTicks([ticks])
    return axis


class _BrushBox(pg.ViewBox):
    """A histogram's view box: a left drag across it (outside the current range) brushes a new range."""

    def __init__(self, on_drag) -> None:
        super().__init__(enableMenu=False)
        self.setMouseEnabled(x=False, y=False)
        self._on_drag = on_drag

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        x0 = self.mapSceneToView(ev.buttonDownScenePos(QtCore.Qt.MouseButton.LeftButton)).x()
        self._on_drag(x0, self.mapSceneToView(ev.scenePos()).x(), ev.isFinish())


def _log_scale(values: np.ndarray) -> bool:
    """Positive values over two or more decades (a learning rate, a weight decay) get a log axis."""
    finite = values[np.isfinite(values)]
    return bool(finite.size) and float(finite.min()) > 0 and float(finite.max()) / float(finite.min()) >= 100


class PropertyHistogram:
    """Histogram + range brush of one numeric property, drawn into a shared GraphicsLayout.

    A drag across the plot brushes a new range; a brushed range can be dragged along or resized by
    its edges. ``on_range(column, lo, hi)`` is called when the user releases (or double-clicks to
    reset, with ``(None, None)``); the bounds are rounded to what the plot can show
    (:func:`~hyperviz.model.formatting.round_bound`). Values over two or more decades are binned
    and drawn on a log axis.
    """

    def __init__(self, column: str, values: np.ndarray, on_range) -> None:
        self.column = column
        self._on_range = on_range
        values = np.asarray(values, dtype=np.float64)
        self.log = _log_scale(values)
        shown = np.log10(values, where=values > 0, out=np.full(len(values), np.nan)) if self.log else values
        self.edges, self.index, self.integer = histogram_bins(shown)
        self.integer = self.integer and not self.log
        self.n_bins = len(self.edges) - 1
        finite = values[np.isfinite(values)]
        self.data_lo, self.data_hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        self.view = _BrushBox(self._dragged)
        self.view.setMinimumHeight(PLOT_HEIGHT - 24)
        self.view.setMaximumHeight(PLOT_HEIGHT - 24)
        self.axis = _axis(self.view, log=self.log)
        x0, x1 = self.edges[:-1], self.edges[1:]
        gap = 0.1 * (x1 - x0) if self.integer else 0.0
        self.all_bars = pg.BarGraphItem(x0=x0 + gap, x1=x1 - gap, height=np.zeros(self.n_bins), brush=ALL_BRUSH, pen=None)
        self.sel_bars = pg.BarGraphItem(x0=x0 + gap, x1=x1 - gap, height=np.zeros(self.n_bins), brush=SELECTED_BRUSH, pen=None)
        self.view.addItem(self.all_bars)
        self.view.addItem(self.sel_bars)
        lo, hi = self.edges[0], self.edges[-1]
        self.region = pg.LinearRegionItem(values=(lo, hi), brush=REGION_BRUSH, swapMode="block", bounds=(lo, hi),
                                          pen=REGION_PEN, hoverBrush=pg.mkBrush(58, 120, 194, 60),
                                          hoverPen=pg.mkPen("#3a78c2", width=3))
        self.region.setZValue(10)
        self.region.hide()                  # no range yet: a drag anywhere starts one
        self.region.sigRegionChangeFinished.connect(self._on_region_finished)
        self.view.addItem(self.region)
        self.view.setXRange(lo, hi, padding=0.02)
        self._updating = False

    def update_counts(self, visible: np.ndarray, selected: np.ndarray | None) -> None:
        """Redraw the bars: visible rows in grey, selected rows (None = no selection) in blue."""
        ok = self.index >= 0
        all_counts = np.bincount(self.index[visible & ok], minlength=self.n_bins)
        self.all_bars.setOpts(height=all_counts)
        sel_counts = np.zeros(self.n_bins) if selected is None else np.bincount(self.index[selected & ok],
                                                                               minlength=self.n_bins)
        self.sel_bars.setOpts(height=sel_counts)
        self.view.setYRange(0, max(1, int(all_counts.max())) * 1.08, padding=0)

    def _to_x(self, value: float) -> float:
        return math.log10(value) if self.log and value > 0 else value

    def _from_x(self, x: float) -> float:
        return 10.0 ** x if self.log else x

    def set_range(self, lo: float | None, hi: float | None) -> None:
        """Show the range term ``lo..hi`` (None = open) without calling back."""
        left = self.edges[0] if lo is None else (lo - 0.5 if self.integer else self._to_x(lo))
        right = self.edges[-1] if hi is None else (hi + 0.5 if self.integer else self._to_x(hi))
        self._updating = True
        try:
            self.region.setRegion((max(left, self.edges[0]), min(right, self.edges[-1])))
            self.region.setVisible(lo is not None or hi is not None)
        finally:
            self._updating = False

    def _dragged(self, x0: float, x1: float, finished: bool) -> None:
        """A drag across the plot: the region follows it; releasing brushes it."""
        left, right = sorted((x0, x1))
        self._updating = True
        try:
            self.region.setRegion((max(left, self.edges[0]), min(right, self.edges[-1])))
            self.region.show()
        finally:
            self._updating = False
        if finished:
            if right - left < 1e-3 * (self.edges[-1] - self.edges[0]):
                return                      # a click, not a drag
            self._on_range(self.column, *self.chosen_range())

    def _round(self, value: float) -> float:
        if self.log:
            return float(f"{value:.3g}")
        return round_bound(value, self.data_hi - self.data_lo)

    def chosen_range(self) -> tuple[float | None, float | None]:
        """The region as range bounds, rounded; a side at the data's edge is open (None)."""
        left, right = self.region.getRegion()
        if self.integer:
            lo, hi = float(math.ceil(left - 1e-9)), float(math.floor(right + 1e-9))
            lo = None if lo <= self.data_lo else lo
            hi = None if hi >= self.data_hi else hi
        else:
            tol = 1e-3 * (self.edges[-1] - self.edges[0])
            lo = self._round(self._from_x(float(left))) if left > self._to_x(self.data_lo) + tol else None
            hi = self._round(self._from_x(float(right))) if right < self._to_x(self.data_hi) - tol else None
        return lo, hi

    def _on_region_finished(self) -> None:
        if not self._updating:
            self._on_range(self.column, *self.chosen_range())

    def clicked(self, event, pos) -> None:
        if event.double():
            self._on_range(self.column, None, None)


class CategoryBars:
    """One horizontal bar per category - or per value of a number with few values - labelled on
    its own row (long names never overlap); ``on_click(column, value, mode)`` when a bar is clicked."""

    ROW_PX = 23

    def __init__(self, column: str, values: np.ndarray, on_click) -> None:
        self.column = column
        self._on_click = on_click
        values = np.asarray(values)
        numeric = values.dtype.kind not in "USO"
        if numeric:
            self.levels, self.index = np.unique(values.astype(np.float64), return_inverse=True)
            self.values = [float(v) for v in self.levels]
        else:
            self.levels, self.index = np.unique(values.astype(str), return_inverse=True)
            self.values = [str(v) for v in self.levels]
        self.index = self.index.reshape(-1)
        n = len(self.levels)
        self.view = pg.ViewBox(enableMenu=False)
        self.view.setMouseEnabled(x=False, y=False)
        self.view.invertY(True)
        height = n * self.ROW_PX + 6
        self.view.setMinimumHeight(height)
        self.view.setMaximumHeight(height)
        self.axis = None
        y = np.arange(n)
        self.all_bars = pg.BarGraphItem(x0=np.zeros(n), y=y, height=0.78, width=np.zeros(n), brush=ALL_BRUSH, pen=None)
        self.sel_bars = pg.BarGraphItem(x0=np.zeros(n), y=y, height=0.78, width=np.zeros(n), brush=SELECTED_BRUSH,
                                        pen=None)
        self.view.addItem(self.all_bars)
        self.view.addItem(self.sel_bars)
        self.labels = []
        for i, value in enumerate(self.values):
            label = pg.TextItem(format_value(value), color="#1f2733", anchor=(0, 0.5))
            label.setPos(0, i)
            label.setZValue(5)
            self.view.addItem(label, ignoreBounds=True)
            self.labels.append(label)
        self.view.setYRange(-0.55, n - 0.45, padding=0)

    def update_counts(self, visible: np.ndarray, selected: np.ndarray | None) -> None:
        n = len(self.levels)
        all_counts = np.bincount(self.index[visible], minlength=n)
        self.all_bars.setOpts(width=all_counts)
        self.sel_bars.setOpts(width=np.zeros(n) if selected is None else np.bincount(self.index[selected], minlength=n))
        self.view.setXRange(0, max(1, int(all_counts.max())) * 1.02, padding=0)

    def clicked(self, event, pos) -> None:
        i = int(round(pos.y()))
        if event.button() == QtCore.Qt.MouseButton.LeftButton and 0 <= i < len(self.levels) and not event.double():
            mode = combine_mode(modifiers(event.modifiers()))
            self._on_click(self.column, self.values[i], mode)


class PropertyPanel(QtWidgets.QScrollArea):
    """All property plots in one scrolling canvas; renders the state, brushes through it.

    The plots are built just after a table arrives (a zero-delay timer), so the map is drawn first.
    """

    WATCHES = ("table", "selection", "filters")

    def __init__(self, context: AppContext, parent=None) -> None:
        super().__init__(parent)
        self.state = state = context.state
        self.setWidgetResizable(True)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.plots: dict[str, PropertyHistogram | CategoryBars] = {}
        self.titles: dict[str, pg.LabelItem] = {}
        body = QtWidgets.QWidget()
        body.setObjectName("propertyBody")
        layout = QtWidgets.QVBoxLayout(body)
        layout.setContentsMargins(8, 6, 4, 6)
        self.hint = QtWidgets.QLabel("Drag across a histogram to brush a range · double-click resets · click a "
                                     "bar to pick it (Shift adds) · brushes combine with AND")
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setObjectName("propertyCanvas")
        self.canvas.setBackground("w")
        self.canvas.ci.setContentsMargins(0, 0, 6, 0)
        self.canvas.ci.setSpacing(0)
        self.canvas.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.canvas.scene().sigMouseClicked.connect(self._on_click)
        layout.addWidget(self.canvas, 1)
        self.setWidget(body)
        self._pending = False
        state.signals.watch(self.WATCHES, self.refresh)
        self._rebuild()

    def refresh(self, changed: frozenset) -> None:
        """A new table rebuilds the plots (soon); a selection or filter change recounts them."""
        if "table" in changed:
            self._schedule_rebuild()
        else:
            self._recount()

    def _schedule_rebuild(self) -> None:
        self.plots, self.titles = {}, {}
        self.canvas.clear()
        if not self._pending:
            self._pending = True
            QtCore.QTimer.singleShot(0, self, self._rebuild)

    def _rebuild(self) -> None:
        self._pending = False
        self.canvas.clear()
        self.plots, self.titles = {}, {}
        if self.state.n == 0:
            return
        row, height = 0, 0
        for column in self.state.properties():
            values = self.state.table[column]
            distinct = len(np.unique(values))
            if self.state.kind(column) == "categorical":
                if distinct > 12:
                    continue
                plot = CategoryBars(column, values, self._on_category)
            elif distinct <= FEW_VALUES:
                plot = CategoryBars(column, values, self._on_category)
            else:
                plot = PropertyHistogram(column, values, self._on_range)
            title = pg.LabelItem(column, justify="left", color="#2b3442", size="9pt", bold=True)
            self.canvas.addItem(title, row=row, col=0)
            self.canvas.addItem(plot.view, row=row + 1, col=0)
            height += 22 + plot.view.maximumHeight()
            if plot.axis is not None:
                self.canvas.addItem(plot.axis, row=row + 2, col=0)
                height += 20
            row += 3
            self.plots[column], self.titles[column] = plot, title
        self.canvas.setMinimumHeight(int(height))
        self._recount()

    def _recount(self) -> None:
        if self.state.n == 0 or not self.plots:
            return
        visible = self.state.visible_mask
        selected = self.state.selected_mask if self.state.has_selection else None
        terms = self.state.range_terms()
        chosen = {t.column: t.values for t in split_terms(self.state.selection, self.state.coordinate_columns())[1]
                  if isinstance(t, InSet)}
        for column, plot in self.plots.items():
            plot.update_counts(visible, selected)
            text = column
            if isinstance(plot, PropertyHistogram):
                lo, hi = terms.get(column, (None, None))
                plot.set_range(lo, hi)
                if column in terms:
                    text = f"{column} &nbsp;<span style='color:#3a78c2'>{html.escape(range_text(lo, hi))}</span>"
            elif column in chosen:
                values = ", ".join(format_value(v) for v in chosen[column])
                text = f"{column} &nbsp;<span style='color:#3a78c2'>{html.escape(values)}</span>"
            self.titles[column].setText(text)

    def _on_click(self, event) -> None:
        for plot in self.plots.values():
            if plot.view.sceneBoundingRect().contains(event.scenePos()):
                plot.clicked(event, plot.view.mapSceneToView(event.scenePos()))
                return

    def _on_range(self, column: str, lo, hi) -> None:
        self.state.brush_range(column, lo, hi)

    def _on_category(self, column: str, value, mode: str) -> None:
        """A bar click changes only that property's term (AND with the other brushes and the map)."""
        self.state.brush_category(column, value, mode)

