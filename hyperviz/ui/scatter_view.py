"""The map: every model state as a point of a 2-D projection of its hyper-representation.

Layers, bottom to top: all visible states (:class:`CodedScatter`, coloured by one property through
a shared brush table), the selection overlay (the selected states again, outlined; the base layer
fades while a selection exists), sampled models (stars), the trajectory of the model in focus
across its epochs, and markers for the focused and hovered state.

Mouse: wheel zooms; a left drag pans, or draws a box / lasso when that tool is active (the tool is
sticky; the middle button always pans); Shift adds, Ctrl/Alt subtracts, Shift+Ctrl intersects.
Gestures become predicates in :mod:`hyperviz.model.brush`; the view only renders the state.
"""
from __future__ import annotations

import contextlib
import html
import importlib
import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from hyperviz.model.brush import TOOLS, Modifiers, gesture_selection
from hyperviz.model.colours import ColourCoding, colour_coding
from hyperviz.model.formatting import format_value
from hyperviz.model.state import AppState, coord_columns
from hyperviz.ui.brush_tables import BrushTables, category_colour
from hyperviz.ui.coded_scatter import CodedScatter

SELECTION_PEN = "#1b1b1b"
FOCUS_COLOUR = "#D55E00"
TRAJECTORY_COLOUR = "#222222"
FADED_OPACITY = 0.22
HOVER_RADIUS_PX = 9
TOOLTIP_COLUMNS = ("test_acc", "train_acc", "val_acc", "ggap", "activation", "init", "optimizer", "lr",
                   "weight_decay", "dropout", "split")
METHOD_LABELS = {"umap": "UMAP", "pca": "PCA"}


def marker_size(n: int, presentation: bool = False) -> float:
    """Point size in pixels: smaller for bigger maps, larger in presentation mode."""
    size = float(np.clip(12.5 - 1.5 * math.log10(max(n, 1)), 4.0, 9.0))
    return size * (1.6 if presentation else 1.0)


@contextlib.contextmanager
def _closed_paths_tolerated():
    """pyqtgraph 0.14's SVG exporter cannot parse closed paths (``... Z``), which Qt 6.11 writes for
    every clipped view (pyqtgraph issue #3495, fixed upstream after 0.14). While exporting, strip the
    closing ``Z`` before its coordinate fix-up and put it back after."""
    module = importlib.import_module("pyqtgraph.exporters.SVGExporter")
    original = module.correctCoordinates

    def correct(node, defs, item, options):
        closed = []
        for element in node.getElementsByTagName("path"):
            d = element.getAttribute("d").strip()
            if d.endswith("Z"):
                element.setAttribute("d", d[:-1].strip())
                closed.append(element)
        original(node, defs, item, options)
        for element in closed:
            element.setAttribute("d", element.getAttribute("d").strip() + " Z")

    module.correctCoordinates = correct
    try:
        yield
    finally:
        module.correctCoordinates = original


