"""The main window: the map in the middle, docks around it, menus, tool bar and status bar.

The window owns the :class:`AppState` (what is shown), the :class:`JobRunner` (the only way work
leaves the GUI thread) and the :class:`Session` (the open workspace). Views get the state in their
constructor and subscribe to it; the window wires menus and the tool bar to state methods.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

from hyperviz.model import jobs
from hyperviz.model.selection import Everything, SelectionError
from hyperviz.model.state import AppState
from hyperviz.model.workspace import Session, sample_table
from hyperviz.ui import job_dialogs
from hyperviz.ui.brush_tables import BrushTables
from hyperviz.ui.details_dock import DetailsPanel, DetailsScroll
from hyperviz.ui.generate_dock import GeneratePanel
from hyperviz.ui.jobs import JobHandle, JobRunner
from hyperviz.ui.jobs_panel import JobsPanel, TrainingPanel
from hyperviz.ui.map_view import MapView
from hyperviz.ui.menus import build_chrome
from hyperviz.ui.probe_dock import ProbePanel
from hyperviz.ui.property_panel import PropertyPanel
from hyperviz.ui.resources import icon
from hyperviz.ui.selection_panel import SelectionPanel
from hyperviz.ui.settings import Settings

log = logging.getLogger(__name__)
STATE_VERSION = 1


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
        self.runner = JobRunner(self)
        self.session: Session | None = None
        self.last_error = ""
        self.interactive_errors = True          # message boxes; off for --smoke and tests
        self.brushes = BrushTables(self.settings.colour_map())

        self.map = MapView(self.state, self.brushes)
        self.setCentralWidget(self.map)
        self._make_docks()
        build_chrome(self)

        signals = self.state.signals
        signals.table.connect(self._on_table)
        signals.selection.connect(self._on_selection)
        signals.filters.connect(self._on_filters)
        signals.colour.connect(self._on_colour)
        signals.projection.connect(self._on_projection)
        signals.current.connect(lambda row: row is not None and self.details_dock.raise_())
        self.runner.started.connect(self._job_started)
        self.runner.ended.connect(self._job_ended)
        self._on_table()
        self.resize(1500, 940)
        self.settings.restore_window(self, STATE_VERSION)
        self.set_presentation(self.settings.presentation(), save=False)

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
        self.properties = PropertyPanel(self.state)
        self.properties_dock = self._dock("Properties", "propertiesDock", self.properties, left)
        self.selection_panel = SelectionPanel(self.state, self.map.view_range)
        self.selection_panel.message.connect(self.show_message)
        self.selection_dock = self._dock("Selection", "selectionDock", self.selection_panel, right)
        self.details = DetailsPanel(self.state, lambda: self.session.zoo if self.session else None)
        self.details_dock = self._dock("Model details", "detailsDock", DetailsScroll(self.details), right)
        self.generate = GeneratePanel(self.state, self.start_job, lambda: self.session, self._samples_stored)
        self.generate.message.connect(self.show_message)
        self.generate_dock = self._dock("Generate", "generateDock", self.generate, right)
        self.tabifyDockWidget(self.details_dock, self.generate_dock)
        self.details_dock.raise_()
        self.probes = ProbePanel(self.start_job, lambda: self.session, self.state)
        self.probe_dock = self._dock("Probes", "probeDock", self.probes, right)
        self.tabifyDockWidget(self.generate_dock, self.probe_dock)
        self.details_dock.raise_()
        self.jobs_panel = JobsPanel(self.runner)
        self.jobs_dock = self._dock("Jobs", "jobsDock", self.jobs_panel, bottom)
        self.training = TrainingPanel()
        self.training_dock = self._dock("Training", "trainingDock", self.training, bottom)
        self.splitDockWidget(self.jobs_dock, self.training_dock, QtCore.Qt.Orientation.Horizontal)
        for dock in (self.jobs_dock, self.training_dock):
            dock.hide()                   # shown when a job starts (Jobs menu)
        self.resizeDocks([self.properties_dock, self.selection_dock], [270, 400], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([self.selection_dock, self.details_dock], [360, 560], QtCore.Qt.Orientation.Vertical)

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
        return self.start_job(f"Open {path.name}", lambda _cancel: jobs.load_session_job(path),
                              on_finished=lambda session: self._session_loaded(session, keep_selection),
                              on_failed=self._open_failed)

    def _session_loaded(self, session: Session, keep_selection: bool) -> None:
        self.session = session
        self.state.set_table(session.table, source=str(session.path), bookmarks=session.ws.bookmarks,
                             keep_selection=keep_selection)
        self.state.set_samples(sample_table(session.ws, self.state.projections))
        self.setWindowTitle(f"{session.path.name} — hyperviz")
        if self.demo_path is None or Path(session.path).resolve() != Path(self.demo_path).resolve():
            self.settings.add_recent(str(session.path))
        self.settings.set_last_dir(str(session.path.parent))
        self.probes.clear()
        self.show_message(f"{session.path.name}: {self.state.n} model states of "
                          f"{len(np.unique(self.state.table['model']))} models, maps: {', '.join(self.state.projections)}")
        self.loaded.emit(session)

    def _open_failed(self, message: str) -> None:
        self.show_error("Could not open the workspace", message)
        self.load_failed.emit(message)

    def reload_workspace(self) -> None:
        if self.session is not None:
            self.open_workspace(self.session.path, keep_selection=True)

    def _samples_stored(self, samples: dict) -> None:
        if self.session is None:
            return
        self.session.ws.samples = samples
        self.state.set_samples(sample_table(self.session.ws, self.state.projections))

    # ---- state -> widgets ------------------------------------------------------------------------
    def _on_table(self) -> None:
        has = self.state.n > 0
        for action in (self.act_export, self.act_bookmark, self.act_all, self.act_invert, self.act_umap, self.act_pca,
                       self.act_probe, self.act_save_bm, *self.tool_actions.values()):
            action.setEnabled(has)
        self.projection_combo.clear()
        for method in self.state.projections:
            self.projection_combo.addItem(method.upper(), method)
        self.projection_combo.setCurrentIndex(max(0, self.state.projections.index(self.state.projection))
                                              if self.state.projection in self.state.projections else 0)
        self.colour_combo.clear()
        for column in self.state.colourable():
            self.colour_combo.addItem(column, column)
        self._on_colour(self.state.colour_by)
        if has and "epoch" in self.state.table:
            epochs = self.state.table["epoch"]
            self.epoch_slider.set_bounds(int(np.nanmin(epochs)), int(np.nanmax(epochs)))
            self.epoch_slider.setEnabled(True)
        else:
            self.epoch_slider.setEnabled(False)
        self._on_filters()
        self._on_selection()

    def _on_selection(self) -> None:
        self.act_undo.setEnabled(self.state.history.can_undo)
        self.act_redo.setEnabled(self.state.history.can_redo)
        self.act_clear.setEnabled(self.state.has_selection)
        self.count_label.setText(f"{self.state.count_label()} selected" if self.state.n else "")

    def _on_filters(self) -> None:
        lo, hi = self.state.filters.get("epoch", (None, None))
        low, high = self.epoch_slider.bounds()
        self.epoch_slider.set_range(low if lo is None else int(np.ceil(lo)), high if hi is None else int(np.floor(hi)))
        a, b = self.epoch_slider.range()
        self.epoch_label.setText("all" if (a, b) == (low, high) else (f"{a}" if a == b else f"{a}–{b}"))
        self._on_selection()

    def _on_colour(self, column) -> None:
        index = self.colour_combo.findData(column)
        if index >= 0:
            self.colour_combo.setCurrentIndex(index)

    def _on_projection(self, method) -> None:
        index = self.projection_combo.findData(method)
        if index >= 0:
            self.projection_combo.setCurrentIndex(index)

    # ---- widgets -> state ------------------------------------------------------------------------
    def _projection_chosen(self) -> None:
        method = self.projection_combo.currentData()
        if method:
            self.state.set_projection(method)

    def _colour_chosen(self) -> None:
        column = self.colour_combo.currentData()
        if column:
            self.state.set_colour_by(column)

    def _epochs_chosen(self, lo: int, hi: int) -> None:
        low, high = self.epoch_slider.bounds()
        self.state.set_filter("epoch", None if lo <= low else lo, None if hi >= high else hi)

    def set_tool(self, tool: str) -> None:
        self.map.set_tool(tool)
        self.tool_actions[tool].setChecked(True)

    def _invert(self) -> None:
        self.state.select(Everything(), "xor")

    def set_presentation(self, on: bool, save: bool = True) -> None:
        """Teaching mode: larger fonts everywhere, larger markers in the map."""
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
        if save:
            self.settings.set_presentation(on)

    def _toggle_cividis(self, on: bool) -> None:
        name = "cividis" if on else "viridis"
        self.settings.set_colour_map(name)
        self.map.set_colour_map(name)

    # ---- jobs ----------------------------------------------------------------------------------
    def start_job(self, name: str, factory, **slots) -> JobHandle:
        """Run a core job in the background (see :mod:`hyperviz.ui.jobs`); failures become messages."""
        on_failed = slots.pop("on_failed", None)

        def failed(message: str) -> None:
            if on_failed is not None:
                on_failed(message)
            else:
                self.show_error(f"{name} failed", message)

        return self.runner.start(name, factory, on_failed=failed, **slots)

    def _job_started(self, handle: JobHandle) -> None:
        self._latest_job = handle
        self.job_label.setText(handle.name)
        self.job_bar.setRange(0, 0)
        for widget in (self.job_label, self.job_bar, self.job_cancel):
            widget.show()
        handle.progress.connect(lambda record, h=handle: self._job_progress(h, record))

    def _job_progress(self, handle: JobHandle, record) -> None:
        if handle is getattr(self, "_latest_job", None) and record.total > 0:
            self.job_bar.setRange(0, 1000)
            self.job_bar.setValue(int(1000 * record.fraction))
            self.job_label.setText(f"{handle.name}: {record.message}"[:80])

    def _job_ended(self, handle: JobHandle) -> None:
        running = self.runner.running
        if running:
            self._latest_job = running[-1]
            self.job_label.setText(running[-1].name)
        else:
            for widget in (self.job_label, self.job_bar, self.job_cancel):
                widget.hide()
        if handle.outcome == "cancelled":
            self.show_message(f"{handle.name}: cancelled")

    def _cancel_latest(self) -> None:
        handle = getattr(self, "_latest_job", None)
        if handle is not None:
            handle.cancel()

    def show_dock(self, dock: QtWidgets.QDockWidget) -> None:
        dock.show()
        dock.raise_()

    def build_zoo_dialog(self) -> None:
        dialog = job_dialogs.BuildZooDialog(self.settings.work_dir(), self)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        v = dialog.values()
        self.show_dock(self.jobs_dock)
        self.start_job(f"Build zoo ({v['models']} models)",
                       lambda _c: jobs.build_zoo_job(v["models"], v["epochs"], v["arch"], v["seed"], v["out"]),
                       on_finished=lambda path: self._zoo_ready(path), uses_torch=True)

    def import_zoo_dialog(self) -> None:
        dialog = job_dialogs.ImportZooDialog(self.settings.work_dir(), self)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        v = dialog.values()
        self.show_dock(self.jobs_dock)
        self.start_job("Import zoo", lambda _c: jobs.import_zoo_job(v["src"], v["out"]),
                       on_finished=lambda path: self._zoo_ready(path), uses_torch=True)

    def _zoo_ready(self, path) -> None:
        self.show_message(f"Zoo written to {path}. Next: Jobs › Train autoencoder.")
        self._last_zoo = str(path)

    def train_dialog(self) -> None:
        zoo = getattr(self, "_last_zoo", "") or (str(self.session.ws.zoo_path) if self.session else "")
        dialog = job_dialogs.TrainDialog(zoo, self.settings.work_dir(), self)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        v = dialog.values()
        self.training.start(f"Training an autoencoder ({v['preset']}, {v['epochs']} epochs) on {Path(v['zoo']).name}")
        self.show_dock(self.training_dock)
        self.start_job("Train autoencoder",
                       lambda _c: jobs.train_workspace_job(v["zoo"], v["out"], v["preset"], v["epochs"]),
                       on_progress=self.training.add, on_finished=lambda path: self.open_workspace(path),
                       uses_torch=True)

    def umap_dialog(self) -> None:
        dialog = job_dialogs.UmapDialog(self)
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            self.compute_projection("umap", **dialog.values())

    def compute_projection(self, method: str, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0) -> JobHandle | None:
        """Compute and store a map of the open workspace, then show it (the selection is kept)."""
        if self.session is None:
            return None
        path = str(self.session.path)
        self.show_dock(self.jobs_dock)
        return self.start_job(f"{method.upper()} map",
                              lambda cancel: jobs.project_job(path, method, n_neighbors, min_dist, seed, cancel),
                              on_finished=lambda _p: self.reload_workspace())

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

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent()
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for path in recent:
            self.recent_menu.addAction(path, lambda p=path: self.open_workspace(p))

    # ---- help ------------------------------------------------------------------------------------
    def show_tour(self) -> None:
        from hyperviz.ui.tour import QuickTour, tour_actions

        self.tour = QuickTour(tour_actions(self), self)
        self.tour.show()

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
        self.settings.clear_window()
        self.show_message("The default layout returns at the next start")

    def closeEvent(self, event) -> None:
        if self.runner.running and self.interactive_errors:
            answer = QtWidgets.QMessageBox.question(self, "Jobs are running",
                                                    "Cancel the running jobs and quit?")
            if answer != QtWidgets.QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.runner.cancel_all()
        self.settings.save_window(self, STATE_VERSION)
        super().closeEvent(event)
