"""A tiny workspace built through the CLI (zoo build -> fit -> embed -> pca), shared by the fault tests."""
import json
import shutil

import pytest

from hyperviz.cli import main

GRID = {"activation": ["relu", "tanh"], "init": ["kaiming_uniform", "uniform"], "optimizer": ["adam"],
        "lr": [0.01], "weight_decay": [0.0], "dropout": [0.0]}


@pytest.fixture(scope="session")
def built_ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    (root / "grid.json").write_text(json.dumps(GRID))
    zoo, ws = root / "zoo.h5", root / "ws.h5"
    for argv in (["zoo", "build", "--models", "12", "--epochs", "2", "--grid", root / "grid.json", "--out", zoo, "--device", "cpu"],
                 ["fit", zoo, "--out", ws, "--preset", "tiny", "--epochs", "1", "--device", "cpu"],
                 ["embed", ws, "--device", "cpu"],
                 ["project", ws, "--method", "pca"],
                 ["sample", ws, "-n", "60", "--method", "noise", "--device", "cpu"]):
        assert main([str(a) for a in argv] + ["-q", "--json"]) == 0
    return ws


@pytest.fixture
def fws(built_ws, tmp_path):
    """A private copy of the built workspace (its zoo stays where it was built)."""
    dst = tmp_path / "ws.h5"
    shutil.copy(built_ws, dst)
    return dst
