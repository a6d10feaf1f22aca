"""Transfer: samples evaluated zero-shot on another task and fine-tuned on it; the zoo-best baseline."""
import numpy as np
import pytest

from core.errors import HyperVizError
from core.generate.evaluate import evaluate_weights, finetune_job
from core.generate.sampling import make_selection, run_summary, sample_job, state_weights
from core.hyperrep.workspace import load_workspace
from core.progress import drive
from core.zoo.store import read_zoo
from core.zoo.tasks import get_task


def test_a_transfer_run_is_judged_on_the_target_task(ws):
    zoo = read_zoo(ws.zoo_path)
    rows = np.arange(len(ws.states))
    run = drive(sample_job(ws, rows, "kde", 5, seed=2, finetune=1, device="cpu", zoo=zoo, target_task="shapes"))
    again = load_workspace(ws.path)
    a, meta = again.samples[run]["arrays"], again.samples[run]["meta"]
    assert a["target_acc"].shape == (5,) and a["target_loss"].shape == (5,) and a["finetune_acc"].shape == (5, 1)
    shapes, digits = get_task("shapes"), get_task("digits")
    act = meta["activation"]
    # zero-shot on shapes' test split; test_acc stays on the zoo's task
    np.testing.assert_array_equal(a["target_acc"], evaluate_weights(zoo.arch, shapes, a["weights"], act, "test").acc)
    np.testing.assert_array_equal(a["test_acc"], evaluate_weights(zoo.arch, digits, a["weights"], act, "test").acc)
    # fine-tuned on shapes with the run's recipe: the same numbers as finetune_job on shapes gives
    recipe = {k: meta["finetune"][k] for k in ("optimizer", "lr", "weight_decay", "dropout")}
    tuned = drive(finetune_job(zoo.arch, shapes, a["weights"], act, 1, seed=2, device="cpu", config=recipe))
    np.testing.assert_allclose(a["finetune_acc"], tuned.acc)
    assert meta["target_task"]["name"] == "shapes" and meta["finetune"]["task"] == "shapes"
    summary = run_summary(again, run)
    assert summary["target_task"] == "shapes" and summary["finetune_task"] == "shapes"
    assert summary["mean_target_acc"] == pytest.approx(float(a["target_acc"].mean()))


def test_without_a_target_nothing_changes(ws):
    zoo = read_zoo(ws.zoo_path)
    run = drive(sample_job(ws, np.arange(len(ws.states)), "noise", 3, device="cpu", zoo=zoo, target_task="digits"))
    a, meta = ws.samples[run]["arrays"], ws.samples[run]["meta"]
    assert "target_acc" not in a and meta["target_task"] is None
    assert run_summary(ws, run)["mean_target_acc"] is None


def test_zoo_best_takes_the_best_selected_states_by_validation_accuracy(ws):
    zoo = read_zoo(ws.zoo_path)
    rows = np.arange(len(ws.states))
    run = drive(sample_job(ws, rows, "zoo-best", 4, device="cpu", zoo=zoo, target_task="digits-inverted"))
    a = ws.samples[run]["arrays"]
    sel = make_selection(ws, zoo, rows)
    states = ws.states[sel.used]
    val = zoo.states["val_acc"][states[:, 0], states[:, 1]]
    assert a["weights"].shape[0] == 4 and set(a["anchor_state"].tolist()) <= set(sel.used.tolist())
    chosen_val = zoo.states["val_acc"][ws.states[a["anchor_state"], 0], ws.states[a["anchor_state"], 1]]
    assert np.all(chosen_val >= np.sort(val)[-4] - 1e-9)                      # the top 4 by validation accuracy
    np.testing.assert_array_equal(a["weights"], state_weights(ws, zoo, a["anchor_state"]))
    assert np.all(a["novelty_region"] == 0)                                    # copies by construction
    many = drive(sample_job(ws, rows, "zoo-best", 10_000, device="cpu", zoo=zoo))
    assert len(ws.samples[many]["arrays"]["weights"]) == len(sel.used)          # each selected state once


def test_a_target_task_that_does_not_fit_is_refused(ws, tmp_path):
    zoo = read_zoo(ws.zoo_path)
    x = np.zeros((20, 28, 28), np.uint8)
    np.savez(tmp_path / "big.npz", x_train=x, y_train=np.arange(20) % 2, x_test=x[:4], y_test=np.arange(4) % 2)
    with pytest.raises(HyperVizError, match=r"target task: architecture cnn.*does not fit task npz:"):
        drive(sample_job(ws, np.arange(len(ws.states)), "kde", 2, device="cpu", zoo=zoo,
                         target_task=f"npz:{tmp_path / 'big.npz'}"))
    with pytest.raises(HyperVizError, match="unknown"):
        drive(sample_job(ws, np.arange(len(ws.states)), "kde", 2, device="cpu", zoo=zoo, target_task="nope"))


def test_sample_task_on_the_command_line_adds_both_baselines(ws, capsys):
    from hyperviz.cli import main

    assert main(["sample", str(ws.path), "-n", "3", "--method", "noise", "--finetune", "1", "--task", "shapes",
                 "--device", "cpu", "--json", "-q"]) == 0
    report = __import__("json").loads(capsys.readouterr().out)
    assert list(report["methods"]) == ["noise", "random", "zoo-best"]
    assert report["transfer"] == {"source_task": "digits", "target_task": "shapes", "finetune_epochs": 1}
    for method, entry in report["methods"].items():
        assert 0 <= entry["mean_target_acc"] <= 1 and 0 <= entry["mean_test_acc_finetuned"] <= 1, method
        assert entry["finetune_task"] == "shapes"
    assert report["methods"]["zoo-best"]["added_as_baseline"] and "zoo's-best" in report["methods"]["zoo-best"]["note"]
    assert main(["sample", str(ws.path), "-n", "2", "--task", "digits-rotated", "--device", "cpu", "-q"]) == 0
    out = capsys.readouterr().out
    assert "transfer digits -> digits-rotated" in out and "zero-shot" in out
    assert main(["sample", str(ws.path), "-n", "2", "--task", "idx:/nonexistent/mnist", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "/nonexistent/mnist: no such folder" in err[0]
