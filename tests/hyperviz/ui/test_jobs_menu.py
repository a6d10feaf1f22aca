"""The Jobs menu with its dialogs, as the window drives them: Build zoo, Import zoo and Train autoencoder.

Each dialog's ``exec`` is replaced by a function that fills in the form and answers Start or
Cancel, so no test ever waits on a modal dialog; message boxes are recorded, never shown. The
jobs themselves run for real, kept tiny (a few models, one epoch).
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6 import QtWidgets

from hyperviz.ui import job_dialogs
from tests.modelzoos_layout import INDICES_PLAIN, mz_params, mz_state, result_line, write_model

ACCEPTED, REJECTED = QtWidgets.QDialog.DialogCode.Accepted, QtWidgets.QDialog.DialogCode.Rejected
JOB_TIMEOUT_MS = 180_000          # generous: the CI machine may be busy; the jobs take seconds


@pytest.fixture(autouse=True)
def work_dir(settings, tmp_path):
    """The window's default folder for new zoos and workspaces (never ~/hyperviz in a test)."""
    folder = tmp_path / "work"
    settings.q.setValue("paths/work_dir", str(folder))
    return folder


@pytest.fixture(autouse=True)
def message_boxes(monkeypatch):
    """Every message box the window opens, as (title, text): recorded instead of shown (never modal)."""
    shown = []
    box = QtWidgets.QMessageBox

    def record(title, text):
        shown.append((title, text))
        return box.StandardButton.Ok

    monkeypatch.setattr(box, "open", lambda self: record(self.windowTitle(), self.text()))
    monkeypatch.setattr(box, "exec", lambda self: record(self.windowTitle(), self.text()))
    for name in ("warning", "critical", "information", "question"):
        monkeypatch.setattr(box, name, staticmethod(lambda _parent, title, text, *a, **k: record(title, text)))
    return shown


def answer_dialog(monkeypatch, dialog_class, accept: bool, **fields) -> dict:
    """Make ``dialog_class.exec`` fill in ``fields`` and press Start (``accept``) or Cancel.

    Returns the form's values as the window filled them in, before the test changed them.
    """
    defaults: dict = {}

    def exec_(dialog):
        defaults.update(dialog.values())
        for name, value in fields.items():
            widget = getattr(dialog, name)
            if isinstance(widget, QtWidgets.QSpinBox):
                widget.setValue(value)
            elif isinstance(widget, QtWidgets.QComboBox):
                assert widget.findText(value) >= 0, (name, value)
                widget.setCurrentText(value)
            else:                                          # a path row: line edit + Browse…
                widget.edit.setText(str(value))
        return ACCEPTED if accept else REJECTED

    monkeypatch.setattr(dialog_class, "exec", exec_)
    return defaults


def started_jobs(window) -> list:
    """The handles of the jobs the window starts from now on."""
    handles: list = []
    window.runner.started.connect(lambda handle: handles.append(handle))
    return handles


def run_one_job(qtbot, window, open_dialog):
    """Open a dialog through the window; exactly one job starts; return its handle once it ended."""
    handles = started_jobs(window)
    open_dialog()
    assert len(handles) == 1, [h.name for h in handles]
    handle = handles[0]
    qtbot.waitUntil(lambda: handle.outcome is not None, timeout=JOB_TIMEOUT_MS)
    return handle


def write_modelzoos_folder(root, n_models: int, n_checkpoints: int = 2):
    """A Model Zoos / Ray Tune folder (tests/modelzoos_layout.py)."""
    gen = torch.Generator().manual_seed(0)
    for m in range(n_models):
        checkpoints = {f"checkpoint_{e}": mz_state(gen, INDICES_PLAIN) for e in range(n_checkpoints)}
        results = [result_line(t + 1, 0.1 * (t + 1), 0.1 * t + 0.05) for t in range(n_checkpoints)]
        write_model(root, f"trial_{m}_seed={m}", mz_params("tanh", 0.0, m), checkpoints, results)
    return root


@pytest.fixture
def tiny_zoo(tmp_path):
    """A 4-model, 1-epoch digits zoo (4 models: the fewest that split into train/val/test)."""
    from core.progress import drive
    from core.zoo.population import build_zoo_job
    from core.zoo.spec import ZooSpec

    return drive(build_zoo_job(ZooSpec(n_models=4, epochs=1, chunk_size=4), tmp_path / "tiny-zoo.h5", "cpu"))


