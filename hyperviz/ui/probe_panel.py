"""The probe dock: how well does the hyper-representation predict each property, beside s(W)?

"Compute" runs :func:`hyperviz.model.jobs.probe_job` in the background (through the context's
job runner), on every model state or only on those shown (the property filters) or selected in
the map: "how well is epoch predicted among the trained models?" is a brush and a click. The
results are kept in the open workspace (:class:`~hyperviz.model.workspace.ProbeResults`); the
dock shows them whenever they change. The
table lists the test score per property for each feature set (a hyper-rep cell's tooltip holds its
difference from s(W) with a bootstrap interval over the test models, and the status line says
where either side is ahead); choosing a row shows predicted against true values on the held-out
test models. "Tree ceiling" adds gradient-boosted trees on
s(W): how much of each property the weight statistics hold at all.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from hyperviz.model import jobs
from hyperviz.ui.context import AppContext

FEATURES = (("hyperrep", "hyper-rep", "#0072B2"), ("sw", "s(W)", "#E69F00"), ("sw_trees", "s(W) trees", "#009E73"))
#: Table headers (short: the dock is narrow; the scores come first) and their tooltips.
COLUMNS = (("property", "the zoo's name of the property"),
           ("hyper-rep", "linear probe on the hyper-representation"),
           ("s(W)", "linear probe on the per-layer weight statistics"),
           ("trees", "gradient-boosted trees on s(W) (the \"tree ceiling\" option)"),
           ("metric", "R² (ridge regression) for numbers, accuracy (linear classifier) for categories"),
           ("test n", "held-out test model states with a value"))
METRIC_COLUMN, N_COLUMN = 1 + len(FEATURES), 2 + len(FEATURES)
METRIC_LABELS = {"r2": "R²", "accuracy": "accuracy"}
#: The predicted-vs-true plot is never squeezed below this (presentation mode's fonts grow the rest).
PLOT_MIN_HEIGHT = 150


#: Which model states the probes use: (label, AppState mask attribute or None for all).
SUBSETS = (("all model states", None), ("the shown states", "visible_mask"), ("the selected states", "selected_mask"))


class _NumberItem(QtWidgets.QTableWidgetItem):
    """Sorts by number; empty cells last."""

    def __init__(self, value: float | None) -> None:
        super().__init__("–" if value is None else f"{value:.3f}")
        self.value = -np.inf if value is None else value
        self.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other) -> bool:
        return self.value < getattr(other, "value", -np.inf)


class ProbePanel(QtWidgets.QWidget):
    """Probes the open workspace (all, shown or selected states of the context's state) and shows
    the results the open workspace keeps."""

    def __init__(self, context: AppContext, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.probes = context.workspace.probes
        self.handle = None
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        top = QtWidgets.QHBoxLayout()
        self.compute_button = QtWidgets.QPushButton("Compute probes")
        self.compute_button.setObjectName("primaryButton")
        self.compute_button.clicked.connect(self.compute)
        top.addWidget(self.compute_button)
        self.subset = QtWidgets.QComboBox()
        self.subset.setObjectName("probeSubset")
        self.subset.addItems([label for label, _mask in SUBSETS])
        self.subset.setToolTip("Probe every model state, or only those the property filters show or the map selects "
                               "(the split into train/val/test models stays the same)")
        top.addWidget(self.subset)
        self.ceiling = QtWidgets.QCheckBox("tree ceiling")
        self.ceiling.setObjectName("probeCeiling")
        self.ceiling.setToolTip("Also fit gradient-boosted trees on s(W): an estimate of how much of each property "
                                "the weight statistics hold at all (slower, about a minute for 10k states)")
        top.addWidget(self.ceiling)
        self.status = QtWidgets.QLabel("Linear probes on held-out test models: ridge R² for numbers, "
                                       "accuracy for categories. s(W) = per-layer weight statistics.")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        top.addStretch(1)
        layout.addLayout(top)
        layout.addWidget(self.status)
        splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("probeTable")
        self.table.setHorizontalHeaderLabels([header for header, _tip in COLUMNS])
        for c, (_header, tip) in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(c).setToolTip(tip)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._show_chosen)
        splitter.addWidget(self.table)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("probeScatter")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "true", color="#666")
        self.plot.setLabel("left", "predicted", color="#666")
        self.plot.setMinimumHeight(PLOT_MIN_HEIGHT)
        self.diagonal = pg.PlotDataItem(pen=pg.mkPen("#999", style=QtCore.Qt.PenStyle.DashLine))
        self.plot.addItem(self.diagonal)
        self.points = {key: self.plot.plot(pen=None, symbol="o", symbolSize=5, symbolPen=None,
                                           symbolBrush=pg.mkBrush(colour + "99"), name=label)
                       for key, label, colour in FEATURES}
        # the legend above the plot, never over its points
        self.legend = QtWidgets.QLabel(" &nbsp; ".join(f"<span style='color:{colour}'>&#9679;</span> {label}"
                                                       for _key, label, colour in FEATURES))
        self.legend.setObjectName("probeLegend")
        below = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(below)
        column.setContentsMargins(0, 4, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.legend)
        column.addWidget(self.plot, 1)
        splitter.addWidget(below)
        splitter.setChildrenCollapsible(False)
        self.table.setMinimumHeight(4 * self.table.verticalHeader().defaultSectionSize() + 4)   # header + 3 rows
        splitter.setSizes([260, 300])
        layout.addWidget(splitter, 1)
        self.probes.changed.connect(self.refresh)

    @property
    def results(self) -> dict | None:
        """``{property: {feature set: ProbeResult}}`` of the last probes, or None."""
        return self.probes.results

    @property
    def differences(self) -> dict:
        """Hyper-rep minus s(W) per property, with its bootstrap interval."""
        return self.probes.differences

    def compute(self) -> None:
        session = self.context.workspace.session
        if session is None:
            self.status.setText("Open a workspace first.")
            return
        label, mask_name = SUBSETS[self.subset.currentIndex()]
        rows = None if mask_name is None else np.flatnonzero(getattr(self.context.state, mask_name))
        if rows is not None and rows.size == 0:
            self.status.setText(f"No model states in {label}: brush or select some first, or probe all model states.")
            return
        self.compute_button.setEnabled(False)
        count = len(session.ws.states) if rows is None else rows.size
        probed = f"{label} ({count:,})"
        self.status.setText(f"Computing probes on {probed} in the background…")
        ws, zoo, ceiling = session.ws, session.zoo, self.ceiling.isChecked()
        self.handle = self.context.start_job("Probes", lambda _cancel: jobs.probe_job(ws, zoo, rows, ceiling),
                                             on_finished=lambda outcome: self._finished(outcome, probed),
                                             on_failed=self._failed, on_cancelled=self._cancelled, uses_torch=False)

    def _finished(self, outcome: tuple[dict, dict, str], probed: str) -> None:
        self.compute_button.setEnabled(True)
        self.probes.set(*outcome, probed)

    def _failed(self, message: str) -> None:
        self.compute_button.setEnabled(True)
        self.status.setText(f"Probes failed: {message.splitlines()[0]}")

    def _cancelled(self) -> None:
        self.compute_button.setEnabled(True)
        self.status.setText("Probes cancelled.")

    def refresh(self) -> None:
        """Show the open workspace's probes: an empty table without them, else a row per property
        (a feature set a result lacks, e.g. the trees, shows as "–")."""
        results, differences = self.probes.results, self.probes.differences
        if results is None:
            self.table.setRowCount(0)
            for item in self.points.values():
                item.setData([], [])
            self.diagonal.setData([], [])
            return
        self.table.setSortingEnabled(False)
        self.table.horizontalHeader().setSortIndicator(-1, QtCore.Qt.SortOrder.AscendingOrder)   # report order
        self.table.setRowCount(len(results))
        for i, (prop, by_feature) in enumerate(results.items()):
            first = next(iter(by_feature.values()))
            name = QtWidgets.QTableWidgetItem(prop)
            name.setData(QtCore.Qt.ItemDataRole.UserRole, prop)
            self.table.setItem(i, 0, name)
            self.table.setItem(i, METRIC_COLUMN, QtWidgets.QTableWidgetItem(METRIC_LABELS.get(first.metric, first.metric)))
            for j, (key, _label, _colour) in enumerate(FEATURES):
                result = by_feature.get(key)
                ok = result is not None and result.applicable and np.isfinite(result.score)
                cell = _NumberItem(float(result.score) if ok else None)
                if result is not None and not result.applicable:
                    cell.setToolTip(result.reason)
                elif key == "hyperrep" and differences.get(prop) is not None:
                    d = differences[prop]
                    cell.setToolTip(f"hyper-rep − s(W) = {d.diff:+.3f}; 95% interval {d.low:+.3f} … {d.high:+.3f} "
                                    f"(paired bootstrap over {d.n_groups} test models)")
                self.table.setItem(i, 1 + j, cell)
            self.table.setItem(i, N_COLUMN, _NumberItem(float(first.n_test)))
            self.table.item(i, N_COLUMN).setText(str(first.n_test))
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        sentence = self.probes.comparison
        self.status.setText(f"Probed {self.probes.probed}. {sentence[0].upper()}{sentence[1:]}.")
        self.status.setToolTip("Hover a hyper-rep score for its difference from s(W); choose a property to see "
                               "predicted against true values on the test models.")
        if results:
            self.table.selectRow(0)

    def _show_chosen(self) -> None:
        items = self.table.selectedItems()
        if not items or self.results is None:
            return
        prop = self.table.item(items[0].row(), 0).data(QtCore.Qt.ItemDataRole.UserRole)
        by_feature = self.results[prop]
        lo, hi = np.inf, -np.inf
        for key, _label, _colour in FEATURES:
            result = by_feature.get(key)
            if result is None or not result.applicable or result.metric != "r2":
                self.points[key].setData([], [])
                continue
            y_true = np.asarray(result.y_true, dtype=float)
            y_pred = np.asarray(result.y_pred, dtype=float)
            self.points[key].setData(y_true, y_pred)
            if y_true.size:
                lo, hi = min(lo, y_true.min(), y_pred.min()), max(hi, y_true.max(), y_pred.max())
        if np.isfinite(lo):
            self.diagonal.setData([lo, hi], [lo, hi])
            self.plot.setTitle(f"<span style='color:#333'>{prop}: predicted vs true</span>", size="9pt")
        else:
            self.diagonal.setData([], [])
            self.plot.setTitle(f"<span style='color:#333'>{prop}: a categorical probe (accuracy in the table)</span>",
                               size="9pt")
