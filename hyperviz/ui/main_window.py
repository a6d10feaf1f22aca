"""The main window: the map in the middle, docks around it, menus, tool bar and status bar.

The window owns the model - the :class:`AppState` (what is shown) and the :class:`OpenWorkspace`
(the open workspace and the results of jobs run on it) - and the :class:`JobRunner` (the only way
work leaves the GUI thread), and hands them to every dock as one :class:`AppContext`. Itself it
lays out the docks, opens workspaces, writes figures and bookmark files, and reports messages and
errors; the Jobs menu's workflows are :class:`JobsMenu`'s, the job status is the status bar's
(:class:`MainStatusBar`), the map, colour and epoch choosers are the tool bar's.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

from hyperviz.model import jobs
from hyperviz.model.selection import SelectionError
from hyperviz.model.state import AppState
from hyperviz.model.workspace import OpenWorkspace, Session
from hyperviz.ui.brush_tables import BrushTables
from hyperviz.ui.context import AppContext
from hyperviz.ui.details_panel import DetailsPanel
from hyperviz.ui.generate_panel import GeneratePanel
from hyperviz.ui.jobs import JobHandle, JobRunner
from hyperviz.ui.jobs_menu import JobsMenu
from hyperviz.ui.jobs_panel import JobsPanel
from hyperviz.ui.map_view import MapView
from hyperviz.ui.menus import build_chrome
from hyperviz.ui.probe_panel import ProbePanel
from hyperviz.ui.property_panel import PropertyPanel
from hyperviz.ui.query_bar import QueryBar
from hyperviz.ui.resources import icon
from hyperviz.ui.selection_panel import SelectionPanel
from hyperviz.ui.settings import Settings
from hyperviz.ui.start_page import CentralArea, StartPage
from hyperviz.ui.status_bar import MainStatusBar
from hyperviz.ui.training_panel import TrainingPanel

log = logging.getLogger(__name__)
STATE_VERSION = 1


def default_size(screen) -> tuple[int, int]:
    """The first window size: 1500x940, or the screen's available area when that is smaller."""
    if screen is None:
        return 1500, 940
    area = screen.availableGeometry()
    return min(1500, area.width()), min(940, area.height())