# ---- Build zoo -----------------------------------------------------------------------------------
def test_build_zoo_writes_the_zoo_and_the_train_dialog_offers_it(blank_window, qtbot, monkeypatch, tmp_path, work_dir):
    from core.zoo.store import read_zoo

    window, out = blank_window, tmp_path / "zoo.h5"
    defaults = answer_dialog(monkeypatch, job_dialogs.BuildZooDialog, True,
                             models=2, epochs=1, arch="cnn", seed=0, out=out)
    handle = run_one_job(qtbot, window, window.jobs_menu.build_zoo_dialog)

    assert defaults["out"] == str(work_dir / "zoo.h5")             # the dialog starts in the work folder
    assert handle.name == "Build zoo (2 models)"
    assert handle.outcome == "finished", handle.message
    assert window.jobs_dock.isVisible()
    assert out.is_file() and not out.with_name("zoo.h5.partial").exists()
    zoo = read_zoo(out)
    assert (zoo.n_models, zoo.n_checkpoints) == (2, 2) and zoo.epochs.tolist() == [0, 1]
    assert zoo.arch.name == "cnn" and zoo.present.all() and np.isfinite(zoo.weights).all()
    assert zoo.source["zoo_spec"]["seed"] == 0 and zoo.source["zoo_spec"]["n_models"] == 2
    assert f"Zoo written to {out}" in window.statusBar().currentMessage()
    assert window.last_error == ""

    # the window remembers the zoo: the next Train dialog offers it (Cancel there starts nothing)
    train_defaults = answer_dialog(monkeypatch, job_dialogs.TrainDialog, False)
    handles = started_jobs(window)
    window.jobs_menu.train_dialog()
    assert train_defaults["zoo"] == str(out)
    assert train_defaults["out"] == str(work_dir / "workspace.h5")
    assert handles == [] and window.runner.running == []


# ---- Cancel --------------------------------------------------------------------------------------
@pytest.mark.parametrize("opener, dialog_class, fields", [
    ("build_zoo_dialog", job_dialogs.BuildZooDialog, dict(models=2, epochs=1)),
    ("import_zoo_dialog", job_dialogs.ImportZooDialog, dict(src=".")),
    ("train_dialog", job_dialogs.TrainDialog, dict(zoo="zoo.h5", preset="tiny", epochs=1)),
], ids=["build", "import", "train"])
def test_cancel_in_the_dialog_starts_nothing(blank_window, monkeypatch, tmp_path, work_dir, opener, dialog_class, fields):
    window, out = blank_window, tmp_path / "never.h5"
    answer_dialog(monkeypatch, dialog_class, False, out=out, **fields)
    handles = started_jobs(window)
    getattr(window.jobs_menu, opener)()
    assert handles == [] and window.runner.running == []
    assert not window.jobs_dock.isVisible() and not window.training_dock.isVisible()
    assert not out.exists() and not work_dir.exists()
    assert list(tmp_path.rglob("*.h5*")) == []
    assert window.session is None and window.last_error == ""


# ---- Import zoo ----------------------------------------------------------------------------------
def test_import_a_model_zoos_folder(blank_window, qtbot, monkeypatch, tmp_path, work_dir):
    from core.zoo.store import read_zoo

    window = blank_window
    src = write_modelzoos_folder(tmp_path / "tune_zoo", n_models=3)
    out = tmp_path / "imported.h5"
    defaults = answer_dialog(monkeypatch, job_dialogs.ImportZooDialog, True, src=src, out=out)
    handle = run_one_job(qtbot, window, window.jobs_menu.import_zoo_dialog)

    # the work folder does not exist yet: the source starts in a folder that does (issue 11, item 14)
    assert Path(defaults["src"]).is_dir() and defaults["src"] != str(work_dir)
    assert defaults["out"] == str(work_dir / "imported-zoo.h5") and defaults["arch_spec"] is None
    assert handle.outcome == "finished", handle.message
    zoo = read_zoo(out)
    assert (zoo.n_models, zoo.n_checkpoints) == (3, 2) and zoo.arch.name == "modelzoo_cnn"
    assert zoo.models["model_id"].tolist() == [f"trial_{m}_seed={m}" for m in range(3)]
    assert zoo.source == {"imported_from": str(src), "format": "modelzoos"}
    assert f"Zoo written to {out}" in window.statusBar().currentMessage()
    assert window.last_error == ""
    offered = answer_dialog(monkeypatch, job_dialogs.TrainDialog, False)
    window.jobs_menu.train_dialog()
    assert offered["zoo"] == str(out)                              # an imported zoo is remembered too


