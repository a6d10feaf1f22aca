"""``fit`` / ``probe`` / ``sample`` on a zoo of several architectures, and ``fit --window``, from the command line."""
import json

import pytest

from hyperviz.cli import main
from tests.cli import run

GRID = {"activation": ["relu"], "optimizer": ["adam"], "lr": [0.01], "init": ["kaiming_normal"],
        "weight_decay": [0.0], "dropout": [0.0]}


@pytest.fixture(scope="module")
def mixed_ws(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-mixed")
    (folder / "grid.json").write_text(json.dumps(GRID))
    assert main(["zoo", "build", "--arch", "cnn,mlp,cnn_deep", "--models", "9", "--epochs", "2", "--grid",
                 str(folder / "grid.json"), "--out", str(folder / "z.h5"), "--device", "cpu", "-q"]) == 0
    assert main(["fit", str(folder / "z.h5"), "--out", str(folder / "ws.h5"), "--preset", "tiny", "--epochs", "1",
                 "--device", "cpu", "-q"]) == 0
    assert main(["embed", str(folder / "ws.h5"), "--device", "cpu", "-q"]) == 0
    return folder


def test_probe_reads_arch_as_a_categorical_property(mixed_ws, capsys):
    code, out, err = run(capsys, "probe", mixed_ws / "ws.h5", "--device", "cpu", "-q", "--json")
    assert code == 0, err
    arch = json.loads(out)["properties"]["arch"]
    assert arch["metric"] == "accuracy" and 0 <= arch["hyperrep"] <= 1 and 0 <= arch["sw"] <= 1


def test_sample_each_architecture(mixed_ws, capsys):
    code, out, err = run(capsys, "sample", mixed_ws / "ws.h5", "-n", "2", "--method", "reconstruct", "--arch", "each",
                         "--device", "cpu", "-q", "--json")
    assert code == 0, err
    archs = json.loads(out)["archs"]
    assert list(archs) == ["cnn", "mlp", "cnn_deep"]
    assert all(a["selection"]["arch"] == name for name, a in archs.items())
    code, out, err = run(capsys, "sample", mixed_ws / "ws.h5", "-n", "2", "--method", "reconstruct", "--arch", "mlp",
                         "--device", "cpu", "-q")
    assert code == 0 and "samples are mlp" in out, err
    code, _, err = run(capsys, "sample", mixed_ws / "ws.h5", "-n", "2", "--arch", "vgg", "--device", "cpu", "-q")
    assert code == 2 and "architecture 'vgg': not in this zoo (it has cnn, mlp, cnn_deep)" in err
    assert len(err.strip().splitlines()) == 1


def test_fit_window_on_one_architecture(tmp_path, capsys):
    (tmp_path / "grid.json").write_text(json.dumps(GRID))
    code, _, err = run(capsys, "zoo", "build", "--arch", "cnn_large", "--models", "3", "--epochs", "1", "--grid",
                       tmp_path / "grid.json", "--out", tmp_path / "z.h5", "--device", "cpu", "-q")
    assert code == 0, err
    code, out, err = run(capsys, "fit", tmp_path / "z.h5", "--out", tmp_path / "ws.h5", "--preset", "tiny",
                         "--epochs", "1", "--window", "24", "--device", "cpu", "-q", "--json")
    assert code == 0, err
    assert json.loads(out)["window"] == 24
    code, _, err = run(capsys, "fit", tmp_path / "z.h5", "--out", tmp_path / "ws2.h5", "--window", "0", "-q")
    assert code == 2 and "--window" in err
