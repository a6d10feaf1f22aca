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
from hyperviz.model.formatting import range_text
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


def _axis(view: pg.ViewBox, ticks=None) -> pg.AxisItem:
    axis = pg.AxisItem("bottom", linkView=view, pen=pg.mkPen("#b8b8b8"), textPen=pg.mkPen("#666666"))
    axis.setHeight(20)
    if ticks is not None:
        axis.setTicks([ticks])
    return axis


class PropertyHistogram:
    """Histogram + range brush of one numeric property, drawn into a shared GraphicsLayout.

    ``on_range(column, lo, hi)`` is called when the user releases the range (or double-clicks
    to reset it, with ``(None, None)``).
    """

    def __init__(self, column: str, values: np.ndarray, on_range) -> None:
        self.column = column
        self._on_range = on_range
        self.edges, self.index, self.integer = histogram_bins(values)
        self.n_bins = len(self.edges) - 1
        finite = np.asarray(values, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        self.data_lo, self.data_hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        self.view = pg.ViewBox(enableMenu=False)
        self.view.setMouseEnabled(x=False, y=False)
        self.view.setMinimumHeight(PLOT_HEIGHT - 24)
        self.view.setMaximumHeight(PLOT_HEIGHT - 24)
        self.axis = _axis(self.view)
        x0, x1 = self.edges[:-1], self.edges[1:]
        gap = 0.1 * (x1 - x0) if self.integer else 0.0
        self.all_bars = pg.BarGraphItem(x0=x0 + gap, x1=x1 - gap, height=np.zeros(self.n_bins), brush=ALL_BRUSH, pen=None)
        self.sel_bars = pg.BarGraphItem(x0=x0 + gap, x1=x1 - gap, height=np.zeros(self.n_bins), brush=SELECTED_BRUSH, pen=None)
        self.view.addItem(self.all_bars)
        self.view.addItem(self.sel_bars)
        lo, hi = self.edges[0], self.edges[-1]
        self.region = pg.LinearRegionItem(values=(lo, hi), brush=IDLE_BRUSH, swapMode="block", bounds=(lo, hi),
                                          pen=IDLE_PEN, hoverBrush=pg.mkBrush(58, 120, 194, 25),
                                          hoverPen=pg.mkPen("#3a78c2", width=3))
        self.region.setZValue(10)
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

    def set_range(self, lo: float | None, hi: float | None) -> None:
        """Show the range term ``lo..hi`` (None = open) without calling back."""
        left = self.edges[0] if lo is None else (lo - 0.5 if self.integer else lo)
        right = self.edges[-1] if hi is None else (hi + 0.5 if self.integer else hi)
        self._updating = True
        try:
            self.region.setRegion((max(left, self.edges[0]), min(right, self.edges[-1])))
            active = lo is not None or hi is not None
            self.region.setBrush(REGION_BRUSH if active else IDLE_BRUSH)
            for line in self.region.lines:
                line.setPen(REGION_PEN if active else IDLE_PEN)
        finally:
            self._updating = False

    def chosen_range(self) -> tuple[float | None, float | None]:
        """The region as range bounds; a side at the data's edge is open (None)."""
        left, right = self.region.getRegion()
        if self.integer:
            lo, hi = float(math.ceil(left - 1e-9)), float(math.floor(right + 1e-9))
            lo = None if lo <= self.data_lo else lo
            hi = None if hi >= self.data_hi else hi
        else:
            tol = 1e-3 * (self.edges[-1] - self.edges[0])
            lo = float(left) if left > self.data_lo + tol else None
            hi = float(right) if right < self.data_hi - tol else None
        return lo, hi

    def _on_region_finished(self) -> None:
        if not self._updating:
            self._on_range(self.column, *self.chosen_range())

    def clicked(self, event, x: float) -> None:
        if event.double():
            self._on_range(self.column, None, None)


class CategoryBars:
    """One bar per category; ``on_click(column, value, mode)`` when a bar is clicked."""

    def __init__(self, column: str, values: np.ndarray, on_click) -> None:
        self.column = column
        self._on_click = on_click
        self.levels, self.index = np.unique(np.asarray(values).astype(str), return_inverse=True)
        n = len(self.levels)
        self.view = pg.ViewBox(enableMenu=False)
        self.view.setMouseEnabled(x=False, y=False)
        self.view.setMinimumHeight(PLOT_HEIGHT - 24)
        self.view.setMaximumHeight(PLOT_HEIGHT - 24)
        self.axis = _axis(self.view, [(i, str(v)) for i, v in enumerate(self.levels)])
        x = np.arange(n)
        self.all_bars = pg.BarGraphItem(x=x, width=0.75, height=np.zeros(n), brush=ALL_BRUSH, pen=None)
        self.sel_bars = pg.BarGraphItem(x=x, width=0.75, height=np.zeros(n), brush=SELECTED_BRUSH, pen=None)
        self.view.addItem(self.all_bars)
        self.view.addItem(self.sel_bars)
        self.view.setXRange(-0.6, n - 0.4, padding=0)

    def update_counts(self, visible: np.ndarray, selected: np.ndarray | None) -> None:
        n = len(self.levels)
        all_counts = np.bincount(self.index[visible], minlength=n)
        self.all_bars.setOpts(height=all_counts)
        self.sel_bars.setOpts(height=np.zeros(n) if selected is None else np.bincount(self.index[selected], minlength=n))
        self.view.setYRange(0, max(1, int(all_counts.max())) * 1.08, padding=0)

    def clicked(self, event, x: float) -> None:
        i = int(round(x))
        if event.button() == QtCore.Qt.MouseButton.LeftButton and 0 <= i < len(self.levels):
            mode = combine_mode(modifiers(event.modifiers()))
            self._on_click(self.column, str(self.levels[i]), mode)


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
        self.hint = QtWidgets.QLabel("Drag a shaded range to brush · double-click resets · click a bar to pick "
                                     "a category")
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
        row = 0
        for column in self.state.properties():
            values = self.state.table[column]
            if self.state.kind(column) == "categorical":
                if len(np.unique(values)) > 12:
                    continue
                plot = CategoryBars(column, values, self._on_category)
            else:
                plot = PropertyHistogram(column, values, self._on_range)
            title = pg.LabelItem(column, justify="left", color="#2b3442", size="9pt", bold=True)
            self.canvas.addItem(title, row=row, col=0)
            self.canvas.addItem(plot.view, row=row + 1, col=0)
            self.canvas.addItem(plot.axis, row=row + 2, col=0)
            row += 3
            self.plots[column], self.titles[column] = plot, title
        self.canvas.setMinimumHeight(len(self.plots) * (PLOT_HEIGHT + 20))
        self._recount()

    def _recount(self) -> None:
        if self.state.n == 0 or not self.plots:
            return
        visible = self.state.visible_mask
        selected = self.state.selected_mask if self.state.has_selection else None
        terms = self.state.range_terms()
        for column, plot in self.plots.items():
            plot.update_counts(visible, selected)
            if isinstance(plot, PropertyHistogram):
                lo, hi = terms.get(column, (None, None))
                plot.set_range(lo, hi)
                text = column if column not in terms else \
                    f"{column} &nbsp;<span style='color:#3a78c2'>{html.escape(range_text(lo, hi))}</span>"
                self.titles[column].setText(text)

    def _on_click(self, event) -> None:
        for plot in self.plots.values():
            if plot.view.sceneBoundingRect().contains(event.scenePos()):
                plot.clicked(event, plot.view.mapSceneToView(event.scenePos()).x())
                return

    def _on_range(self, column: str, lo, hi) -> None:
        self.state.brush_range(column, lo, hi)

    def _on_category(self, column: str, value: str, mode: str) -> None:
        self.state.select(InSet(column, (value,)), mode)

