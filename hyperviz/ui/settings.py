"""Preferences, recent files and the dock layout, persisted with QSettings."""
from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

MAX_RECENT = 10


class Settings:
    """A thin, typed wrapper over ``QSettings("hyperviz", "hyperviz")`` (or any given QSettings)."""

    def __init__(self, qsettings: QtCore.QSettings | None = None) -> None:
        self.q = qsettings or QtCore.QSettings("hyperviz", "hyperviz")

    # ---- preferences -------------------------------------------------------------------------
    def presentation(self) -> bool:
        return str(self.q.value("prefs/presentation", "false")).lower() == "true"

    def set_presentation(self, on: bool) -> None:
        self.q.setValue("prefs/presentation", "true" if on else "false")

    def colour_map(self) -> str:
        value = str(self.q.value("prefs/colour_map", "viridis"))
        return value if value in ("viridis", "cividis") else "viridis"

    def set_colour_map(self, name: str) -> None:
        self.q.setValue("prefs/colour_map", name)

    def last_dir(self) -> str:
        return str(self.q.value("paths/last_dir", str(Path.home())))

    def set_last_dir(self, path: str) -> None:
        self.q.setValue("paths/last_dir", path)

    def work_dir(self) -> str:
        """Where new zoos and workspaces go by default."""
        return str(self.q.value("paths/work_dir", str(Path.home() / "hyperviz")))

    # ---- recent files ------------------------------------------------------------------------
    def recent(self) -> list[str]:
        value = self.q.value("recent/files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v]

    def add_recent(self, path: str) -> None:
        items = [path] + [p for p in self.recent() if p != path]
        self.q.setValue("recent/files", items[:MAX_RECENT])

    # ---- window layout -----------------------------------------------------------------------
    def save_window(self, window: QtWidgets.QMainWindow, version: int) -> None:
        self.q.setValue("window/geometry", window.saveGeometry())
        self.q.setValue("window/state", window.saveState(version))
        self.q.sync()

    def restore_window(self, window: QtWidgets.QMainWindow, version: int) -> bool:
        geometry, state = self.q.value("window/geometry"), self.q.value("window/state")
        ok = True
        if geometry is not None:
            ok &= bool(window.restoreGeometry(geometry))
        if state is not None:
            ok &= bool(window.restoreState(state, version))
        return ok

    def has_window(self) -> bool:
        """True when a dock layout was saved."""
        return self.q.value("window/state") is not None

    def clear_window(self) -> None:
        self.q.remove("window")
