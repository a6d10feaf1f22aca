"""Population training: configs, determinism, learning, and the zoo build (incl. resume)."""
import threading

import numpy as np
import pytest
import torch

import core.zoo.population as population
from core.errors import HyperVizError
from core.progress import drive
from core.zoo.arch import ACTIVATIONS, KNOWN_ARCHS
from core.zoo.population import (
    build_zoo_job,
    check_zoo_size,
    chunk_plan,
    model_configs,
    train_chunk,
    train_loop_one,
    train_spec_chunk,
)
from core.zoo.spec import MAX_ZOO_BYTES, ZooSpec, check_grid, finished_build, load_grid
from core.zoo.store import read_zoo, zoo_hash
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
    assert all(len(chunk) <= 3 for chunk in plan) and len(plan) == 6


def test_chunks_are_even_models_without_dropout_first_each_activation_in_one_run():
    configs = model_configs(ZooSpec(n_models=256, epochs=1))
    plan = chunk_plan(configs, 128)
    assert sorted(i for rows in plan for i in rows) == list(range(256)) and [len(r) for r in plan] == [128, 128]
    no_dropout, dropout = ([float(configs[i]["dropout"]) for i in rows] for rows in plan)
    assert set(no_dropout) == {0.0} and min(dropout) > 0      # the first chunk needs no masks
    for rows in plan:
        names = [configs[i]["activation"] for i in rows]
        runs = [name for j, name in enumerate(names) if j == 0 or names[j - 1] != name]
        assert runs == list(ACTIVATIONS) and names.count("tanh") == 32     # each activation once, in order
    assert [len(r) for r in chunk_plan(configs, 100)] == [85, 85, 86]       # not 100 + 100 + 56


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


@pytest.mark.parametrize("activation, optimizers, atol", [("tanh", ["adam", "sgd"], 1e-4), ("gelu", ["adam", "sgd"], 1e-4),
                                                          ("relu", ["sgd"], 5e-3)])
def test_batched_training_equals_one_model_at_a_time(activation, optimizers, atol):
    """The batched kernels and fused optimiser give the weights torch.optim gives each model alone.

    Not relu with Adam: a relu unit at its kink gets a gradient of exactly 0 in one computation
    and ~1e-9 in the other, and Adam turns that into a step of +-lr (the old kernels, measured:
    0.24 apart after one epoch on one of four such models); with SGD the kinks move a few weights by
    ~1e-3 in two epochs."""
    grid = {**TINY_GRID, "activation": [activation], "optimizer": optimizers, "weight_decay": [0.0, 1e-3],
            "dropout": [0.0], "init": ["uniform", "kaiming_normal"]}
    configs = model_configs(ZooSpec(n_models=8, epochs=2, grid=grid))
    assert {c["optimizer"] for c in configs} == set(optimizers) and {c["weight_decay"] for c in configs} == {0.0, 1e-3}
    arch, task = KNOWN_ARCHS["cnn"], get_task("digits")
    batched, _ = drive(train_chunk(arch, task, configs, 2, 32, torch.device("cpu"), evaluate=False))
    for i, config in enumerate(configs):
        alone = train_loop_one(arch, task, config, 2, 32, torch.device("cpu")).numpy()
        assert np.abs(batched[i, -1] - batched[i, 0]).max() > 0.01          # it trained
        np.testing.assert_allclose(batched[i, -1], alone, rtol=1e-4, atol=atol)


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
    job = build_zoo_job(spec, out, "cpu", workers=1)       # in turn: "chunk 2" means chunk 1 is written
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


def test_the_zoo_is_the_same_whatever_the_threads_and_the_chunks_trained_at_once(tmp_path):
    spec = tiny_spec(chunk_size=3)                          # two chunks, both moved by a second thread
    one_thread = train_spec_chunk(spec.to_dict(), 1, "cpu", threads=1)[0]
    two_threads = train_spec_chunk(spec.to_dict(), 1, "cpu", threads=2)[0]
    assert not np.array_equal(one_thread, two_threads)     # the premise: the thread count moves the last bits
    before = torch.get_num_threads()
    torch.set_num_threads(2)                               # what the caller had is not what a chunk uses...
    try:
        in_turn = drive(build_zoo_job(spec, tmp_path / "in_turn.h5", "cpu", workers=1))
        at_once = drive(build_zoo_job(spec, tmp_path / "at_once.h5", "cpu", workers=2))
        assert torch.get_num_threads() == 2                # ...and it is restored
    finally:
        torch.set_num_threads(before)
    assert zoo_hash(in_turn) == zoo_hash(at_once)
    rows = chunk_plan(model_configs(spec), spec.chunk_size)[1]
    np.testing.assert_array_equal(read_zoo(at_once).weights[rows], one_thread)   # chunk 1 trained on one thread


def test_a_build_interrupted_while_chunks_train_at_once_resumes_to_the_same_zoo(tmp_path):
    spec = tiny_spec()
    reference = read_zoo(drive(build_zoo_job(spec, tmp_path / "ref.h5", "cpu", workers=1)))
    threads_before, torch_threads = threading.active_count(), torch.get_num_threads()
    out = tmp_path / "zoo.h5"
    job = build_zoo_job(spec, out, "cpu", workers=2)
    for record in job:
        if record.done >= 3:                               # some epochs trained, the build not done
            break
    job.close()                                            # the workers stop at their next epoch
    assert threading.active_count() == threads_before and torch.get_num_threads() == torch_threads
    assert not out.exists() and (tmp_path / "zoo.h5.partial").exists()
    zoo = read_zoo(drive(build_zoo_job(spec, out, "cpu", workers=2)))
    np.testing.assert_array_equal(zoo.weights, reference.weights)


