"""The Jobs dock: a row per running job (progress, last message, Cancel), kept a few seconds after it ends."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from hyperviz.ui.context import AppContext
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
        self.bar.setValue(1000 if text == "done" else 0)      # a stopped job shows no half-filled bar
        self.cancel_button.hide()
        self.message.setText(f"<span style='color:{colour}'>{text}</span>")
        QtCore.QTimer.singleShot(KEEP_FINISHED_MS, self, self.deleteLater)


class JobsPanel(QtWidgets.QWidget):
    """Lists the context's jobs while they run (and a few seconds after)."""

    def __init__(self, context: AppContext, parent=None) -> None:
        super().__init__(parent)
        runner = context.runner
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
