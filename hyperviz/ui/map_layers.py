"""What the map draws, one small class per layer, each redrawing itself from the state's signals.

Bottom to top: every visible model state (:class:`StatesLayer`, coloured by one property through a
shared brush table, faded while a selection exists), the selected states again, outlined
(:class:`SelectionLayer`), sampled models as stars (:class:`SamplesLayer`), the model in focus
with its path across the epochs (:class:`FocusLayer`) and the ring around the hovered state
(:class:`HoverLayer`, moved by the mouse). Beside the plot: the colour bar or legend
(:class:`ColourKeyLayer`) and the title and axis labels (:class:`TitleLayer`).

Each layer names the aspects of the state it draws in ``WATCHES`` and subscribes with
``state.signals.watch``, so one change - or one batch of changes, such as a bookmark - redraws it
once (napari's ``_vispy/overlays`` visuals listen to their own model's events the same way).
Marker sizes follow the number of states and presentation mode (``restyle``).
"""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui

from hyperviz.model.colours import accuracy_coding
from hyperviz.model.columns import coord_columns
from hyperviz.ui.brush_tables import category_colour
from hyperviz.ui.coded_scatter import CodedScatter

SELECTION_PEN = "#1b1b1b"
FOCUS_COLOUR = "#D55E00"
TRAJECTORY_COLOUR = "#222222"
FADED_OPACITY = 0.22
METHOD_LABELS = {"umap": "UMAP", "pca": "PCA"}


def marker_size(n: int, presentation: bool = False) -> float:
    """Point size in pixels: smaller for bigger maps, larger in presentation mode."""
    size = float(np.clip(12.5 - 1.5 * math.log10(max(n, 1)), 4.0, 9.0))
    return size * (1.6 if presentation else 1.0)


class MapLayer:
    """One part of the map (``view`` is the :class:`~hyperviz.ui.map_view.MapView`).

    Each layer has ``refresh(changed)``, which redraws it after a change of the aspects it
    ``WATCHES`` (``changed`` names all that changed), and ``restyle()``, which follows the marker
    size and presentation mode; subclasses create their items before calling ``__init__``.
    """

    WATCHES: tuple[str, ...] = ()

    def __init__(self, view) -> None:
        self.view = view
        self.state = view.state
        self.state.signals.watch(self.WATCHES, self.refresh)

    @property
    def shows_map(self) -> bool:
        return self.state.n > 0 and self.state.projection is not None

    @property
    def size(self) -> float:
        return marker_size(self.state.n, self.view.presentation)


class _StatePointsLayer(MapLayer):
    """Every model state as one coded scatter, of which ``mask()`` says which are visible; a change
    of the aspects in ``MASK_ASPECTS`` only flips that visibility."""

    WATCHES = ("table", "projection", "colour", "filters", "selection")
    MASK_ASPECTS: frozenset = frozenset()

    def mask(self) -> np.ndarray:
        raise NotImplementedError

    def refresh(self, changed: frozenset) -> None:
        state, brushes = self.state, self.view.brushes
        if not self.shows_map:
            if "table" in changed:
                self.item.set_points(np.zeros(0), np.zeros(0))
            return
        coding = state.colour_coding()
        if changed & {"table", "projection"}:
            x, y = state.coords()
            self.item.set_points(x, y, None if coding is None else coding.codes,
                                 None if coding is None else brushes.table_for(coding), visible=self.mask())
            self.restyle()
            return
        if "colour" in changed and coding is not None:
            self.item.set_codes(coding.codes, brushes.table_for(coding))
        if changed & self.MASK_ASPECTS:
            self.item.set_visible(self.mask())


class StatesLayer(_StatePointsLayer):
    """Every visible model state, coloured by the colour property; faded while a selection exists."""

    MASK_ASPECTS = frozenset({"filters"})

    def __init__(self, view) -> None:
        self.item = CodedScatter(size=6)
        self.item.setZValue(0)
        view.plot.addItem(self.item)
        super().__init__(view)

    def mask(self) -> np.ndarray:
        return self.state.visible_mask

    def refresh(self, changed: frozenset) -> None:
        super().refresh(changed)
        if self.shows_map:
            self.item.setOpacity(FADED_OPACITY if self.state.has_selection else 1.0)

    def restyle(self) -> None:
        self.item.set_style(size=self.size)


