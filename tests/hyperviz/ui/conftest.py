"""A small synthetic workspace for the GUI tests (no training: built in well under a second).

24 models x 6 checkpoints of the digits CNN with random weights, made-up accuracies that rise
with the epoch, random embeddings, a PCA map and a second map stored as "umap" (a fixed
non-linear warp of the PCA one), so switching maps is exercised without running UMAP.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

N_MODELS, N_CKPT = 24, 6


def build_workspace(folder: Path) -> Path:
    from core.analysis.projection import Projection, pca_fit
    from core.hyperrep.fit import usable_states
    from core.hyperrep.workspace import Workspace
    from core.zoo.arch import get_arch
    from core.zoo.splits import split_by_model
    from core.zoo.store import STATE_COLUMNS, Zoo, write_zoo

    rng = np.random.default_rng(7)
    arch = get_arch("cnn")
    weights = rng.standard_normal((N_MODELS, N_CKPT, arch.n_params)).astype(np.float32) * 0.3
    epochs = np.arange(N_CKPT, dtype=np.int32)
    skill = rng.uniform(0.3, 1.0, N_MODELS)
    acc = np.clip(0.1 + skill[:, None] * (1 - np.exp(-epochs[None, :] / 2.0)), 0, 1).astype(np.float32)
    states = {name: np.zeros((N_MODELS, N_CKPT), np.float32) for name in STATE_COLUMNS}
    for split in ("train", "val", "test"):
        states[f"{split}_acc"] = np.clip(acc + rng.normal(0, 0.01, acc.shape), 0, 1).astype(np.float32)
        states[f"{split}_loss"] = (2.3 * (1 - states[f"{split}_acc"])).astype(np.float32)
    states["ggap"] = states["train_acc"] - states["test_acc"]
    models = {"model_id": np.array([f"m{i:05d}" for i in range(N_MODELS)]),
              "seed": np.arange(N_MODELS),
              "activation": np.array(["relu", "tanh", "gelu"] * (N_MODELS // 3)),
              "init": np.array(["uniform", "kaiming_normal"] * (N_MODELS // 2)),
              "optimizer": np.array(["adam"] * (N_MODELS // 2) + ["sgd"] * (N_MODELS // 2)),
              "lr": np.array([1e-3, 1e-2] * (N_MODELS // 2)),
              "weight_decay": np.zeros(N_MODELS), "dropout": np.array([0.0, 0.3] * (N_MODELS // 2))}
    zoo = Zoo(archs=arch, weights=weights, epochs=epochs, states=states, models=models, task={"name": "digits"},
              source={"synthetic": True})
    zoo_path = write_zoo(folder / "zoo.h5", zoo)
    ws = Workspace.create(folder / "ws.h5", zoo_path)
    ws.split = split_by_model(models["model_id"])
    ws.states = usable_states(zoo)
    mi, ci = ws.states[:, 0], ws.states[:, 1]
    ws.embeddings = (rng.standard_normal((len(ws.states), 8)) * 0.3
                     + np.stack([acc[mi, ci] * 4, skill[mi] * 3] + [np.zeros(len(mi))] * 6, 1)).astype(np.float32)
    for proj in (pca_fit(ws.embeddings).to_projection(), None):
        if proj is None:
            pca = ws.projections["pca"]["coords"]
            proj = Projection("umap", np.stack([np.tanh(pca[:, 0]) * 5, pca[:, 1] + 0.3 * pca[:, 0] ** 2], 1),
                              {"n_neighbors": 15, "synthetic": True})
        arrays, meta = proj.to_arrays()
        ws.projections[proj.method] = {"coords": proj.coords, "params": {"meta": meta},
                                       "arrays": {k: v for k, v in arrays.items() if k != "coords"}}
    ws.bookmarks = [{"name": "good", "selection": {"type": "range", "column": "test_acc", "lo": 0.8, "hi": None},
                     "filters": {}, "colour_by": "test_acc", "projection": "pca"}]
    return ws.save()


@pytest.fixture(scope="session")
def workspace_path(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("ui_ws"))


@pytest.fixture
def settings(tmp_path):
    from PySide6 import QtCore

    from hyperviz.ui.settings import Settings

    return Settings(QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat))


@pytest.fixture
def blank_window(qtbot, settings):
    """A main window with no workspace open, as at the first start."""
    from hyperviz.app import make_app
    from hyperviz.ui.main_window import MainWindow

    make_app([])
    win = MainWindow(settings=settings)
    win.interactive_errors = False
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    yield win
    win.runner.cancel_all()


@pytest.fixture
def window(blank_window, qtbot, workspace_path):
    """A main window showing the synthetic workspace."""
    with qtbot.waitSignal(blank_window.loaded, timeout=60_000):
        blank_window.open_workspace(workspace_path)
    qtbot.wait(20)
    return blank_window