class MainWindow(QtWidgets.QMainWindow):
    """hyperviz's window. ``loaded`` fires after a workspace is shown; ``load_failed`` with a message."""

    loaded = QtCore.Signal(object)          # Session
    load_failed = QtCore.Signal(str)

    def __init__(self, settings: Settings | None = None, demo_path: Path | None = None) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("hyperviz")
        self.setWindowIcon(icon("hyperviz"))
        self.setDockOptions(QtWidgets.QMainWindow.DockOption.AnimatedDocks
                            | QtWidgets.QMainWindow.DockOption.AllowTabbedDocks)
        self.settings = settings or Settings()
        self.demo_path = demo_path
        self.state = AppState()
        self.workspace = OpenWorkspace(self.state)
        self.runner = JobRunner(self)
        self.context = AppContext(self.state, self.workspace, self.runner, self)
        self.context.message.connect(self.show_message)
        self.context.error.connect(self.show_error)
        self.last_error = ""
        self.interactive_errors = True          # message boxes; off for --smoke and tests
        self.brushes = BrushTables(self.settings.colour_map())

        self.map = MapView(self.state, self.brushes)
        self._make_docks()
        self.setStatusBar(MainStatusBar(self.context, self))
        self.jobs_menu = JobsMenu(self)
        build_chrome(self)
        self.query_bar = QueryBar(self.context, self.map)
        self.start_page = StartPage(self.settings.recent, self.open_workspace,
                                    {"demo": self.act_demo, "open": self.act_open, "build": self.jobs_menu.act_build,
                                     "import": self.jobs_menu.act_import})
        self.setCentralWidget(CentralArea(self.state, self.start_page, self.query_bar, self.map))
        self.state.signals.current.connect(lambda row: row is not None and self.details_dock.raise_())
        self.map.sample_clicked.connect(self._sample_clicked)
        self.training.open_requested.connect(self.open_workspace)
        self._before_presentation: tuple | None = None     # (geometry, dock state, window state) while presenting
        self.resize(*default_size(QtWidgets.QApplication.primaryScreen()))
        self._arrange_docks()
        self._restored = self.settings.restore_window(self, STATE_VERSION) and self.settings.has_window()
        self.set_presentation(self.settings.presentation(), save=False, full_screen=False)

    @property
    def session(self) -> Session | None:
        """The open workspace as loaded (None before one is open)."""
        return self.workspace.session

    # ---- construction ------------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QtWidgets.QWidget, area) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _make_docks(self) -> None:
        left, right = QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, QtCore.Qt.DockWidgetArea.RightDockWidgetArea
        bottom = QtCore.Qt.DockWidgetArea.BottomDockWidgetArea
        context = self.context
        self.properties = PropertyPanel(context)
        self.properties_dock = self._dock("Properties", "propertiesDock", self.properties, left)
        self.selection_panel = SelectionPanel(context, self.map.view_range)
        self.selection_dock = self._dock("Selection", "selectionDock", _vertical_scroll(self.selection_panel), right)
        self.details = DetailsPanel(context)
        self.details_dock = self._dock("Model details", "detailsDock", _vertical_scroll(self.details), right)
        self.generate = GeneratePanel(context)
        self.generate_dock = self._dock("Generate", "generateDock", self.generate, right)
        self.probes = ProbePanel(context)
        self.probe_dock = self._dock("Probes", "probeDock", self.probes, right)
        self.jobs_panel = JobsPanel(context)
        self.jobs_dock = self._dock("Jobs", "jobsDock", self.jobs_panel, bottom)
        self.training = TrainingPanel()
        self.training_dock = self._dock("Training", "trainingDock", self.training, bottom)

    def _arrange_docks(self) -> None:
        """The default layout: properties left; selection over the details/generate/probes tabs right;
        jobs and training at the bottom, hidden until a job starts. Also what View > Reset layout restores."""
        left, right = QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, QtCore.Qt.DockWidgetArea.RightDockWidgetArea
        bottom = QtCore.Qt.DockWidgetArea.BottomDockWidgetArea
        # the side columns run the window's full height: a bottom dock (jobs, the tour) goes under the map only
        self.setCorner(QtCore.Qt.Corner.BottomLeftCorner, left)
        self.setCorner(QtCore.Qt.Corner.BottomRightCorner, right)
        for dock, area in ((self.properties_dock, left), (self.selection_dock, right), (self.details_dock, right),
                           (self.generate_dock, right), (self.probe_dock, right), (self.jobs_dock, bottom),
                           (self.training_dock, bottom)):
            dock.setFloating(False)
            self.addDockWidget(area, dock)
        self.splitDockWidget(self.selection_dock, self.details_dock, QtCore.Qt.Orientation.Vertical)
        self.tabifyDockWidget(self.details_dock, self.generate_dock)
        self.tabifyDockWidget(self.generate_dock, self.probe_dock)
        self.splitDockWidget(self.jobs_dock, self.training_dock, QtCore.Qt.Orientation.Horizontal)
        for dock in (self.properties_dock, self.selection_dock, self.details_dock, self.generate_dock,
                     self.probe_dock):
            dock.show()
        for dock in (self.jobs_dock, self.training_dock):
            dock.hide()                   # shown when a job starts (Jobs menu)
        self.details_dock.raise_()
        self._default_sizes()

    def _default_sizes(self) -> None:
        """Dock sizes that leave the map the most room and the right column enough (1366x768 to 1920x1080)."""
        width, height = max(self.width(), 800), max(self.height(), 600)
        left = int(np.clip(0.16 * width, 220, 290))
        right = int(np.clip(0.29 * width, 415, 480))
        self.resizeDocks([self.properties_dock, self.selection_dock], [left, right], QtCore.Qt.Orientation.Horizontal)
        top = int(np.clip(0.42 * height, 290, 440))
        self.resizeDocks([self.selection_dock, self.details_dock], [top, height - top], QtCore.Qt.Orientation.Vertical)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not getattr(self, "_shown_once", False):
            self._shown_once = True
            if not self._restored:          # the first start: size the docks to the window as shown
                QtCore.QTimer.singleShot(0, self, self._default_sizes)

    def _sample_clicked(self, i: int) -> None:
        """A star was clicked: that sampled model in the Generate tab (not the training state under it)."""
        self.show_dock(self.generate_dock)
        self.generate.show_sample(i)

    def show_dock(self, dock: QtWidgets.QDockWidget) -> None:
        dock.show()
        dock.raise_()
        if dock in (self.jobs_dock, self.training_dock) and not dock.isFloating():
            # the bottom docks open tall enough for a readable loss plot
            QtCore.QTimer.singleShot(0, self, lambda: dock.height() < 240 and self.resizeDocks(
                [dock], [260], QtCore.Qt.Orientation.Vertical))

    # ---- opening workspaces --------------------------------------------------------------------
    def open_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open workspace", self.settings.last_dir(),
                                                        "hyperviz workspace (*.h5);;All files (*)")
        if path:
            self.open_workspace(path)

    def open_demo(self) -> None:
        if self.demo_path is None:
            self.show_error("No demo", "The bundled demo workspace was not found (run `hyperviz demo build`).")
            return
        self.open_workspace(self.demo_path)

    def open_workspace(self, path, keep_selection: bool = False) -> JobHandle:
        """Load a workspace in the background; the map shows it when ``loaded`` fires."""
        path = Path(path)
        self.show_message(f"Opening {path.name}…")
        return self.context.start_job(f"Open {path.name}", lambda _cancel: jobs.load_session_job(path),
                                      on_finished=lambda session: self._session_loaded(session, keep_selection),
                                      on_failed=self._open_failed)

    def _session_loaded(self, session: Session, keep_selection: bool) -> None:
        from core.errors import HyperVizError

        previous = self.workspace.session
        try:
            self.workspace.show(session, keep_selection)
        except (HyperVizError, SelectionError) as exc:
            # what the job could not check (a bookmark that does not fit the table, ...): the
            # message, and the workspace shown before stays shown
            log.warning("showing %s failed", session.path, exc_info=True)
            if previous is not None:
                self.workspace.show(previous, keep_selection=True)
            self._open_failed(str(exc))
            return
        self.setWindowTitle(f"{session.path.name} — hyperviz")
        if self.demo_path is None or Path(session.path).resolve() != Path(self.demo_path).resolve():
            self.settings.add_recent(str(session.path))
        self.settings.set_last_dir(str(session.path.parent))
        self.show_message(f"{session.path.name}: {self.state.n} model states of "
                          f"{len(np.unique(self.state.table['model']))} models, maps: {', '.join(self.state.projections)}")
        self.loaded.emit(session)

    def _open_failed(self, message: str) -> None:
        self.show_error("Could not open the workspace", message)
        if self.session is None:             # nothing else to show: the start page says why
            self.start_page.show_problem(f"Could not open the workspace: {message.splitlines()[0] if message else ''}")
        self.load_failed.emit(message)

    def reload_workspace(self) -> None:
        if self.session is not None:
            self.open_workspace(self.session.path, keep_selection=True)

    # ---- view ------------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        self.map.set_tool(tool)
        self.tool_actions[tool].setChecked(True)

    def set_presentation(self, on: bool, save: bool = True, full_screen: bool = True) -> None:
        """Teaching mode: full screen, larger fonts everywhere, larger markers in the map.

        Leaving it restores the window's geometry and dock layout exactly as they were before.
        """
        on = bool(on)
        entering = on and self._before_presentation is None and full_screen
        leaving = not on and self._before_presentation is not None
        if entering:
            self._before_presentation = (QtCore.QRect(self.geometry()), self.saveState(STATE_VERSION), self.windowState())
        app = QtWidgets.QApplication.instance()
        base = getattr(app, "base_point_size", None)
        if base is None:
            base = app.font().pointSizeF()
            app.base_point_size = base
        font = app.font()
        font.setPointSizeF(base * (1.35 if on else 1.0))
        app.setFont(font)
        self.setProperty("presentation", "true" if on else "false")
        app.setStyleSheet(app.styleSheet())           # re-evaluate the [presentation="true"] rules everywhere
        self.map.set_presentation(on)
        self.act_presentation.setChecked(on)
        if entering:
            self.showFullScreen()
        elif leaving:
            geometry, state, window_state = self._before_presentation
            self._before_presentation = None
            self.setWindowState(window_state)
            if not window_state & (QtCore.Qt.WindowState.WindowMaximized | QtCore.Qt.WindowState.WindowFullScreen):
                self.setGeometry(geometry)     # as it was (restoreGeometry would fit it to the screen)
            self.restoreState(state, STATE_VERSION)
            # the window manager applies the geometry later; the dock sizes are put back once it has
            QtCore.QTimer.singleShot(0, self, lambda: self.restoreState(state, STATE_VERSION))
        if save:
            self.settings.set_presentation(on)

    @property
    def presenting(self) -> bool:
        """In presentation mode's full screen (its layout to return to is kept)."""
        return self._before_presentation is not None

    def toggle_cividis(self, on: bool) -> None:
        name = "cividis" if on else "viridis"
        self.settings.set_colour_map(name)
        self.map.set_colour_map(name)

    # ---- files -----------------------------------------------------------------------------------
    def export_figure_dialog(self) -> None:
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export figure", str(Path(self.settings.last_dir()) / "map.png"),
            "PNG image (*.png);;SVG vector image (*.svg)")
        if not path:
            return
        if not path.lower().endswith((".png", ".svg")):
            path += ".svg" if "SVG" in chosen else ".png"
        self.export_figure(path)

    def export_figure(self, path: str) -> None:
        try:
            self.map.export_figure(path)
        except Exception as exc:
            self.show_error("Export failed", f"{path}: {exc}")
        else:
            self.show_message(f"Figure written to {path}")

    def save_bookmarks_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save bookmarks",
                                                        str(Path(self.settings.last_dir()) / "bookmarks.json"),
                                                        "JSON (*.json)")
        if path:
            try:
                self.state.save_bookmarks(path)
            except OSError as exc:
                self.show_error("Could not save bookmarks", str(exc))
            else:
                self.show_message(f"{len(self.state.bookmarks)} bookmark(s) written to {path}")

    def load_bookmarks_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Load bookmarks", self.settings.last_dir(),
                                                        "JSON (*.json);;All files (*)")
        if path:
            try:
                items = self.state.load_bookmarks(path)
            except SelectionError as exc:
                self.show_error("Could not load bookmarks", str(exc))
            else:
                self.show_message(f"Loaded {len(items)} bookmark(s) from {path}")

    def fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent()
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for path in recent:
            self.recent_menu.addAction(path, lambda p=path: self.open_workspace(p))

    # ---- help ------------------------------------------------------------------------------------
    def show_tour(self) -> None:
        from hyperviz.ui.tour import open_tour

        self.tour = open_tour(self)

    def about(self) -> None:
        QtWidgets.QMessageBox.about(self, "About hyperviz",
                                    "<b>hyperviz</b><br>Explore populations of trained neural networks through "
                                    "hyper-representations of their weights.<br><br>"
                                    "After Schürholt et al., NeurIPS 2021/2022, ICML 2024.")

    # ---- messages ----------------------------------------------------------------------------------
    def show_message(self, text: str, ms: int = 8000) -> None:
        self.statusBar().showMessage(text, ms)

    def show_error(self, title: str, message: str) -> None:
        """Report a problem in the window (status bar, and a non-blocking message box)."""
        self.last_error = message
        log.warning("%s: %s", title, message)
        self.statusBar().showMessage(f"{title}: {message.splitlines()[0] if message else ''}", 15000)
        if self.interactive_errors:
            box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, title, message.splitlines()[0] if message else title,
                                        QtWidgets.QMessageBox.StandardButton.Ok, self)
            if "\n" in message:
                box.setDetailedText(message)
            box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()

    # ---- layout and closing --------------------------------------------------------------------
    def reset_layout(self) -> None:
        """View > Reset layout: the default dock layout now (and at the next start)."""
        if self.presenting:
            self.set_presentation(False)
        self._arrange_docks()
        self.settings.save_window(self, STATE_VERSION)
        self.show_message("The default layout is back")

    def closeEvent(self, event) -> None:
        if self.runner.running and self.interactive_errors:
            answer = QtWidgets.QMessageBox.question(self, "Jobs are running",
                                                    "Cancel the running jobs and quit?")
            if answer != QtWidgets.QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.runner.cancel_all()
        if self.presenting:                  # keep the layout to come back to, not the full screen
            self.set_presentation(False, save=False)
        self.settings.save_window(self, STATE_VERSION)
        super().closeEvent(event)


def _vertical_scroll(panel: QtWidgets.QWidget) -> QtWidgets.QScrollArea:
    """``panel`` in a frameless vertical scroll area: in a short dock it scrolls, nothing overlaps."""
    area = QtWidgets.QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(panel)
    return area
