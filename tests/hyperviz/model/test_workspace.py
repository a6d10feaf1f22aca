"""The open workspace: opening it, the results of jobs on it, and the private copy of the bundled demo."""
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from hyperviz.model.state import AppState
from hyperviz.model.workspace import OpenWorkspace, Session, writable_demo


def test_user_changes_survive_and_a_new_bundle_replaces_the_copy(tmp_path):
    src, dst = tmp_path / "assets", tmp_path / "copy"
    src.mkdir()
    (src / "demo.h5").write_bytes(b"v1")
    (src / "demo-zoo.h5").write_bytes(b"zoo")
    ws = writable_demo(src, dst)
    assert ws == dst / "demo.h5" and ws.read_bytes() == b"v1"
    ws.write_bytes(b"v1 + the user's samples")
    assert writable_demo(src, dst).read_bytes() == b"v1 + the user's samples"
    (src / "demo.h5").write_bytes(b"v2!")
    os.utime(src / "demo.h5", (1e9, 2e9))
    assert writable_demo(src, dst).read_bytes() == b"v2!"


def test_opening_is_one_change_and_results_go_through_the_open_workspace():
    state = AppState()
    workspace = OpenWorkspace(state)
    assert workspace.ws is None and workspace.zoo is None
    ws = SimpleNamespace(bookmarks=[{"name": "b", "selection": {"type": "nothing"}}], samples={})
    table = {"epoch": np.arange(4.0), "test_acc": np.linspace(0, 1, 4), "umap_x": np.zeros(4), "umap_y": np.zeros(4)}
    changes, probe_changes = [], []
    state.signals.changed.connect(changes.append)
    workspace.probes.changed.connect(lambda: probe_changes.append(workspace.probes.results))
    workspace.probes.set({"test_acc": {}}, {}, "the hyper-rep is ahead", "all model states (4)")
    workspace.show(Session(Path("w.h5"), ws, zoo="zoo", table=table))
    assert changes == [frozenset({"table", "samples"})] and state.n == 4 and [b["name"] for b in state.bookmarks] == ["b"]
    assert probe_changes == [{"test_acc": {}}, None] and workspace.zoo == "zoo"    # a new workspace has no probes yet
    samples = {"r001_kde": {"arrays": {"test_acc": np.array([0.5, 0.7]), "coords_umap": np.ones((2, 2))},
                            "meta": {"method": "kde"}}}
    workspace.store_samples(samples)
    assert ws.samples is samples and changes[-1] == frozenset({"samples"})
    assert state.samples["run"].tolist() == ["r001_kde"] * 2 and state.samples["umap_x"].tolist() == [1.0, 1.0]
