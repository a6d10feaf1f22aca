"""``hyperviz zoo build --arch A,B,C`` and ``zoo merge`` from the command line, and their one-line errors."""
import json

import pytest

from tests.cli import run

GRID = {"activation": ["relu"], "optimizer": ["adam"], "lr": [0.01], "init": ["kaiming_normal"],
        "weight_decay": [0.0], "dropout": [0.0]}


@pytest.fixture
def grid(tmp_path):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(GRID))
    return path


def test_build_several_architectures_then_merge(tmp_path, capsys, grid):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    code, out, err = run(capsys, "zoo", "build", "--arch", "cnn,mlp", "--models", "4", "--epochs", "1", "--grid", grid,
                         "--out", a, "--device", "cpu", "-q")
    assert code == 0, err
    assert "architectures cnn (2 models, 1228 parameters), mlp (2 models, 1482 parameters)" in out
    code, out, err = run(capsys, "zoo", "build", "--arch", "cnn_deep", "--models", "2", "--epochs", "1", "--grid", grid,
                         "--out", b, "--device", "cpu", "-q")
    assert code == 0, err
    code, out, err = run(capsys, "zoo", "merge", a, b, "--out", tmp_path / "c.h5", "--json", "-q")
    assert code == 0, err
    info = json.loads(out)
    assert info["models"] == 6 and list(info["architectures"]) == ["cnn", "mlp", "cnn_deep"]
    assert info["hyperparameters"]["arch"] == ["cnn", "cnn_deep", "mlp"]
    code, out, _ = run(capsys, "zoo", "info", tmp_path / "c.h5")
    assert code == 0 and "cnn_deep (1812 parameters, 2 models)" in out and "schema        version 2" in out
    code, out, err = run(capsys, "zoo", "evaluate", tmp_path / "c.h5", "--json")
    assert code == 0, err
    assert json.loads(out)["abs_difference"]["within_1_point"] == 6


@pytest.mark.parametrize("argv, message", [
    (["zoo", "build", "--arch", "cnn,resnet", "--models", "2", "--out", "{tmp}/z.h5"], "architecture 'resnet': unknown"),
    (["zoo", "build", "--arch", "cnn,cnn", "--models", "2", "--out", "{tmp}/z.h5"], "names 'cnn' twice"),
    (["zoo", "merge", "{tmp}/missing.h5", "{tmp}/other.h5", "--out", "{tmp}/c.h5"], "missing.h5: no such file"),
    (["zoo", "merge", "{tmp}/a.h5", "--out", "{tmp}/c.h5"], "needs at least two zoo files"),
])
def test_user_errors_are_one_line(tmp_path, capsys, argv, message):
    code, out, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_merging_zoos_of_different_tasks_is_one_line(tmp_path, capsys, grid):
    for name, task in (("a", "digits"), ("b", "shapes")):
        code, _, err = run(capsys, "zoo", "build", "--task", task, "--models", "1", "--epochs", "1", "--grid", grid,
                           "--out", tmp_path / f"{name}.h5", "--device", "cpu", "-q")
        assert code == 0, err
    code, _, err = run(capsys, "zoo", "merge", tmp_path / "a.h5", tmp_path / "b.h5", "--out", tmp_path / "c.h5")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "has task 'digits'" in err and "task 'shapes'; only zoos of one task can be merged" in err
    assert not (tmp_path / "c.h5").exists()
