"""The Training dock: the live loss of an autoencoder fit, fed with the fit job's progress records."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtWidgets


class TrainingPanel(QtWidgets.QWidget):
    """Live loss of an autoencoder fit (fed with the fit job's progress records)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.label = QtWidgets.QLabel("Train an autoencoder (Jobs menu) to watch its loss here.")
        self.label.setObjectName("hint")
        layout.addWidget(self.label)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("lossPlot")
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("bottom", "step", color="#666")
        self.plot.setLabel("left", "training loss", color="#666")
        self.plot.showGrid(y=True, alpha=0.15)
        self.curve = self.plot.plot(pen=pg.mkPen("#0072B2", width=2))
        layout.addWidget(self.plot, 1)
        self.steps: list[float] = []
        self.losses: list[float] = []

    def start(self, title: str) -> None:
        self.steps, self.losses = [], []
        self.curve.setData([], [])
        self.label.setText(title)

    def add(self, record) -> None:
        loss = record.metrics.get("loss")
        if isinstance(loss, (int, float)) and "saved" not in record.message:
            self.steps.append(float(record.done))
            self.losses.append(float(loss))
            self.curve.setData(self.steps, self.losses)
        self.label.setText(record.message)
