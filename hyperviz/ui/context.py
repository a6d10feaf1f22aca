"""What every dock is given: one context object instead of loose callables (glue's viewers get the session).

The context holds the state the docks render (:class:`~hyperviz.model.state.AppState`), the open
workspace with the results of the jobs run on it (:class:`~hyperviz.model.workspace.OpenWorkspace`)
and the job runner; it carries what the docks have to tell the user (``message``, ``error``) to
the window, which shows it.
"""
from __future__ import annotations

from PySide6 import QtCore

from hyperviz.model.state import AppState
from hyperviz.model.workspace import OpenWorkspace
from hyperviz.ui.jobs import JobFactory, JobHandle, JobRunner


class AppContext(QtCore.QObject):
    """The state, the open workspace and the job runner that the docks share."""

    message = QtCore.Signal(str)            # a line for the status bar
    error = QtCore.Signal(str, str)         # (title, message): a problem to report

    def __init__(self, state: AppState, workspace: OpenWorkspace, runner: JobRunner,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.workspace = workspace
        self.runner = runner

    def start_job(self, name: str, factory: JobFactory, **slots) -> JobHandle:
        """Run a core job in the background (:meth:`JobRunner.start`); a failure is reported as an
        ``error`` unless the caller handles it (``on_failed``)."""
        on_failed = slots.pop("on_failed", None)

        def failed(message: str) -> None:
            if on_failed is not None:
                on_failed(message)
            else:
                self.error.emit(f"{name} failed", message)

        return self.runner.start(name, factory, on_failed=failed, **slots)

    def show_message(self, text: str) -> None:
        self.message.emit(text)
