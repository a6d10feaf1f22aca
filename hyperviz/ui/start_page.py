"""The start page: what the window shows where the map goes while no workspace is open - at the
first start without the demo, and after an open failed - with the ways to get a map: the recent
workspaces, the demo, Open, and Build or Import a zoo.

:class:`CentralArea` is the window's central widget: the start page while the state holds no
table, else the map with its query bar above it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from hyperviz.model.state import AppState

#: The buttons of the start page: (key into the actions given, text, what it does).
BUTTONS = (("demo", "Open the demo", "128 small CNNs on digits, their autoencoder, maps and samples"),
           ("open", "Open workspace…", "a workspace (.h5) made by hyperviz fit"),
           ("build", "Build a zoo…", "train a population of small networks (a few minutes)"),
           ("import", "Import a zoo…", "the public Model Zoos layout, or a folder of checkpoints"))


class StartPage(QtWidgets.QWidget):
    """``recent()`` lists the recent workspaces, ``open_path(path)`` opens one; ``actions`` holds the
    QActions behind the buttons (``demo``, ``open``, ``build``, ``import``; a missing one has no button)."""

    def __init__(self, recent: Callable[[], list[str]], open_path: Callable[[str], object],
                 actions: Mapping[str, QtGui.QAction], parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("startPage")
        self._recent, self._open_path = recent, open_path
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(24, 24, 24, 24)
        column = QtWidgets.QWidget()
        column.setMaximumWidth(620)
        layout = QtWidgets.QVBoxLayout(column)
        layout.setSpacing(8)
        title = QtWidgets.QLabel("hyperviz")
        title.setObjectName("startTitle")
        layout.addWidget(title)
        intro = QtWidgets.QLabel("Explore populations of trained networks through hyper-representations of "
                                 "their weights. Open a workspace to see its map.")
        intro.setWordWrap(True)
        intro.setObjectName("hint")
        layout.addWidget(intro)
        self.problem = QtWidgets.QLabel()
        self.problem.setObjectName("startProblem")
        self.problem.setWordWrap(True)
        self.problem.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.problem.hide()
        layout.addWidget(self.problem)

        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        grid = QtWidgets.QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(6)
        for i, (key, text, tip) in enumerate(b for b in BUTTONS if b[0] in actions):
            button = QtWidgets.QPushButton(text)
            button.setObjectName("primaryButton" if key == "demo" else "")
            button.setMinimumWidth(170)
            button.clicked.connect(actions[key].trigger)
            caption = QtWidgets.QLabel(tip)
            caption.setObjectName("hint")
            caption.setWordWrap(True)
            grid.addWidget(button, i, 0)
            grid.addWidget(caption, i, 1)
            self.buttons[key] = button
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)

        heading = QtWidgets.QLabel("Recent workspaces")
        heading.setObjectName("sectionTitle")
        layout.addWidget(heading)
        self.recent_list = QtWidgets.QListWidget()
        self.recent_list.setObjectName("recentList")
        self.recent_list.setToolTip("Click to open")
        self.recent_list.itemClicked.connect(self._open_item)
        self.recent_list.itemActivated.connect(self._open_item)
        layout.addWidget(self.recent_list, 1)
        outer.addWidget(column, 1, QtCore.Qt.AlignmentFlag.AlignHCenter)
        self.fill_recent()

    def fill_recent(self) -> None:
        """List the recent workspaces, newest first; one that is gone is listed greyed and cannot be opened."""
        self.recent_list.clear()
        paths = self._recent()
        if not paths:
            item = QtWidgets.QListWidgetItem("(none yet: workspaces you open appear here)")
            item.setFlags(QtCore.Qt.ItemFlag.NoItemFlags)
            self.recent_list.addItem(item)
        for path in paths:
            exists = Path(path).is_file()
            item = QtWidgets.QListWidgetItem(f"{Path(path).name}    {Path(path).parent}" + ("" if exists else "  (missing)"))
            item.setData(QtCore.Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            if not exists:
                item.setFlags(QtCore.Qt.ItemFlag.NoItemFlags)
            self.recent_list.addItem(item)

    def show_problem(self, message: str) -> None:
        """Say what went wrong, e.g. why the last open failed (its first line; ``""`` hides it)."""
        line = message.splitlines()[0] if message else ""
        self.problem.setText(line)
        self.problem.setVisible(bool(line))

    def showEvent(self, event) -> None:
        self.fill_recent()
        super().showEvent(event)

    def _open_item(self, item: QtWidgets.QListWidgetItem) -> None:
        path = item.data(QtCore.Qt.ItemDataRole.UserRole)
        if path:
            self._open_path(path)


class CentralArea(QtWidgets.QStackedWidget):
    """The start page while no table is shown, else ``bar`` above ``map_view``."""

    def __init__(self, state: AppState, start_page: StartPage, bar: QtWidgets.QWidget, map_view: QtWidgets.QWidget,
                 parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.start_page = start_page
        self.map_page = QtWidgets.QWidget()
        self.map_page.setObjectName("mapPage")
        layout = QtWidgets.QVBoxLayout(self.map_page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(bar)
        layout.addWidget(map_view, 1)
        self.addWidget(start_page)
        self.addWidget(self.map_page)
        state.signals.watch(("table",), self._follow)
        self._follow(frozenset(("table",)))

    def _follow(self, _changed: frozenset) -> None:
        showing = self.state.n > 0
        self.setCurrentWidget(self.map_page if showing else self.start_page)
        if showing:
            self.start_page.show_problem("")
