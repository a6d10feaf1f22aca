"""The map: every model state as a point of a 2-D projection of its hyper-representation.

The view assembles the canvas, the view box (:mod:`hyperviz.ui.map_viewbox`) and the layers
(:mod:`hyperviz.ui.map_layers`), frames the map when a table or map arrives, and turns the mouse
into state changes: hover shows a tooltip, a click focuses a state, a finished box or lasso
becomes a selection through :func:`hyperviz.model.brush.gesture_selection`.

Mouse: wheel zooms; a left drag pans, or draws a box / lasso when that tool is active (the tool is
sticky; the middle button always pans); Shift adds, Ctrl/Alt subtracts, Shift+Ctrl intersects.
The view only renders the state; it holds no selection logic.
"""
from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from hyperviz.model.brush import TOOLS, Modifiers, gesture_selection
from hyperviz.model.columns import coord_columns
from hyperviz.model.formatting import format_value
from hyperviz.model.lookup import framing_range
from hyperviz.model.state import AppState
from hyperviz.ui.brush_tables import BrushTables
from hyperviz.ui.figure_export import export_scene
from hyperviz.ui.map_layers import (
    ColourKeyLayer,
    FocusLayer,
    HoverLayer,
    SamplesLayer,
    SelectionLayer,
    StatesLayer,
    TitleLayer,
)
from hyperviz.ui.map_overlays import ChosenSamplesLayer, DensityLayer, MarkerKeyLayer
from hyperviz.ui.map_viewbox import MapViewBox

HOVER_RADIUS_PX = 9
#: How long a hover tooltip stays while the cursor rests on its point.
TOOLTIP_MS = 60_000
TOOLTIP_COLUMNS = ("test_acc", "train_acc", "val_acc", "ggap", "activation", "init", "optimizer", "lr",
                   "weight_decay", "dropout", "split")
SAMPLE_TOOLTIP_COLUMNS = ("test_acc", "val_acc", "finetune_acc", "novelty_weight", "novelty_embedding", "agreement")


