"""The app's background jobs, driven here without Qt: opening a workspace builds its table."""
import numpy as np
import pytest

from core.errors import HyperVizError
from core.hyperrep.workspace import load_workspace
from core.progress import drive
from hyperviz.model.jobs import load_session_job
from tests.hyperviz.ui.conftest import N_CKPT, N_MODELS, build_workspace


def test_opening_a_workspace_reads_it_its_zoo_and_its_table(tmp_path):
    path = build_workspace(tmp_path)
    records = []
    session = drive(load_session_job(path), records.append)
    assert session.path == path and session.zoo.n_models == N_MODELS and [r.done for r in records] == [0, 1, 2, 3]
    table = session.table
    assert {"row", "model", "checkpoint", "epoch", "test_acc", "activation", "split", "umap_x", "pca_y"} <= set(table)
    assert len(table["row"]) == N_MODELS * N_CKPT
    np.testing.assert_array_equal(table["pca_x"], session.ws.projections["pca"]["coords"][:, 0])


def test_a_workspace_without_a_map_is_refused_with_the_command_that_makes_one(tmp_path):
    ws = load_workspace(build_workspace(tmp_path))
    ws.projections = {}
    ws.save()
    with pytest.raises(HyperVizError, match="no stored map yet; run `hyperviz project"):
        drive(load_session_job(ws.path))
