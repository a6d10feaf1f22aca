"""Details of the model state in focus: properties, its accuracy over epochs, its weights per layer."""
from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from hyperviz.model.formatting import format_value
from hyperviz.ui.context import AppContext
from hyperviz.ui.neighbours_list import NeighboursList

CURVES = (("train_acc", "#0072B2", "train"), ("val_acc", "#009E73", "val"), ("test_acc", "#D55E00", "test"))


class DetailsPanel(QtWidgets.QWidget):
    """Follows ``state.current``; curves and weights come from the open workspace's zoo."""

    WATCHES = ("table", "current")

    def __init__(self, context: AppContext, parent=None) -> None:
        super().__init__(parent)
        self.state = context.state
        self.workspace = context.workspace
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(6)
        self.header = QtWidgets.QLabel("Click a point in the map to see that model")
        self.header.setObjectName("detailsHeader")
        self.header.setWordWrap(True)
        layout.addWidget(self.header)

        self.properties = QtWidgets.QTableWidget(0, 2)
        self.properties.setObjectName("detailsTable")
        self.properties.horizontalHeader().hide()
        self.properties.verticalHeader().hide()
        self.properties.horizontalHeader().setStretchLastSection(True)
        self.properties.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.properties.verticalHeader().setDefaultSectionSize(21)
        self.properties.setMinimumHeight(130)
        self.properties.setMaximumHeight(200)
        layout.addWidget(self.properties)

        self.curve_plot = pg.PlotWidget(background="w")
        self.curve_plot.setObjectName("accuracyPlot")
        self.curve_plot.setMinimumHeight(170)
        self.curve_plot.setMenuEnabled(False)
        self.curve_plot.hideButtons()
        plot = self.curve_plot.getPlotItem()
        plot.setTitle("<span style='color:#333'>accuracy over epochs</span>", size="9pt")
        plot.setLabel("bottom", "epoch", color="#666")
        plot.setYRange(0, 1.02, padding=0)
        plot.enableAutoRange(y=False)
        plot.setMouseEnabled(x=False, y=False)
        plot.showGrid(y=True, alpha=0.15)
        self.legend = plot.addLegend(offset=(-4, -4), labelTextColor="#333", brush=pg.mkBrush(255, 255, 255, 200))
        self.curves = {name: plot.plot(pen=pg.mkPen(colour, width=2), name=label, symbol="o", symbolSize=4,
                                       symbolBrush=colour, symbolPen=None)
                       for name, colour, label in CURVES}
        self.epoch_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#888", style=QtCore.Qt.PenStyle.DashLine))
        plot.addItem(self.epoch_line)
        layout.addWidget(self.curve_plot, 1)

        title = QtWidgets.QLabel("weights per layer (this epoch)")
        title.setObjectName("sectionTitle")
        layout.addWidget(title)
        self.weights = pg.GraphicsLayoutWidget()
        self.weights.setObjectName("weightHistograms")
        self.weights.setBackground("w")
        self.weights.setMinimumHeight(230)
        layout.addWidget(self.weights, 1)

        title = QtWidgets.QLabel("nearest other models in the embedding")
        title.setObjectName("sectionTitle")
        layout.addWidget(title)
        self.neighbours = NeighboursList(context)
        layout.addWidget(self.neighbours)

        self.state.signals.watch(self.WATCHES, self.refresh)
        self.refresh(frozenset(self.WATCHES))

    def refresh(self, changed: frozenset) -> None:
        """Show the model state in focus (or a hint when there is none)."""
        row = self.state.current
        self.weights.clear()
        if row is None or self.state.n == 0:
            self.header.setText("Click a point in the map to see that model: its properties, its accuracy over "
                                "epochs, its path through the map and its weights.")
            self.properties.setRowCount(0)
            for curve in self.curves.values():
                curve.setData([], [])
            self.epoch_line.hide()
            return
        table = self.state.table
        model_id = table["model_id"][row] if "model_id" in table else f"model {table['model'][row]}"
        split = f" · {table['split'][row]} split" if "split" in table else ""
        self.header.setText(f"<b style='font-size:12pt'>{html.escape(str(model_id))}</b> &nbsp; "
                            f"epoch {int(table['epoch'][row])}{html.escape(split)}")
        names = [c for c in self.state.properties() if c not in ("epoch", "split")]
        self.properties.setRowCount(len(names))
        for i, name in enumerate(names):
            self.properties.setItem(i, 0, QtWidgets.QTableWidgetItem(name))
            self.properties.setItem(i, 1, QtWidgets.QTableWidgetItem(format_value(table[name][row])))
        self.properties.resizeColumnToContents(0)
        self._curves(row)
        self._weights(row)

    def _curves(self, row: int) -> None:
        zoo = self.workspace.zoo
        model, checkpoint = int(self.state.table["model"][row]), int(self.state.table["checkpoint"][row])
        if zoo is None:
            return
        epochs = np.asarray(zoo.epochs, dtype=float)
        present = zoo.present[model]
        for name, curve in self.curves.items():
            if name in zoo.states:
                curve.setData(epochs[present], zoo.states[name][model][present])
        self.epoch_line.setValue(float(zoo.epochs[checkpoint]))
        self.epoch_line.show()

    def _weights(self, row: int) -> None:
        zoo = self.workspace.zoo
        if zoo is None:
            return
        model, checkpoint = int(self.state.table["model"][row]), int(self.state.table["checkpoint"][row])
        vector = zoo.weights[model, checkpoint]
        arch = zoo.spec(str(zoo.model_archs()[model]))      # zoos may mix architectures
        slots = [s for s in arch.layout if s.kind == "weight"]
        columns = 3 if len(slots) > 4 else 2
        for i, slot in enumerate(slots):
            values = vector[slot.offset:slot.stop]
            plot = self.weights.addPlot(row=i // columns, col=i % columns)
            shape = "×".join(map(str, slot.shape))
            plot.setTitle(f"<span style='color:#555'>layer {slot.layer} · {shape}</span>", size="8pt")
            plot.hideAxis("left")
            plot.getAxis("bottom").setStyle(tickLength=-3)
            plot.getAxis("bottom").setTextPen(pg.mkPen("#777"))
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(x=False, y=False)
            finite = values[np.isfinite(values)]
            if finite.size:
                counts, edges = np.histogram(finite, bins=24)
                plot.plot(edges, counts, stepMode="center", fillLevel=0, brush=pg.mkBrush(58, 120, 194, 150),
                          pen=pg.mkPen("#3a78c2", width=1))
