"""Population training: configs, determinism, learning, and the zoo build (incl. resume)."""
import numpy as np
import pytest
import torch

from core.errors import HyperVizError
from core.progress import drive
from core.zoo.arch import KNOWN_ARCHS
from core.zoo.population import ZooSpec, build_zoo_job, check_grid, chunk_plan, load_grid, model_configs, train_chunk
from core.zoo.store import read_zoo
from core.zoo.tasks import get_task

TINY_GRID = {"activation": ["relu", "tanh"], "init": ["kaiming_uniform"], "optimizer": ["adam", "sgd"],
             "lr": [1e-2], "weight_decay": [0.0], "dropout": [0.0, 0.2]}


def tiny_spec(**kw) -> ZooSpec:
    return ZooSpec(**{"n_models": 6, "epochs": 2, "grid": TINY_GRID, "chunk_size": 2, **kw})


def test_digits_split_is_fixed_and_stratified():
    task = get_task("digits")
    sizes = (len(task.y_train), len(task.y_val), len(task.y_test))
    assert sum(sizes) == 1797 and sizes[0] > 1200
    for y in (task.y_train, task.y_val, task.y_test):
        counts = torch.bincount(y, minlength=10).float()
        assert counts.min() / counts.max() > 0.85          # every class in every split, balanced
    assert torch.equal(get_task("digits").x_test, task.x_test)


def test_configs_cover_the_grid_with_distinct_seeds():
    configs = model_configs(tiny_spec(n_models=16))
    assert len({c["seed"] for c in configs}) == 16
    combos = {(c["activation"], c["optimizer"], c["dropout"]) for c in configs}
    assert len(combos) == 8                                  # the whole 2 x 2 x 2 grid
    plan = chunk_plan(configs, 3)
    assert sorted(i for chunk in plan for i in chunk) == list(range(16))
    for chunk in plan:
        assert len(chunk) <= 3 and len({configs[i]["activation"] for i in chunk}) == 1


def test_training_lowers_the_loss_and_is_deterministic():
    spec = tiny_spec()
    configs = [c for c in model_configs(spec) if c["activation"] == "relu"]
    arch, task = KNOWN_ARCHS["cnn"], get_task("digits")
    w1, s1 = drive(train_chunk(arch, task, configs, 2, 32, torch.device("cpu")))
    w2, s2 = drive(train_chunk(arch, task, configs, 2, 32, torch.device("cpu")))
    assert w1.shape == (len(configs), 3, arch.n_params)
    np.testing.assert_array_equal(w1, w2)
    assert (s1["train_loss"][:, -1] < s1["train_loss"][:, 0]).all()
    assert s1["test_acc"][:, -1].max() > 0.6 and (s1["test_acc"][:, -1] > s1["test_acc"][:, 0]).all()
    np.testing.assert_allclose(s1["ggap"], s1["train_acc"] - s1["test_acc"], atol=1e-6)


def test_build_writes_a_complete_zoo(tmp_path):
    out = tmp_path / "zoo.h5"
    path = drive(build_zoo_job(tiny_spec(), out, "cpu"))
    zoo = read_zoo(path)
    assert zoo.weights.shape == (6, 3, KNOWN_ARCHS["cnn"].n_params)
    assert zoo.epochs.tolist() == [0, 1, 2]
    assert np.isfinite(zoo.states["test_acc"]).all()
    assert sorted(zoo.models["activation"]) == ["relu"] * 3 + ["tanh"] * 3
    assert not (tmp_path / "zoo.h5.partial").exists()


def test_interrupted_build_resumes_and_gives_the_same_zoo(tmp_path):
    spec = tiny_spec()
    reference = read_zoo(drive(build_zoo_job(spec, tmp_path / "ref.h5", "cpu")))
    out = tmp_path / "zoo.h5"
    job = build_zoo_job(spec, out, "cpu")
    seen = 0
    for record in job:                      # stop after the first chunk was written
        seen += 1
        if record.message.startswith("chunk 2"):
            break
    job.close()
    assert not out.exists() and (tmp_path / "zoo.h5.partial").exists()
    records = []
    resumed = build_zoo_job(spec, out, "cpu")
    path = drive(resumed, on_progress=records.append)
    assert records[0].message == "resuming" and records[0].done > 0
    zoo = read_zoo(path)
    np.testing.assert_array_equal(zoo.weights, reference.weights)
    np.testing.assert_array_equal(zoo.states["test_acc"], reference.states["test_acc"])


def test_bad_grids_and_specs(tmp_path):
    with pytest.raises(HyperVizError, match="unknown hyperparameters"):
        check_grid({"momentum": [0.9]}, "g.json")
    with pytest.raises(HyperVizError, match="invalid values"):
        check_grid({"activation": ["swish"]}, "g.json")
    bad = tmp_path / "grid.json"
    bad.write_text("{not json")
    with pytest.raises(HyperVizError, match="invalid JSON"):
        load_grid(bad)
    with pytest.raises(HyperVizError, match="no such grid file"):
        load_grid(tmp_path / "missing.json")
    with pytest.raises(HyperVizError, match="at least one model"):
        ZooSpec(n_models=0)
    with pytest.raises(HyperVizError, match="does not fit task"):
        drive(build_zoo_job(tiny_spec(arch="modelzoo_cnn"), tmp_path / "x.h5", "cpu"))
