"""The Jobs menu: its actions and the workflow behind each - a settings dialog, a background job, what follows.

Build zoo and Import zoo remember the zoo they wrote, for Train autoencoder to offer; Train opens
the workspace it made; a new map reloads the open workspace and keeps the selection. The jobs are
:mod:`hyperviz.model.jobs`, the dialogs :mod:`hyperviz.ui.job_dialogs`; the window lends its Jobs
and Training docks and its way of opening workspaces. (napari keeps a menu's actions beside their
callbacks the same way, in ``_qt/_qapp_model/qactions``.)
"""
from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from hyperviz.model import jobs
from hyperviz.ui import job_dialogs
from hyperviz.ui.jobs import JobHandle
from hyperviz.ui.menus import action

ACCEPTED = QtWidgets.QDialog.DialogCode.Accepted


class JobsMenu:
    """The Jobs menu of ``window`` (a :class:`~hyperviz.ui.main_window.MainWindow`)."""

    def __init__(self, window) -> None:
        self.window = window
        self.context = window.context
        self.last_zoo = ""                    # the zoo built or imported last, offered for training
        self.act_build = action(window, "&Build zoo…", self.build_zoo_dialog)
        self.act_import = action(window, "&Import zoo…", self.import_zoo_dialog)
        self.act_train = action(window, "&Train autoencoder…", self.train_dialog)
        self.act_umap = action(window, "Compute &UMAP map…", self.umap_dialog)
        self.act_pca = action(window, "Compute &PCA map", lambda: self.compute_projection("pca"))
        self.act_probe = action(window, "Compute &probes", window.probes.compute)
        #: the actions that need an open workspace
        self.workspace_actions = (self.act_umap, self.act_pca, self.act_probe)

    def fill(self, menu: QtWidgets.QMenu) -> None:
        menu.addActions([self.act_build, self.act_import, self.act_train])
        menu.addSeparator()
        menu.addActions([self.act_umap, self.act_pca, self.act_probe])

    # ---- zoos ------------------------------------------------------------------------------------
    def build_zoo_dialog(self) -> None:
        dialog = job_dialogs.BuildZooDialog(self.window.settings.work_dir(), self.window)
        if dialog.exec() != ACCEPTED:
            return
        v = dialog.values()
        self.window.show_dock(self.window.jobs_dock)
        self.context.start_job(f"Build zoo ({v['models']} models)",
                               lambda _c: jobs.build_zoo_job(v["models"], v["epochs"], v["arch"], v["seed"], v["out"]),
                               on_finished=self._zoo_ready, uses_torch=True)

    def import_zoo_dialog(self) -> None:
        settings = self.window.settings
        dialog = job_dialogs.ImportZooDialog(settings.work_dir(), self.window, source=settings.last_dir())
        if dialog.exec() != ACCEPTED:
            return
        v = dialog.values()
        self.window.show_dock(self.window.jobs_dock)
        self.context.start_job("Import zoo", lambda _c: jobs.import_zoo_job(v["src"], v["out"], v["arch_spec"]),
                               on_finished=self._zoo_ready, uses_torch=True)

    def _zoo_ready(self, path) -> None:
        self.context.show_message(f"Zoo written to {path}. Next: Jobs › Train autoencoder.")
        self.last_zoo = str(path)

    # ---- hyper-representations and maps ----------------------------------------------------------
    def train_dialog(self) -> None:
        ws = self.context.workspace.ws
        zoo = self.last_zoo or (str(ws.zoo_path) if ws is not None else "")
        dialog = job_dialogs.TrainDialog(zoo, self.window.settings.work_dir(), self.window)
        if dialog.exec() != ACCEPTED:
            return
        v = dialog.values()
        window = self.window
        window.training.start(f"Training an autoencoder ({v['preset']}, {v['epochs']} epochs) on {Path(v['zoo']).name}")
        window.show_dock(window.training_dock)
        self.context.start_job("Train autoencoder",
                               lambda _c: jobs.train_workspace_job(v["zoo"], v["out"], v["preset"], v["epochs"]),
                               on_progress=window.training.add, on_finished=self.fit_finished, uses_torch=True)

    def fit_finished(self, path) -> None:
        """A finished fit: open its workspace - at once when nothing is shown, else only if the user says so
        (what is shown, the selection included, would be replaced). Declined, the Training dock keeps offering it."""
        window, state = self.window, self.context.state
        window.training.finished(path)
        if window.session is None:
            window.open_workspace(path)
            return
        name = Path(path).name
        lost = (f" Your selection ({state.count_label()} states: {state.describe_selection()}) and the view "
                "will be replaced; bookmark them first to keep them.") if state.has_selection else \
            " The map shown now will be replaced."
        box = QtWidgets.QMessageBox
        answer = box.question(window, "Open the new workspace?",
                              f"The autoencoder is trained: {name} is ready.{lost}\n\nOpen {name} now?",
                              box.StandardButton.Open | box.StandardButton.Cancel, box.StandardButton.Cancel)
        if answer == box.StandardButton.Open:
            window.open_workspace(path)
        else:
            self.context.show_message(f"{name} is ready: open it from the Training dock or File › Open.")

    def umap_dialog(self) -> None:
        session = self.context.workspace.session
        dialog = job_dialogs.UmapDialog(self.window, jobs.suggested_neighbors(session.ws.states) if session else 15)
        if dialog.exec() == ACCEPTED:
            self.compute_projection("umap", **dialog.values())

    def compute_projection(self, method: str, n_neighbors: int = 15, min_dist: float = 0.1,
                           seed: int = 0) -> JobHandle | None:
        """Compute and store a map of the open workspace, then show it (the selection is kept)."""
        session = self.context.workspace.session
        if session is None:
            return None
        path = str(session.path)
        self.window.show_dock(self.window.jobs_dock)
        return self.context.start_job(f"{method.upper()} map",
                                      lambda cancel: jobs.project_job(path, method, n_neighbors, min_dist, seed, cancel),
                                      on_finished=lambda _p: self.window.reload_workspace())
