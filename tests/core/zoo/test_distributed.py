"""Zoo builds on Ray: the same zoo as without, chunks written as they arrive, resume, one-line errors.

Needs ``pip install -e ".[ray]"``; the tests that start a cluster are skipped without it. Clusters
are small (one CPU) and shut down at the end.
"""
import json
import socket
import sys

import numpy as np
import pytest

from core.errors import HyperVizError
from core.progress import drive
from core.zoo.population import build_zoo_job, chunk_plan, model_configs, train_chunk, train_spec_chunk
from core.zoo.spec import ZooSpec
from core.zoo.store import read_zoo, zoo_hash
from core.zoo.tasks import get_task
from hyperviz.cli import main

GRID = {"activation": ["relu", "tanh"], "init": ["kaiming_uniform"], "optimizer": ["adam", "sgd"],
        "lr": [1e-2], "weight_decay": [0.0], "dropout": [0.0, 0.2]}


def spec(**kw) -> ZooSpec:
    return ZooSpec(**{"n_models": 8, "epochs": 2, "grid": GRID, "chunk_size": 2, **kw})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The zoo of :func:`spec` built without Ray (the reference every Ray build must equal)."""
    path = tmp_path_factory.mktemp("plain") / "zoo.h5"
    drive(build_zoo_job(spec(), path, "cpu"))
    return path


# ---- without a cluster ---------------------------------------------------------------------------
def test_the_pure_chunk_function_gives_the_chunk_train_chunk_gives():
    s = spec(n_models=4)
    configs = model_configs(s)
    rows = chunk_plan(configs, s.chunk_size)[1]
    weights, states = train_spec_chunk(s.to_dict(), 1, "cpu", threads=1)
    ref_w, ref_s = drive(train_chunk(s.arch_spec(), get_task("digits"), [configs[i] for i in rows], 2, 32, "cpu"))
    np.testing.assert_array_equal(weights, ref_w)
    np.testing.assert_array_equal(states["test_acc"], ref_s["test_acc"])


def test_without_ray_installed_the_build_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)               # import ray -> ImportError
    out = tmp_path / "zoo.h5"
    assert main(["zoo", "build", "--models", "2", "--epochs", "1", "--out", str(out), "--ray", "local", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['error: --ray: the ray package is not installed (install it with pip install -e ".[ray]")']
    assert not out.exists() and not (tmp_path / "zoo.h5.partial").exists()


def test_ray_cpus_belongs_to_a_local_cluster(tmp_path, capsys):
    out = str(tmp_path / "zoo.h5")
    assert main(["zoo", "build", "--models", "2", "--epochs", "1", "--out", out, "--ray-cpus", "1", "-q"]) == 2
    assert "--ray-cpus: only with --ray local" in capsys.readouterr().err
    assert main(["zoo", "build", "--models", "2", "--epochs", "1", "--out", out, "--ray", "127.0.0.1:1",
                 "--ray-cpus", "1", "-q"]) == 2
    assert "--ray-cpus: only with --ray local" in capsys.readouterr().err


# ---- with a cluster --------------------------------------------------------------------------------
def test_a_local_cluster_build_equals_the_plain_build_and_is_shut_down(plain, tmp_path, capsys):
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()
    out, grid = tmp_path / "zoo.h5", tmp_path / "grid.json"
    grid.write_text(json.dumps(GRID))
    assert main(["zoo", "build", "--models", "8", "--epochs", "2", "--chunk-size", "2", "--grid", str(grid),
                 "--out", str(out), "--ray", "local", "--ray-cpus", "1", "--device", "cpu", "-q"]) == 0
    capsys.readouterr()
    assert not ray.is_initialized()                         # the cluster it started is gone
    # the plain build ran in this process with one thread (tests/conftest.py); the CLI passes the
    # driver's thread count to every task, so the bits match
    assert zoo_hash(out) == zoo_hash(plain)


def test_an_unreachable_address_is_one_line_and_quick(tmp_path, capsys):
    pytest.importorskip("ray")
    address = f"127.0.0.1:{free_port()}"                      # nothing listens there
    out = tmp_path / "zoo.h5"
    assert main(["zoo", "build", "--models", "2", "--epochs", "1", "--out", str(out), "--ray", address, "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: --ray {address}: no Ray cluster answers there (")
    assert "ray start --head" in err[0]
    assert main(["zoo", "build", "--models", "2", "--epochs", "1", "--out", str(out), "--ray", "nonsense", "-q"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --ray nonsense: expected local, auto, HOST:PORT or "
                                               "ray://HOST:PORT")


def test_chunks_are_written_as_they_arrive_and_an_interrupted_build_resumes(cluster, plain, tmp_path):
    out = tmp_path / "zoo.h5"
    job = build_zoo_job(spec(), out, "cpu", ray="local")
    written = None
    for record in job:                                         # stop once the first chunk is in the file
        if "written" in record.message:
            written = record
            break
    job.close()
    assert written is not None and written.done == 2 * 2       # one chunk: 2 models x 2 epochs
    assert cluster.is_initialized()                            # a cluster it did not start stays up
    import h5py

    with h5py.File(tmp_path / "zoo.h5.partial", "r") as f:
        assert int(f["build/done"][()].sum()) == 1             # the driver wrote that chunk, and only it
    assert not out.exists()

    records = []
    path = drive(build_zoo_job(spec(), out, "cpu", ray="local"), on_progress=records.append)
    assert records[0].message == "resuming" and records[0].done == 4
    assert sum("written" in r.message for r in records) == len(chunk_plan(model_configs(spec()), 2)) - 1
    assert zoo_hash(path) == zoo_hash(plain)
    np.testing.assert_array_equal(read_zoo(path).weights, read_zoo(plain).weights)


def test_a_ray_build_resumed_without_ray_is_the_same_zoo(cluster, plain, tmp_path):
    out = tmp_path / "zoo.h5"
    job = build_zoo_job(spec(), out, "cpu", ray="local")
    for record in job:
        if "written" in record.message:
            break
    job.close()
    assert drive(build_zoo_job(spec(), out, "cpu")) == out     # the rest trained here
    assert zoo_hash(out) == zoo_hash(plain)


def test_a_failing_task_is_one_line_naming_the_chunk(cluster, tmp_path, monkeypatch):
    from core.zoo import distributed

    def broken_chunk(spec, chunk, device, threads):          # nested: Ray ships it by value
        raise ValueError("no such task 'x'")

    monkeypatch.setattr(distributed, "_task_function", lambda: broken_chunk)
    with pytest.raises(HyperVizError, match=r"^--ray: chunk \d+ \(2 models\) failed on the cluster \(.*no such task.*\); "
                                            r"the chunks written so far are kept, re-run to resume$"):
        drive(build_zoo_job(spec(n_models=4), tmp_path / "zoo.h5", "cpu", ray="local"))
    assert (tmp_path / "zoo.h5.partial").exists() and not (tmp_path / "zoo.h5").exists()


def test_tasks_train_on_one_thread_whatever_the_drivers_thread_count(cluster, tmp_path):
    import torch

    grid = {"activation": ["relu", "tanh"], "init": ["kaiming_uniform"], "optimizer": ["adam", "sgd"],
            "lr": [1e-2], "weight_decay": [0.0], "dropout": [0.0, 0.2]}
    s = ZooSpec(n_models=6, epochs=2, grid=grid, chunk_size=3)  # chunks whose bits a second thread moves
    assert not np.array_equal(train_spec_chunk(s.to_dict(), 0, "cpu", threads=1)[0],
                              train_spec_chunk(s.to_dict(), 0, "cpu", threads=2)[0])   # the premise
    one = drive(build_zoo_job(s, tmp_path / "one.h5", "cpu"))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        on_ray = drive(build_zoo_job(s, tmp_path / "ray.h5", "cpu", ray="local"))
    finally:
        torch.set_num_threads(before)
    assert zoo_hash(on_ray) == zoo_hash(one)