@pytest.mark.parametrize("source, expected", [
    ("empty", "empty directory, nothing to import"),
    ("missing", "no such file or directory"),
])
def test_import_from_a_bad_source_is_an_error_message(blank_window, qtbot, monkeypatch, message_boxes, tmp_path,
                                                      source, expected):
    window = blank_window
    window.interactive_errors = True                                 # as in the app: a message box too
    src = tmp_path / source
    if source == "empty":
        src.mkdir()
    out = tmp_path / "imported.h5"
    answer_dialog(monkeypatch, job_dialogs.ImportZooDialog, True, src=src, out=out)
    handle = run_one_job(qtbot, window, window.jobs_menu.import_zoo_dialog)

    assert handle.outcome == "failed"
    assert handle.message == f"{src}: {expected}"
    assert message_boxes == [("Import zoo failed", f"{src}: {expected}")]
    assert window.statusBar().currentMessage() == f"Import zoo failed: {src}: {expected}"
    assert window.last_error == handle.message
    assert not out.exists() and not out.with_name("imported.h5.partial").exists()
    offered = answer_dialog(monkeypatch, job_dialogs.TrainDialog, False)
    window.jobs_menu.train_dialog()
    assert offered["zoo"] == ""                                      # a failed import is not remembered


# ---- Train autoencoder ---------------------------------------------------------------------------
def test_train_opens_the_new_workspace(blank_window, qtbot, monkeypatch, tmp_path, tiny_zoo):
    from core.zoo.store import read_zoo

    window, out = blank_window, tmp_path / "ws.h5"
    zoo = read_zoo(tiny_zoo)
    answer_dialog(monkeypatch, job_dialogs.TrainDialog, True, zoo=tiny_zoo, out=out, preset="tiny", epochs=1)
    handles = started_jobs(window)
    window.jobs_menu.train_dialog()
    assert [h.name for h in handles] == ["Train autoencoder"] and window.training_dock.isVisible()
    qtbot.waitUntil(lambda: window.session is not None or bool(window.last_error), timeout=JOB_TIMEOUT_MS)

    assert handles[0].outcome == "finished", handles[0].message
    assert window.last_error == ""
    assert [h.name for h in handles] == ["Train autoencoder", "Open ws.h5"]
    session = window.session
    assert session is not None and session.path == out and out.is_file()
    assert session.ws.training["epochs_done"] == 1 and session.ws.training["preset"] == "tiny"
    n_states = zoo.n_models * zoo.n_checkpoints                      # 4 models x (init + 1 epoch)
    assert window.state.n == n_states and len(session.ws.embeddings) == n_states
    assert window.state.projections == ["pca"]
    assert len(window.map.base.data) == n_states and window.map.base.data["visible"].all()
    assert window.windowTitle().startswith("ws.h5")
    assert len(window.training.losses) >= 1 and np.isfinite(window.training.losses).all()


def test_train_on_a_zoo_too_small_to_split_is_an_error_message(blank_window, qtbot, monkeypatch, tmp_path):
    """Two models cannot be split into train/val/test: the window says so and opens nothing."""
    from core.progress import drive
    from core.zoo.population import build_zoo_job
    from core.zoo.spec import ZooSpec

    window, out = blank_window, tmp_path / "ws.h5"
    small = drive(build_zoo_job(ZooSpec(n_models=2, epochs=1, chunk_size=2), tmp_path / "small.h5", "cpu"))
    answer_dialog(monkeypatch, job_dialogs.TrainDialog, True, zoo=small, out=out, preset="tiny", epochs=1)
    handle = run_one_job(qtbot, window, window.jobs_menu.train_dialog)

    assert handle.outcome == "failed" and "too small to split" in handle.message
    assert window.statusBar().currentMessage().startswith("Train autoencoder failed: ")
    assert window.session is None and not out.exists()