class MapView(QtWidgets.QWidget):
    """The map widget. It reads ``state`` and calls its methods; it never holds selection logic.

    ``sample_clicked(i)`` fires when a sampled model's star is clicked (``i`` indexes ``state.samples``);
    ``density_changed(on)`` when the density view is switched on or off.
    """

    sample_clicked = QtCore.Signal(int)
    density_changed = QtCore.Signal(bool)

    def __init__(self, state: AppState, brushes: BrushTables | None = None, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.brushes = brushes or BrushTables()
        self.presentation = False

        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setObjectName("mapCanvas")
        self.canvas.setBackground("w")
        self.canvas.ci.setContentsMargins(6, 6, 6, 6)
        self.viewbox = MapViewBox(self.apply_gesture)
        self.plot = pg.PlotItem(viewBox=self.viewbox)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen("#b0b0b0"))
            axis.setTextPen(pg.mkPen("#777777"))
        self.canvas.addItem(self.plot, 0, 0)

        self.states_layer, self.selection_layer = StatesLayer(self), SelectionLayer(self)
        self.samples_layer, self.focus_layer, self.hover_layer = SamplesLayer(self), FocusLayer(self), HoverLayer(self)
        self.key_layer, self.title_layer = ColourKeyLayer(self), TitleLayer(self)
        self.chosen_layer, self.marker_key_layer = ChosenSamplesLayer(self), MarkerKeyLayer(self)
        self.density_layer = DensityLayer(self)
        self.layers = (self.states_layer, self.selection_layer, self.samples_layer, self.focus_layer,
                       self.hover_layer, self.key_layer, self.title_layer, self.chosen_layer,
                       self.marker_key_layer, self.density_layer)
        # the items by name, for figures and tests
        self.base, self.overlay, self.samples = self.states_layer.item, self.selection_layer.item, self.samples_layer.item
        self.trajectory, self.colour_bar, self.legend = self.focus_layer.trajectory, self.key_layer.bar, self.key_layer.legend

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)

        # the graphics view answers Qt's own tooltip event (about 1 s after the mouse rests) by hiding
        # any tooltip, since no item has one: ours stays while the cursor is on its point
        self.canvas.viewport().installEventFilter(self)
        self._hover_proxy = pg.SignalProxy(self.canvas.scene().sigMouseMoved, rateLimit=40, slot=self._on_mouse_moved)
        self.canvas.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        state.signals.watch(("table", "projection"), self._frame)      # after the layers: frame what they drew
        state.signals.view.connect(self.set_view_range)
        self._redraw(frozenset(("table",)))

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QtCore.QEvent.Type.ToolTip and watched is self.canvas.viewport():
            return True
        return super().eventFilter(watched, event)

    @property
    def coding(self):
        """How the points are coloured now (:meth:`AppState.colour_coding`)."""
        return self.state.colour_coding()

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
        self.state.brush_map(predicate, mode)
        return True

    def view_range(self) -> list[list[float]]:
        (x0, x1), (y0, y1) = self.viewbox.viewRange()
        return [[float(x0), float(x1)], [float(y0), float(y1)]]

    def set_view_range(self, view_range) -> None:
        (x0, x1), (y0, y1) = view_range
        self.viewbox.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def reset_view(self) -> None:
        self.viewbox.autoRange(padding=0.04)

    def frame_rows(self, rows, min_fraction: float = 0.0) -> bool:
        """Show the states ``rows`` (indices into the table) in the middle of the map, each span at least
        ``min_fraction`` of the whole map's; False (and nothing moves) when there are none to show."""
        rows = np.asarray(rows, dtype=np.intp)
        if self.state.projection is None or not len(rows):
            return False
        x, y = self.state.coords()
        whole = [float(np.nanmax(v) - np.nanmin(v)) * min_fraction for v in (x, y)]
        self.set_view_range(framing_range(x[rows], y[rows], min_span=(whole[0], whole[1])))
        return True

    def zoom_to_selection(self) -> bool:
        """View > Zoom to selection: frame the selected (visible) states; False when none is selected."""
        return self.frame_rows(np.flatnonzero(self.state.selected_mask), min_fraction=0.05)

    def set_density(self, on: bool) -> None:
        """The density image instead of the states' points (View > Density view)."""
        if bool(on) != self.density_layer.enabled:
            self.density_layer.set_enabled(on)
            self.density_changed.emit(bool(on))

    def set_presentation(self, on: bool) -> None:
        """Larger markers and fonts for teaching on a projector."""
        self.presentation = bool(on)
        for layer in self.layers:
            layer.restyle()

    def set_colour_map(self, name: str) -> None:
        """Draw continuous properties with colour map ``name`` (a view preference, not part of the state)."""
        self.brushes.cmap_name = name
        self._redraw(frozenset(("colour",)))

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
        rows = self.samples_layer.rows
        if not len(rows):
            return None
        px, py = self.viewbox.viewPixelSize()
        sx, sy = self.samples.getData()
        d2 = ((sx - x) / px) ** 2 + ((sy - y) / py) ** 2
        i = int(np.argmin(d2))
        return int(rows[i]) if d2[i] <= radius_px ** 2 else None

    def export_figure(self, path: str, width: int | None = None) -> None:
        """Write the map (with colour bar) as PNG or SVG, by file extension."""
        self.hover_layer.show_at(None, None)          # the hover ring is the mouse's, not the figure's
        QtWidgets.QToolTip.hideText()
        export_scene(self.canvas.scene(), path, int(width or max(1600, self.canvas.width() * 2)))

    # ---- state -> view ---------------------------------------------------------------------------
    def _redraw(self, changed: frozenset) -> None:
        """Redraw every layer that draws one of ``changed``, then frame the map."""
        for layer in self.layers:
            if changed & set(layer.WATCHES):
                layer.refresh(changed)
        if changed & {"table", "projection"}:
            self._frame(changed)

    def _frame(self, changed: frozenset) -> None:
        """A new table or map is shown whole (without one the window shows its start page instead)."""
        if self.state.n > 0 and self.state.projection is not None:
            self.reset_view()

    # ---- mouse -----------------------------------------------------------------------------------
    def _scene_to_data(self, scene_pos) -> QtCore.QPointF | None:
        if not self.viewbox.sceneBoundingRect().contains(scene_pos):
            return None
        return self.viewbox.mapSceneToView(scene_pos)

    def _on_mouse_moved(self, args) -> None:
        pos = self._scene_to_data(args[0])
        if pos is None or self.state.n == 0:
            self.hover_layer.show_at(None, None)
            return
        sample = self.sample_at(pos.x(), pos.y())
        row = None if sample is not None else self.row_at(pos.x(), pos.y())
        view = self.canvas
        local = view.mapFromScene(args[0])
        global_pos = view.mapToGlobal(local)
        # the tooltip stays while the cursor is within the hover radius (Qt hides it on leaving the rect)
        near = QtCore.QRect(local.x() - HOVER_RADIUS_PX, local.y() - HOVER_RADIUS_PX,
                            2 * HOVER_RADIUS_PX, 2 * HOVER_RADIUS_PX)
        if sample is not None:
            self.hover_layer.show_at(*self.samples_layer.position(sample))
            QtWidgets.QToolTip.showText(global_pos, self.sample_tooltip(sample), view, near, TOOLTIP_MS)
        elif row is not None:
            x, y = self.state.coords()
            self.hover_layer.show_at(x[row], y[row])
            QtWidgets.QToolTip.showText(global_pos, self.tooltip(row), view, near, TOOLTIP_MS)
        else:
            self.hover_layer.show_at(None, None)
            QtWidgets.QToolTip.hideText()

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton or event.double():
            return
        pos = self._scene_to_data(event.scenePos())
        if pos is None:
            return
        sample = self.sample_at(pos.x(), pos.y())          # a star is drawn above the states: it wins
        if sample is not None:
            self.sample_clicked.emit(sample)
            return
        row = self.row_at(pos.x(), pos.y())
        if row is not None:
            self.state.set_current(row)

    def tooltip(self, row: int) -> str:
        """Rich-text tooltip of one model state: id, epoch, accuracy and hyperparameters."""
        table = self.state.table
        model_id = table["model_id"][row] if "model_id" in table else f"model {table['model'][row]}"
        head = f"<b>{html.escape(str(model_id))}</b> &nbsp; epoch {int(table['epoch'][row])}"
        rows = [f"<tr><td style='color:#666;padding-right:8px'>{column}</td>"
                f"<td>{html.escape(format_value(table[column][row]))}</td></tr>"
                for column in TOOLTIP_COLUMNS if column in table]
        return head + "<table>" + "".join(rows) + "</table><i style='color:#888'>click for details</i>"

    def sample_tooltip(self, i: int) -> str:
        """Rich-text tooltip of sampled model ``i`` (an index into ``state.samples``): its run and metrics."""
        samples = self.state.samples
        name = f"{samples['run'][i]}:{int(samples['index'][i])}" if "run" in samples else f"sample {i}"
        rows = [f"<tr><td style='color:#666;padding-right:8px'>{column}</td>"
                f"<td>{format_value(samples[column][i])}</td></tr>"
                for column in SAMPLE_TOOLTIP_COLUMNS if column in samples and np.isfinite(samples[column][i])]
        return f"<b>&#9733; sampled {html.escape(name)}</b><table>{''.join(rows)}</table>"
