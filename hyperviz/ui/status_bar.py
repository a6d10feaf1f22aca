"""The status bar: messages, the running job (name, progress, Cancel) and the selected / shown count.

The job status follows the job runner: the job started last shows its name and progress until it
ends, then the newest job still running takes its place; Cancel cancels the one shown.
"""
from __future__ import annotations

from PySide6 import QtWidgets

from hyperviz.ui.context import AppContext
from hyperviz.ui.jobs import JobHandle

MESSAGE_MS = 8000


class MainStatusBar(QtWidgets.QStatusBar):
    """``job_label``, ``job_bar`` and ``job_cancel`` while jobs run; ``count_label`` always."""

    WATCHES = ("table", "selection", "filters")

    def __init__(self, context: AppContext, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBar")
        self.state, self.runner = context.state, context.runner
        self.latest_job: JobHandle | None = None
        self.job_label = QtWidgets.QLabel()
        self.job_bar = QtWidgets.QProgressBar()
        self.job_bar.setFixedSize(140, 8)
        self.job_bar.setTextVisible(False)
        self.job_cancel = QtWidgets.QPushButton("Cancel")
        self.job_cancel.clicked.connect(self.cancel_latest)
        for widget in (self.job_label, self.job_bar, self.job_cancel):
            widget.hide()
            self.addPermanentWidget(widget)
        self.count_label = QtWidgets.QLabel("")
        self.count_label.setObjectName("statusCount")
        self.count_label.setToolTip("selected / shown model states")
        self.addPermanentWidget(self.count_label)
        self.state.signals.watch(self.WATCHES, self.refresh)
        self.runner.started.connect(self._job_started)
        self.runner.ended.connect(self._job_ended)
        self.refresh(frozenset(self.WATCHES))

    def refresh(self, changed: frozenset) -> None:
        """The count of selected / shown states."""
        self.count_label.setText(f"{self.state.count_label()} selected" if self.state.n else "")

    def cancel_latest(self) -> None:
        if self.latest_job is not None:
            self.latest_job.cancel()

    def _job_started(self, handle: JobHandle) -> None:
        self.latest_job = handle
        self.job_label.setText(handle.name)
        self.job_bar.setRange(0, 0)
        for widget in (self.job_label, self.job_bar, self.job_cancel):
            widget.show()
        handle.progress.connect(lambda record, h=handle: self._job_progress(h, record))

    def _job_progress(self, handle: JobHandle, record) -> None:
        if handle is self.latest_job and record.total > 0:
            self.job_bar.setRange(0, 1000)
            self.job_bar.setValue(int(1000 * record.fraction))
            self.job_label.setText(f"{handle.name}: {record.message}"[:80])

    def _job_ended(self, handle: JobHandle) -> None:
        running = self.runner.running
        if running:
            self.latest_job = running[-1]
            self.job_label.setText(running[-1].name)
        else:
            for widget in (self.job_label, self.job_bar, self.job_cancel):
                widget.hide()
        if handle.outcome == "cancelled":
            self.showMessage(f"{handle.name}: cancelled", MESSAGE_MS)
