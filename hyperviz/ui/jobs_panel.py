"""Where running jobs show: a row per job (progress, message, Cancel) and a live training-loss plot."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from hyperviz.ui.jobs import JobHandle, JobRunner

KEEP_FINISHED_MS = 8000


class JobRow(QtWidgets.QFrame):
    """One job: name, progress bar, last message, Cancel."""

    def __init__(self, handle: JobHandle, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("jobRow")
        self.handle = handle
        layout = QtWidgets.QGridLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setHorizontalSpacing(8)
        layout.setVerticalSpacing(2)
        self.name = QtWidgets.QLabel(f"<b>{handle.name}</b>")
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 0)          # busy until the first progress record
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        self.message = QtWidgets.QLabel("starting…")
        self.message.setObjectName("hint")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        layout.addWidget(self.name, 0, 0)
        layout.addWidget(self.cancel_button, 0, 1, 2, 1)
        layout.addWidget(self.bar, 1, 0)
        layout.addWidget(self.message, 2, 0, 1, 2)
        layout.setColumnStretch(0, 1)
        handle.progress.connect(self._on_progress)
        handle.finished.connect(lambda _r: self._end("done", "#009E73"))
        handle.failed.connect(lambda m: self._end("failed: " + m.splitlines()[0], "#D55E00"))
        handle.cancelled.connect(lambda: self._end("cancelled", "#777777"))

    def _cancel(self) -> None:
        self.handle.cancel()
        self.cancel_button.setEnabled(False)
        self.message.setText("cancelling…")

    def _on_progress(self, record) -> None:
        if record.total > 0:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * record.fraction))
        metrics = "  ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in list(record.metrics.items())[:3])
        self.message.setText(f"{record.message}  {metrics}".strip())

    def _end(self, text: str, colour: str) -> None:
        self.bar.setRange(0, 1000)
        self.bar.setValue(1000 if text == "done" else self.bar.value())
        self.cancel_button.hide()
        self.message.setText(f"<span style='color:{colour}'>{text}</span>")
        QtCore.QTimer.singleShot(KEEP_FINISHED_MS, self, self.deleteLater)


class JobsPanel(QtWidgets.QWidget):
    """Lists the runner's jobs while they run (and a few seconds after)."""

    def __init__(self, runner: JobRunner, parent=None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        self.empty = QtWidgets.QLabel("No jobs running. Start one from the Jobs menu.")
        self.empty.setObjectName("hint")
        layout.addWidget(self.empty)
        self.rows = QtWidgets.QVBoxLayout()
        layout.addLayout(self.rows)
        layout.addStretch(1)
        runner.started.connect(self._add)
        runner.ended.connect(lambda _h: self._update_empty(runner))

    def _add(self, handle: JobHandle) -> None:
        self.rows.insertWidget(0, JobRow(handle))
        self.empty.hide()

    def _update_empty(self, runner: JobRunner) -> None:
        QtCore.QTimer.singleShot(KEEP_FINISHED_MS + 100, self, lambda: self.empty.setVisible(not runner.running))


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
