"""The Training dock: the live loss of an autoencoder fit, fed with the fit job's progress records.

A point is added for every progress record with a loss at a new step (the step records of the
fit, and the epoch's "saved" record when the step records of that epoch were thinned out), so the
curve grows while the job runs. When the job has written its workspace, "Open workspace" offers it
(the window asks before replacing what is shown; see ``JobsMenu``).
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

#: The loss plot's least height: readable ticks and a whole axis label.
PLOT_MIN_HEIGHT = 180


class TrainingPanel(QtWidgets.QWidget):
    """Live loss of an autoencoder fit (fed with the fit job's progress records).

    ``open_requested(path)`` fires when the user asks to open the finished fit's workspace.
    """

    open_requested = QtCore.Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        top = QtWidgets.QHBoxLayout()
        self.label = QtWidgets.QLabel("Train an autoencoder (Jobs menu) to watch its loss here.")
        self.label.setObjectName("hint")
        self.label.setWordWrap(True)
        top.addWidget(self.label, 1)
        self.open_button = QtWidgets.QPushButton("Open workspace")
        self.open_button.setObjectName("primaryButton")
        self.open_button.hide()
        self.open_button.clicked.connect(lambda: self.open_requested.emit(self.result_path))
        top.addWidget(self.open_button)
        layout.addLayout(top)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("lossPlot")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMinimumHeight(PLOT_MIN_HEIGHT)
        self.plot.setLabel("bottom", "step", color="#666")
        self.plot.setLabel("left", "loss", color="#666")
        font = QtGui.QFont()
        font.setPointSizeF(8.5)
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setStyle(tickFont=font)
        self.plot.showGrid(y=True, alpha=0.15)
        self.curve = self.plot.plot(pen=pg.mkPen("#0072B2", width=2), symbol="o", symbolSize=4,
                                    symbolBrush="#0072B2", symbolPen=None)
        layout.addWidget(self.plot, 1)
        self.steps: list[float] = []
        self.losses: list[float] = []
        self.result_path = ""

    def start(self, title: str) -> None:
        self.steps, self.losses = [], []
        self.curve.setData([], [])
        self.label.setText(title)
        self.open_button.hide()
        self.result_path = ""

    def add(self, record) -> None:
        loss = record.metrics.get("loss")
        step = float(record.done)
        if isinstance(loss, (int, float)) and (not self.steps or step > self.steps[-1]):
            self.steps.append(step)
            self.losses.append(float(loss))
            self.curve.setData(self.steps, self.losses)
        self.label.setText(record.message)

    def finished(self, path) -> None:
        """The fit wrote ``path``: say so and offer to open it."""
        self.result_path = str(path)
        self.label.setText(f"Done: {path}")
        self.open_button.show()
