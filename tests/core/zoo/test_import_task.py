"""A Model Zoos zoo of 28x28 CNNs imported with the IDX task it was trained on: the task and its
files are recorded in the zoo, its checkpoints evaluate to the accuracies result.json records,
and a missing data file is one line (exit 2)."""
import json

import h5py
import numpy as np
import torch

from core.generate.evaluate import recheck_accuracy
from core.zoo.modules import build_module
from core.zoo.store import read_zoo
from core.zoo.tasks import get_task, task_for_zoo
from hyperviz.cli import main
from tests.core.zoo.test_taskfiles import write_mnist_folder
from tests.modelzoos_layout import INDICES_PLAIN, MZ, mz_params, mz_state, result_line, write_model


def _zoo_with_true_accuracies(root, data):
    """Three models with random weights; result.json records their real test accuracy on ``data``."""
    task = get_task(f"idx:{data}")
    x, y = task.split("test")
    recorded = []
    for m in range(3):
        gen = torch.Generator().manual_seed(m)
        states = {f"checkpoint_{e}": mz_state(gen, INDICES_PLAIN) for e in (0, 1)}
        lines = []
        for e, state in enumerate(states.values()):
            module = build_module(MZ, "tanh")
            module.load_state_dict(dict(zip(module.state_dict(), state.values())))
            with torch.no_grad():
                acc = float((module(x).argmax(1) == y).float().mean())
            lines.append(result_line(e + 1, train_acc=0.5, test_acc=acc))
        recorded.append(acc)
        write_model(root, f"model_{m}", mz_params("tanh", 0.0, m), states, lines)
    return recorded


def test_import_with_an_idx_task_records_it_and_evaluates_to_result_json(tmp_path, capsys):
    data = tmp_path / "MNIST"
    write_mnist_folder(data, n_train=40, n_test=30, size=28, gz=True)
    recorded = _zoo_with_true_accuracies(tmp_path / "zoo", data)
    out = tmp_path / "zoo.h5"
    assert main(["zoo", "import", str(tmp_path / "zoo"), "--out", str(out), "--task", f"idx:{data}", "-q"]) == 0
    zoo = read_zoo(out)
    assert zoo.task["source"]["kind"] == "idx" and zoo.task["source"]["path"] == str(data)
    assert zoo.task["named_by_source"] == "MNIST" and zoo.task["input_shape"] == [1, 28, 28]
    assert task_for_zoo(zoo.task).name == f"idx:{data}"
    result = recheck_accuracy(zoo, task_for_zoo(zoo.task))
    np.testing.assert_allclose(result["measured"], recorded, atol=1e-6)      # each model's last checkpoint
    assert result["abs_difference"]["within_1_point"] == 3
    capsys.readouterr()
    assert main(["zoo", "evaluate", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["abs_difference"]["compared"] == 3 and report["abs_difference"]["max"] < 1e-6
    assert main(["zoo", "evaluate", str(out), "--all-epochs"]) == 0
    assert "6 of 6 within 1 point" in capsys.readouterr().out
    # the zoo's data went missing: one line naming the file, exit 2
    (data / "t10k-images-idx3-ubyte.gz").unlink()
    assert main(["zoo", "evaluate", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "t10k-images-idx3-ubyte: missing" in err[0]


def test_import_with_a_task_that_does_not_fit_writes_nothing(tmp_path, capsys):
    data = tmp_path / "MNIST"
    write_mnist_folder(data, size=28, gz=False)
    _zoo_with_true_accuracies(tmp_path / "zoo", data)
    out = tmp_path / "zoo.h5"
    assert main(["zoo", "import", str(tmp_path / "zoo"), "--out", str(out), "--task", "shapes", "-q"]) == 2
    assert "does not fit task shapes" in capsys.readouterr().err and not out.exists()
    assert main(["zoo", "import", str(tmp_path / "zoo"), "--out", str(out), "--task", f"idx:{tmp_path}", "-q"]) == 2
    assert "train-images-idx3-ubyte: missing" in capsys.readouterr().err and not out.exists()


def test_zoos_written_before_file_tasks_still_open_and_run(tmp_path, capsys):
    """A zoo whose /meta/task has only the old keys (no source) opens, and its bundled task runs."""
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"activation": ["relu"], "optimizer": ["adam"], "lr": [0.01], "init": ["uniform"],
                                "weight_decay": [0.0], "dropout": [0.0]}))
    out = tmp_path / "z.h5"
    assert main(["zoo", "build", "--models", "2", "--epochs", "1", "--grid", str(grid), "--out", str(out),
                 "--device", "cpu", "-q", "--task", "digits-inverted"]) == 0
    with h5py.File(out, "r") as f:
        meta = json.loads(f["meta/task"][()])
    assert meta["name"] == "digits-inverted" and "source" not in meta
    capsys.readouterr()
    assert main(["zoo", "evaluate", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"] == "digits-inverted" and report["abs_difference"]["max"] < 1e-6