class SelectionLayer(_StatePointsLayer):
    """The selected (and visible) states again, outlined. It holds every state; a selection change
    only flips which of them are visible."""

    MASK_ASPECTS = frozenset({"filters", "selection"})

    def __init__(self, view) -> None:
        self.item = CodedScatter(size=8, pen=pg.mkPen(SELECTION_PEN, width=1.3))
        self.item.setZValue(10)
        view.plot.addItem(self.item)
        super().__init__(view)

    def mask(self) -> np.ndarray:
        return self.state.selected_mask

    def restyle(self) -> None:
        self.item.set_style(size=self.size + 1.5)


class SamplesLayer(MapLayer):
    """Sampled models as stars, coloured by test accuracy on the scale the map shows it."""

    WATCHES = ("table", "projection", "colour", "samples")

    def __init__(self, view) -> None:
        self.item = CodedScatter(size=15, symbol="star", pen=pg.mkPen("#1b1b1b", width=1.0))
        self.item.setZValue(15)
        view.plot.addItem(self.item)
        self.rows = np.zeros(0, dtype=np.intp)            # index into state.samples of each star
        super().__init__(view)

    def refresh(self, changed: frozenset) -> None:
        if "table" in changed and self.shows_map:
            self.restyle()
        samples, method = self.state.samples, self.state.projection
        x_col, y_col = coord_columns(method) if method else ("", "")
        if not samples or x_col not in samples:
            self.rows = np.zeros(0, dtype=np.intp)
            self.item.set_points(np.zeros(0), np.zeros(0))
            return
        ok = np.isfinite(samples[x_col]) & np.isfinite(samples[y_col])
        if "visible" in samples:
            ok &= samples["visible"].astype(bool)
        self.rows = np.flatnonzero(ok)
        acc = samples.get("test_acc", np.full(len(ok), np.nan))[self.rows]
        coding = accuracy_coding(acc, self.state.colour_coding())
        self.item.set_points(samples[x_col][self.rows], samples[y_col][self.rows], coding.codes,
                             self.view.brushes.table_for(coding))

    def restyle(self) -> None:
        self.item.set_style(size=self.size * 2.0)

    def position(self, i: int) -> tuple[float, float]:
        """Map coordinates of sample ``i`` (an index into ``state.samples``)."""
        x_col, y_col = coord_columns(self.state.projection)
        return self.state.samples[x_col][i], self.state.samples[y_col][i]


class FocusLayer(MapLayer):
    """The model state in focus (clicked), and its model's path through the map over the epochs."""

    WATCHES = ("table", "projection", "current")

    def __init__(self, view) -> None:
        self.trajectory = pg.PlotDataItem(pen=pg.mkPen(TRAJECTORY_COLOUR, width=2), symbol="o", symbolSize=5,
                                          symbolBrush=TRAJECTORY_COLOUR, symbolPen=None)
        self.trajectory.setZValue(20)
        self.labels = [pg.TextItem(color="#222222", anchor=anchor, fill=pg.mkBrush(255, 255, 255, 190))
                       for anchor in ((1.1, 1.1), (-0.1, -0.1))]
        self.marker = pg.ScatterPlotItem(size=18, pen=pg.mkPen(FOCUS_COLOUR, width=2.5), brush=None)
        self.marker.setZValue(30)
        view.plot.addItem(self.trajectory)
        view.plot.addItem(self.marker)
        for label in self.labels:
            label.setZValue(21)
            view.plot.addItem(label, ignoreBounds=True)
        super().__init__(view)

    def refresh(self, changed: frozenset) -> None:
        if "table" in changed and self.shows_map:
            self.restyle()
        state, row = self.state, self.state.current
        if row is None or state.projection is None:
            self.marker.setData([], [])
            self.trajectory.setData([], [])
            for label in self.labels:
                label.hide()
            return
        x, y = state.coords()
        self.marker.setData([x[row]], [y[row]])
        rows = state.rows_of_model(int(state.table["model"][row]))
        self.trajectory.setData(x[rows], y[rows])
        epochs = state.table["epoch"][rows]
        for label, r, e in zip(self.labels, (rows[0], rows[-1]), (epochs[0], epochs[-1])):
            label.setText(f"e{int(e)}")
            label.setPos(x[r], y[r])
            label.show()

    def restyle(self) -> None:
        self.marker.setSize(self.size * 2.4)