class MapViewBox(pg.ViewBox):
    """A ViewBox whose left drag pans or draws a box/lasso; finished gestures go to ``on_gesture``."""

    def __init__(self, on_gesture) -> None:
        super().__init__(enableMenu=False)
        self.border = None          # no (invisible) border path: pyqtgraph's SVG export cannot parse closed paths
        self.tool = "pan"
        self._on_gesture = on_gesture
        self._path: list[QtCore.QPointF] = []
        self._outline = QtWidgets.QGraphicsPathItem()
        pen = QtGui.QPen(QtGui.QColor("#0b5cad"), 1.6, QtCore.Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self._outline.setPen(pen)
        self._outline.setBrush(QtGui.QColor(11, 92, 173, 28))
        self._outline.setZValue(100)
        self._outline.hide()
        self.addItem(self._outline, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None):
        if self.tool == "pan" or ev.button() != QtCore.Qt.MouseButton.LeftButton or axis is not None:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            self._path = [self.mapSceneToView(ev.buttonDownScenePos(QtCore.Qt.MouseButton.LeftButton))]
        self._path.append(self.mapSceneToView(ev.scenePos()))
        self._draw_outline()
        if ev.isFinish():
            self._outline.hide()
            points = [(p.x(), p.y()) for p in self._path]
            mods = ev.modifiers()
            modifiers = Modifiers(shift=bool(mods & QtCore.Qt.KeyboardModifier.ShiftModifier),
                                  ctrl=bool(mods & QtCore.Qt.KeyboardModifier.ControlModifier),
                                  alt=bool(mods & QtCore.Qt.KeyboardModifier.AltModifier))
            self._path = []
            self._on_gesture(self.tool, points, modifiers)

    def _draw_outline(self) -> None:
        path = QtGui.QPainterPath()
        if self.tool == "box":
            path.addRect(QtCore.QRectF(self._path[0], self._path[-1]).normalized())
        else:
            path.moveTo(self._path[0])
            for point in self._path[1:]:
                path.lineTo(point)
            path.closeSubpath()
        self._outline.setPath(path)
        self._outline.show()


class MapView(QtWidgets.QWidget):
    """The map widget. It reads ``state`` and calls its methods; it never holds selection logic."""

    def __init__(self, state: AppState, brushes: BrushTables | None = None, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.brushes = brushes or BrushTables()
        self.presentation = False
        self.coding: ColourCoding | None = None
        self._sample_rows = np.zeros(0, dtype=np.intp)

        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setObjectName("mapCanvas")
        self.canvas.setBackground("w")
        self.canvas.ci.setContentsMargins(6, 6, 6, 6)
        self.viewbox = MapViewBox(self._on_gesture)
        self.plot = pg.PlotItem(viewBox=self.viewbox)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen("#b0b0b0"))
            axis.setTextPen(pg.mkPen("#777777"))
        self.canvas.addItem(self.plot, 0, 0)
        self.colour_bar = pg.ColorBarItem(values=(0, 1), width=14, colorMap=self.brushes.colour_map(),
                                          interactive=False, colorMapMenu=False, pen="#999999")
        bar_axis = self.colour_bar.getAxis("right")
        bar_axis.setTextPen(pg.mkPen("#444444"))
        bar_axis.enableAutoSIPrefix(False)
        self.canvas.addItem(self.colour_bar, 0, 1)
        self.legend = pg.LegendItem(offset=(-10, 10), brush=pg.mkBrush(255, 255, 255, 215),
                                    pen=pg.mkPen("#cccccc"), labelTextColor="#222222", verSpacing=-4)
        self.legend.setParentItem(self.viewbox)
        self.legend.hide()

        self.base = CodedScatter(size=6)
        self.base.setZValue(0)
        self.overlay = CodedScatter(size=8, pen=pg.mkPen(SELECTION_PEN, width=1.3))
        self.overlay.setZValue(10)
        self.samples = CodedScatter(size=15, symbol="star", pen=pg.mkPen("#1b1b1b", width=1.0))
        self.samples.setZValue(15)
        self.trajectory = pg.PlotDataItem(pen=pg.mkPen(TRAJECTORY_COLOUR, width=2), symbol="o", symbolSize=5,
                                          symbolBrush=TRAJECTORY_COLOUR, symbolPen=None)
        self.trajectory.setZValue(20)
        self.trajectory_labels = [pg.TextItem(color="#222222", anchor=anchor, fill=pg.mkBrush(255, 255, 255, 190))
                                  for anchor in ((1.1, 1.1), (-0.1, -0.1))]
        self.focus = pg.ScatterPlotItem(size=18, pen=pg.mkPen(FOCUS_COLOUR, width=2.5), brush=None)
        self.focus.setZValue(30)
        self.hover = pg.ScatterPlotItem(size=14, pen=pg.mkPen("#0b5cad", width=2), brush=None)
        self.hover.setZValue(25)
        for item in (self.base, self.overlay, self.samples, self.trajectory, self.focus, self.hover):
            self.plot.addItem(item)
        for label in self.trajectory_labels:
            label.setZValue(21)
            self.plot.addItem(label, ignoreBounds=True)

        self.empty_label = QtWidgets.QLabel("Open a workspace to see its map", self)
        self.empty_label.setObjectName("mapPlaceholder")
        self.empty_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        layout = QtWidgets.QStackedLayout(self)
        layout.setStackingMode(QtWidgets.QStackedLayout.StackingMode.StackAll)
        layout.addWidget(self.canvas)
        layout.addWidget(self.empty_label)

        self._hover_proxy = pg.SignalProxy(self.canvas.scene().sigMouseMoved, rateLimit=40, slot=self._on_mouse_moved)
        self.canvas.scene().sigMouseClicked.connect(self._on_mouse_clicked)

        signals = state.signals
        signals.table.connect(self._on_table)
        signals.projection.connect(self._on_projection)
        signals.colour.connect(lambda _column: self._recolour())
        signals.filters.connect(self._on_filters)
        signals.selection.connect(self._on_selection)
        signals.current.connect(lambda _row: self._on_current())
        signals.samples.connect(self._on_samples)
        signals.view.connect(self.set_view_range)
        self._on_table()

    # ---- public API ------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        """``"pan"``, ``"box"`` or ``"lasso"`` (sticky until changed)."""
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self.viewbox.tool = tool
        cursor = QtCore.Qt.CursorShape.OpenHandCursor if tool == "pan" else QtCore.Qt.CursorShape.CrossCursor
        self.canvas.setCursor(cursor)

    @property
    def tool(self) -> str:
        return self.viewbox.tool

    def apply_gesture(self, tool: str, points, modifiers: Modifiers = Modifiers()) -> bool:
        """Turn a finished gesture (data coordinates) into a selection change; True if it changed anything."""
        if self.state.projection is None:
            return False
        x_col, y_col = coord_columns(self.state.projection)
        result = gesture_selection(tool, x_col, y_col, points, modifiers)
        if result is None:
            return False
        mode, predicate = result
        self.state.select(predicate, mode)
        return True

    def view_range(self) -> list[list[float]]:
        (x0, x1), (y0, y1) = self.viewbox.viewRange()
        return [[float(x0), float(x1)], [float(y0), float(y1)]]

    def set_view_range(self, view_range) -> None:
        (x0, x1), (y0, y1) = view_range
        self.viewbox.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def reset_view(self) -> None:
        self.viewbox.autoRange(padding=0.04)

    def set_presentation(self, on: bool) -> None:
        """Larger markers and fonts for teaching on a projector."""
        self.presentation = bool(on)
        font = QtGui.QFont()
        font.setPointSizeF(13 if on else 9)
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setStyle(tickFont=font)
        self.colour_bar.getAxis("right").setStyle(tickFont=font)
        self.legend.setLabelTextSize("13pt" if on else "9pt")
        self._apply_sizes()
        self._update_title()
        if self.coding is not None and self.coding.kind == "categorical":
            self._update_legend()

    def set_colour_map(self, name: str) -> None:
        self.brushes.cmap_name = name
        self._recolour()

    def row_at(self, x: float, y: float, radius_px: float = HOVER_RADIUS_PX) -> int | None:
        """The visible state nearest to data point ``(x, y)`` within ``radius_px`` pixels, or None."""
        if self.state.n == 0 or self.state.projection is None:
            return None
        px, py = self.viewbox.viewPixelSize()
        if not px or not py:
            return None
        xs, ys = self.state.coords()
        d2 = ((xs - x) / px) ** 2 + ((ys - y) / py) ** 2
        d2 = np.where(self.state.visible_mask, d2, np.inf)
        row = int(np.argmin(d2))
        return row if d2[row] <= radius_px ** 2 else None

    def sample_at(self, x: float, y: float, radius_px: float = HOVER_RADIUS_PX) -> int | None:
        """Index into ``state.samples`` of the sampled model under ``(x, y)``, or None."""
        if not len(self._sample_rows):
            return None
        px, py = self.viewbox.viewPixelSize()
        sx, sy = self.samples.getData()
        d2 = ((sx - x) / px) ** 2 + ((sy - y) / py) ** 2
        i = int(np.argmin(d2))
        return int(self._sample_rows[i]) if d2[i] <= radius_px ** 2 else None

    def export_figure(self, path: str, width: int | None = None) -> None:
        """Write the map (with colour bar) as PNG or SVG, by file extension."""
        from pyqtgraph import exporters

        if str(path).lower().endswith(".svg"):
            with _closed_paths_tolerated():
                exporters.SVGExporter(self.canvas.scene()).export(str(path))
            return
        else:
            exporter = exporters.ImageExporter(self.canvas.scene())
            exporter.parameters()["width"] = int(width or max(1600, self.canvas.width() * 2))
            exporter.parameters()["antialias"] = True
        exporter.export(str(path))

    # ---- state -> view ---------------------------------------------------------------------------
    def _on_table(self) -> None:
        empty = self.state.n == 0 or self.state.projection is None
        self.empty_label.setVisible(empty)
        self.canvas.setVisible(not empty)
        if empty:
            for item in (self.base, self.overlay, self.samples):
                item.set_points(np.zeros(0), np.zeros(0))
            return
        self.coding = None
        self._place_points()
        self._recolour()
        self._on_samples()
        self._on_current()
        self.reset_view()

    def _place_points(self) -> None:
        """Positions of every state in the shown map, in both layers (the overlay shows only the selected)."""
        x, y = self.state.coords()
        codes = self.coding.codes if self.coding is not None else None
        brushes = self.brushes.table_for(self.coding) if self.coding is not None else None
        self.base.set_points(x, y, codes, brushes, visible=self.state.visible_mask)
        self.overlay.set_points(x, y, codes, brushes, visible=self.state.selected_mask)
        self._apply_sizes()
        self._update_overlay()
        self._update_title()

    def _on_projection(self, _method: str) -> None:
        self._place_points()
        self._on_samples()
        self._on_current()
        self.reset_view()

    def _recolour(self) -> None:
        column = self.state.colour_by
        if column is None or self.state.n == 0:
            return
        self.coding = colour_coding(column, self.state.table[column])
        brushes = self.brushes.table_for(self.coding)
        self.base.set_codes(self.coding.codes, brushes)
        self.overlay.set_codes(self.coding.codes, brushes)
        if self.coding.kind == "continuous":
            self.legend.hide()
            self.colour_bar.setColorMap(self.brushes.colour_map())
            self.colour_bar.setLevels((self.coding.lo, self.coding.hi))
            self.colour_bar.setLabel("right", column)
            self.colour_bar.show()
        else:
            self.colour_bar.hide()
            self._update_legend()
        self._on_samples()
        self._update_title()

    def _update_legend(self) -> None:
        self.legend.clear()
        coding = self.coding
        size = 12 if self.presentation else 9
        for i, label in enumerate(coding.labels):
            colour = category_colour(i)
            sample = pg.ScatterPlotItem(size=size, brush=pg.mkBrush(colour), pen=None, symbol="o")
            self.legend.addItem(sample, html.escape(f"{label}"))
        if (coding.codes == coding.missing_code).any():
            self.legend.addItem(pg.ScatterPlotItem(size=size, brush=pg.mkBrush("#b8b8b8"), pen=None), "missing")
        self.legend.show()

    def _on_filters(self) -> None:
        self.base.set_visible(self.state.visible_mask)
        self._update_overlay()
        self._on_samples()

    def _on_selection(self) -> None:
        self._update_overlay()

    def _update_overlay(self) -> None:
        """The overlay holds every state; a selection change only flips which of them are visible."""
        if self.state.n == 0 or self.state.projection is None:
            return
        self.overlay.set_visible(self.state.selected_mask)
        self.base.setOpacity(FADED_OPACITY if self.state.has_selection else 1.0)

    def _apply_sizes(self) -> None:
        size = marker_size(self.state.n, self.presentation)
        self.base.set_style(size=size)
        self.overlay.set_style(size=size + 1.5)
        self.samples.set_style(size=size * 2.0)
        self.focus.setSize(size * 2.4)
        self.hover.setSize(size * 1.9)

    def _on_samples(self) -> None:
        samples, method = self.state.samples, self.state.projection
        x_col, y_col = coord_columns(method) if method else ("", "")
        if not samples or x_col not in samples:
            self._sample_rows = np.zeros(0, dtype=np.intp)
            self.samples.set_points(np.zeros(0), np.zeros(0))
            return
        ok = np.isfinite(samples[x_col]) & np.isfinite(samples[y_col])
        if "visible" in samples:
            ok &= samples["visible"].astype(bool)
        self._sample_rows = np.flatnonzero(ok)
        acc = samples.get("test_acc", np.full(len(ok), np.nan))[self._sample_rows]
        lo, hi = (self.coding.lo, self.coding.hi) if self.coding is not None and self.coding.column == "test_acc" \
            and self.coding.kind == "continuous" else (0.0, 1.0)
        coding = colour_coding("test_acc", np.concatenate([acc, [lo, hi]]))      # same scale as the zoo's
        if coding.kind == "continuous":
            scaled = np.clip((np.nan_to_num(acc, nan=lo) - lo) / max(hi - lo, 1e-12), 0, 1)
            codes = np.minimum((scaled * 256).astype(np.intp), 255)
            codes[~np.isfinite(acc)] = 256
            brushes = self.brushes.continuous()
        else:
            codes, brushes = coding.codes[:-2], self.brushes.table_for(coding)
        self.samples.set_points(samples[x_col][self._sample_rows], samples[y_col][self._sample_rows], codes, brushes)

    def _on_current(self) -> None:
        row = self.state.current
        if row is None or self.state.projection is None:
            self.focus.setData([], [])
            self.trajectory.setData([], [])
            for label in self.trajectory_labels:
                label.hide()
            return
        x, y = self.state.coords()
        self.focus.setData([x[row]], [y[row]])
        rows = self.state.rows_of_model(int(self.state.table["model"][row]))
        self.trajectory.setData(x[rows], y[rows])
        epochs = self.state.table["epoch"][rows]
        for label, r, e in zip(self.trajectory_labels, (rows[0], rows[-1]), (epochs[0], epochs[-1])):
            label.setText(f"e{int(e)}")
            label.setPos(x[r], y[r])
            label.show()

    def _update_title(self) -> None:
        method = self.state.projection
        if method is None:
            return
        size = "15pt" if self.presentation else "10pt"
        colour = f" &nbsp;·&nbsp; colour: <b>{html.escape(self.state.colour_by or '-')}</b>"
        self.plot.setTitle(f"<span style='color:#333'>{METHOD_LABELS.get(method, method)} of the hyper-representation"
                           f"{colour}</span>", size=size)
        label = METHOD_LABELS.get(method, method)
        self.plot.setLabel("bottom", f"{label} 1", color="#777777")
        self.plot.setLabel("left", f"{label} 2", color="#777777")

    # ---- mouse -----------------------------------------------------------------------------------
    def _on_gesture(self, tool: str, points, modifiers: Modifiers) -> None:
        self.apply_gesture(tool, points, modifiers)

    def _scene_to_data(self, scene_pos) -> QtCore.QPointF | None:
        if not self.viewbox.sceneBoundingRect().contains(scene_pos):
            return None
        return self.viewbox.mapSceneToView(scene_pos)

    def _on_mouse_moved(self, args) -> None:
        pos = self._scene_to_data(args[0])
        if pos is None or self.state.n == 0:
            self.hover.setData([], [])
            return
        sample = self.sample_at(pos.x(), pos.y())
        row = None if sample is not None else self.row_at(pos.x(), pos.y())
        view = self.canvas
        global_pos = view.mapToGlobal(view.mapFromScene(args[0]))
        if sample is not None:
            sx, sy = self.state.samples[coord_columns(self.state.projection)[0]][sample], \
                self.state.samples[coord_columns(self.state.projection)[1]][sample]
            self.hover.setData([sx], [sy])
            QtWidgets.QToolTip.showText(global_pos, self.sample_tooltip(sample), view)
        elif row is not None:
            x, y = self.state.coords()
            self.hover.setData([x[row]], [y[row]])
            QtWidgets.QToolTip.showText(global_pos, self.tooltip(row), view)
        else:
            self.hover.setData([], [])
            QtWidgets.QToolTip.hideText()

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton or event.double():
            return
        pos = self._scene_to_data(event.scenePos())
        if pos is None:
            return
        row = self.row_at(pos.x(), pos.y())
        if row is not None:
            self.state.set_current(row)

    def tooltip(self, row: int) -> str:
        """Rich-text tooltip of one model state: id, epoch, accuracy and hyperparameters."""
        table = self.state.table
        model_id = table["model_id"][row] if "model_id" in table else f"model {table['model'][row]}"
        lines = [f"<b>{html.escape(str(model_id))}</b> &nbsp; epoch {int(table['epoch'][row])}"]
        rows = []
        for column in TOOLTIP_COLUMNS:
            if column in table:
                rows.append(f"<tr><td style='color:#666;padding-right:8px'>{column}</td>"
                            f"<td>{html.escape(format_value(table[column][row]))}</td></tr>")
        return lines[0] + "<table>" + "".join(rows) + "</table><i style='color:#888'>click for details</i>"

    def sample_tooltip(self, i: int) -> str:
        samples = self.state.samples
        name = f"{samples['run'][i]}:{int(samples['index'][i])}" if "run" in samples else f"sample {i}"
        rows = []
        for column in ("test_acc", "val_acc", "finetune_acc", "novelty_weight", "novelty_embedding", "agreement"):
            if column in samples and np.isfinite(samples[column][i]):
                rows.append(f"<tr><td style='color:#666;padding-right:8px'>{column}</td>"
                            f"<td>{format_value(samples[column][i])}</td></tr>")
        return f"<b>&#9733; sampled {html.escape(name)}</b><table>{''.join(rows)}</table>"