def test_an_error_in_one_chunk_stops_the_others_and_the_written_chunks_are_kept(tmp_path, monkeypatch):
    spec = tiny_spec()
    real = population.train_chunk

    def out_of_memory_on_tanh(arch, task, configs, *args, **kwargs):
        if configs[0]["activation"] == "tanh":
            raise RuntimeError("out of memory")
        return real(arch, task, configs, *args, **kwargs)

    monkeypatch.setattr(population, "train_chunk", out_of_memory_on_tanh)
    out = tmp_path / "zoo.h5"
    with pytest.raises(RuntimeError, match="out of memory"):
        drive(build_zoo_job(spec, out, "cpu", workers=2))
    assert not out.exists() and (tmp_path / "zoo.h5.partial").exists()
    monkeypatch.setattr(population, "train_chunk", real)
    records = []
    zoo = read_zoo(drive(build_zoo_job(spec, out, "cpu", workers=2), on_progress=records.append))
    assert records[0].message == "resuming"
    reference = read_zoo(drive(build_zoo_job(spec, tmp_path / "ref.h5", "cpu", workers=1)))
    np.testing.assert_array_equal(zoo.weights, reference.weights)


def test_a_finished_build_is_finished_and_other_files_are_kept(tmp_path):
    spec = tiny_spec(n_models=2, epochs=1)
    out = tmp_path / "zoo.h5"
    drive(build_zoo_job(spec, out, "cpu"))
    before, mtime = out.read_bytes(), out.stat().st_mtime_ns
    assert finished_build(spec, out)
    records = []
    assert drive(build_zoo_job(spec, out, "cpu"), on_progress=records.append) == out
    assert [r.message for r in records] == ["already complete"]               # nothing trained
    with pytest.raises(HyperVizError, match=r"zoo\.h5: already exists, a zoo built with other arguments "
                                            r"\(--models 3, not 2; --seed 1, not 0\); not replaced \(pass --overwrite"):
        drive(build_zoo_job(tiny_spec(n_models=3, epochs=1, seed=1), out, "cpu"))
    assert not finished_build(tiny_spec(n_models=3, epochs=1), out, overwrite=True)
    for name, content in (("ws.h5", None), ("notes.txt", b"my notes")):
        other = tmp_path / name
        if content is None:                                                    # a workspace-like HDF5 file
            import h5py

            with h5py.File(other, "w") as f:
                f.attrs["format"] = "hyperviz-workspace"
        else:
            other.write_bytes(content)
        kept = other.read_bytes()
        with pytest.raises(HyperVizError, match="a hyperviz workspace" if content is None else "a file that is not HDF5"):
            drive(build_zoo_job(spec, other, "cpu"))
        assert other.read_bytes() == kept
    with pytest.raises(HyperVizError, match="a folder"):
        finished_build(spec, tmp_path, overwrite=True)
    assert out.read_bytes() == before and out.stat().st_mtime_ns == mtime
    assert not (tmp_path / "zoo.h5.partial").exists()


def test_overwrite_replaces_a_zoo_of_other_arguments_when_the_new_one_is_complete(tmp_path):
    out = tmp_path / "zoo.h5"
    drive(build_zoo_job(tiny_spec(n_models=2, epochs=1), out, "cpu"))
    drive(build_zoo_job(tiny_spec(n_models=3, epochs=1), out, "cpu", overwrite=True))
    assert read_zoo(out).n_models == 3 and finished_build(tiny_spec(n_models=3, epochs=1), out)


def test_zoo_size_limits(tmp_path, monkeypatch):
    huge = ZooSpec(n_models=1_000_000, epochs=1000)
    assert huge.n_models * 1001 * huge.arch_spec().n_params * 4 > MAX_ZOO_BYTES
    with pytest.raises(HyperVizError, match=r"--models 1000000 --epochs 1000: .* TiB of weights, more than the 1\.0 TiB"):
        check_zoo_size(huge, tmp_path / "z.h5")
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(HyperVizError, match=r"but only 1000 bytes are free in "):
        drive(build_zoo_job(tiny_spec(), tmp_path / "deep" / "z.h5", "cpu"))
    assert not (tmp_path / "deep").exists()


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
    with pytest.raises(HyperVizError, match=r"--models 0: must be in 1\.\.1000000"):
        ZooSpec(n_models=0)
    with pytest.raises(HyperVizError, match=r"--seed -1: must be in 0\.\.4294967295"):
        ZooSpec(seed=-1)
    with pytest.raises(HyperVizError, match=r"--epochs 10001: must be in 0\.\.10000"):
        ZooSpec(epochs=10_001)
    with pytest.raises(HyperVizError, match="--models 2.5: must be a whole number"):
        ZooSpec(n_models=2.5)
    with pytest.raises(HyperVizError, match="does not fit task"):
        drive(build_zoo_job(tiny_spec(arch="modelzoo_cnn"), tmp_path / "x.h5", "cpu"))