class HoverLayer(MapLayer):
    """The ring around the state or star under the mouse (the map view moves it; see ``MapView``)."""

    WATCHES = ("table", "projection")

    def __init__(self, view) -> None:
        self.marker = pg.ScatterPlotItem(size=14, pen=pg.mkPen("#0b5cad", width=2), brush=None)
        self.marker.setZValue(25)
        view.plot.addItem(self.marker, ignoreBounds=True)       # the ring never widens the framed map
        super().__init__(view)

    def show_at(self, x: float | None, y: float | None) -> None:
        """Ring the point ``(x, y)``, or nothing (None)."""
        self.marker.setData([] if x is None else [x], [] if y is None else [y])

    def refresh(self, changed: frozenset) -> None:
        """A new table or map: the ring's old position means nothing there."""
        self.show_at(None, None)
        if self.shows_map:
            self.restyle()

    def restyle(self) -> None:
        self.marker.setSize(self.size * 1.9)


class ColourKeyLayer(MapLayer):
    """What the colours mean: a colour bar for a continuous property, a legend for categories."""

    WATCHES = ("table", "colour")

    def __init__(self, view) -> None:
        self.bar = pg.ColorBarItem(values=(0, 1), width=14, colorMap=view.brushes.colour_map(),
                                   interactive=False, colorMapMenu=False, pen="#999999")
        axis = self.bar.getAxis("right")
        axis.setTextPen(pg.mkPen("#444444"))
        axis.enableAutoSIPrefix(False)
        view.canvas.addItem(self.bar, 0, 1)
        self.legend = pg.LegendItem(offset=(-10, 10), brush=pg.mkBrush(255, 255, 255, 215),
                                    pen=pg.mkPen("#cccccc"), labelTextColor="#222222", verSpacing=-4)
        self.legend.setParentItem(view.viewbox)
        self.legend.hide()
        super().__init__(view)

    def refresh(self, changed: frozenset) -> None:
        coding = self.state.colour_coding()
        if coding is None:
            return
        if coding.kind == "continuous":
            self.legend.hide()
            self.bar.setColorMap(self.view.brushes.colour_map())
            self.bar.setLevels((coding.lo, coding.hi))
            self.bar.setLabel("right", coding.column)
            self.bar.show()
        else:
            self.bar.hide()
            self._fill_legend()

    def _fill_legend(self) -> None:
        coding = self.state.colour_coding()
        self.legend.clear()
        size = 12 if self.view.presentation else 9
        for i, label in enumerate(coding.labels):
            sample = pg.ScatterPlotItem(size=size, brush=pg.mkBrush(category_colour(i)), pen=None, symbol="o")
            self.legend.addItem(sample, html.escape(f"{label}"))
        if (coding.codes == coding.missing_code).any():
            self.legend.addItem(pg.ScatterPlotItem(size=size, brush=pg.mkBrush("#b8b8b8"), pen=None), "missing")
        self.legend.show()

    def restyle(self) -> None:
        font = QtGui.QFont()
        font.setPointSizeF(13 if self.view.presentation else 9)
        self.bar.getAxis("right").setStyle(tickFont=font)
        self.legend.setLabelTextSize("13pt" if self.view.presentation else "9pt")
        coding = self.state.colour_coding()
        if coding is not None and coding.kind == "categorical":
            self._fill_legend()


class TitleLayer(MapLayer):
    """The map's title (which map, coloured by what) and its axis labels."""

    WATCHES = ("table", "projection", "colour")

    def refresh(self, changed: frozenset) -> None:
        method, plot = self.state.projection, self.view.plot
        if not self.shows_map:
            return
        size = "15pt" if self.view.presentation else "10pt"
        colour = f" &nbsp;·&nbsp; colour: <b>{html.escape(self.state.colour_by or '-')}</b>"
        plot.setTitle(f"<span style='color:#333'>{METHOD_LABELS.get(method, method)} of the hyper-representation"
                      f"{colour}</span>", size=size)
        label = METHOD_LABELS.get(method, method)
        plot.setLabel("bottom", f"{label} 1", color="#777777")
        plot.setLabel("left", f"{label} 2", color="#777777")

    def restyle(self) -> None:
        font = QtGui.QFont()
        font.setPointSizeF(13 if self.view.presentation else 9)
        for name in ("left", "bottom"):
            self.view.plot.getAxis(name).setStyle(tickFont=font)
        self.refresh(frozenset(("projection",)))
