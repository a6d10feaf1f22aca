"""The HDF5 zoo file: round trip, content hash, and damaged or foreign files."""
import os

import h5py
import numpy as np
import pytest

from core.errors import HyperVizError
from core.zoo.arch import KNOWN_ARCHS
from core.zoo.store import Zoo, ZooWriter, describe_file, open_zoo_file, read_zoo, write_zoo, zoo_hash, zoo_info


def make_zoo(n_models=4, n_ckpt=3, seed=0) -> Zoo:
    rng = np.random.default_rng(seed)
    arch = KNOWN_ARCHS["cnn"]
    present = np.ones((n_models, n_ckpt), dtype=bool)
    present[0, -1] = False
    return Zoo(
        archs=arch,
        weights=rng.normal(size=(n_models, n_ckpt, arch.n_params)).astype(np.float32),
        epochs=np.arange(n_ckpt, dtype=np.int32),
        states={"test_acc": rng.random((n_models, n_ckpt)).astype(np.float32),
                "train_acc": np.full((n_models, n_ckpt), np.nan, dtype=np.float32)},
        models={"model_id": np.array([f"m{i}" for i in range(n_models)]), "activation": np.array(["relu", "tanh"] * (n_models // 2)),
                "lr": np.linspace(1e-3, 1e-2, n_models)},
        task={"name": "digits"},
        source={"test": True},
        present=present,
    )


def test_round_trip_keeps_every_value(tmp_path):
    zoo = make_zoo()
    path = write_zoo(tmp_path / "z.h5", zoo)
    back = read_zoo(path)
    np.testing.assert_array_equal(back.weights, zoo.weights)
    np.testing.assert_array_equal(back.present, zoo.present)
    np.testing.assert_array_equal(back.states["test_acc"], zoo.states["test_acc"])
    assert np.isnan(back.states["train_acc"]).all()
    assert back.models["activation"].tolist() == zoo.models["activation"].tolist()
    np.testing.assert_array_equal(back.models["lr"], zoo.models["lr"])
    assert back.arch == zoo.arch and back.task == zoo.task and back.source == zoo.source
    table = back.state_table()
    assert len(table["epoch"]) == zoo.present.sum() == len(back.state_weights())
    with h5py.File(path) as f:
        assert f["weights"].chunks[0] >= 1 and f["weights"].compression is None


def test_content_hash_follows_content_not_timestamps(tmp_path):
    a = write_zoo(tmp_path / "a.h5", make_zoo())
    b = write_zoo(tmp_path / "b.h5", make_zoo())
    c = write_zoo(tmp_path / "c.h5", make_zoo(seed=1))
    assert zoo_hash(a) == zoo_hash(b) != zoo_hash(c)
    info = zoo_info(a)
    assert info["models"] == 4 and info["model_states"] == 11 and info["parameters"] == KNOWN_ARCHS["cnn"].n_params


def test_rewriting_keeps_the_old_file_until_the_new_one_is_complete(tmp_path):
    path = write_zoo(tmp_path / "z.h5", make_zoo())
    before = path.read_bytes()
    bad = make_zoo()
    bad.states["test_acc"] = np.zeros((2, 2), dtype=np.float32)   # wrong shape: refused up front
    with pytest.raises(HyperVizError, match="test_acc"):
        Zoo(**{**bad.__dict__})
    assert path.read_bytes() == before


def test_a_partial_zoo_resumes_only_for_the_same_chunks(tmp_path):
    zoo = make_zoo()
    path = tmp_path / "zoo.h5"

    def writer(chunks):
        return ZooWriter(path, zoo.archs, zoo.epochs, zoo.models, zoo.task, zoo.source, chunks)

    first = writer([[0, 1], [2, 3]])
    first.write_chunk(0, np.array([0, 1]), zoo.weights[:2], {})
    again = writer([[0, 1], [2, 3]])
    assert again.resumed and again.done.tolist() == [True, False]
    other_plan = writer([[0, 2], [1, 3]])                 # the same source cut into other chunks
    assert not other_plan.resumed and other_plan.done.tolist() == [False, False]
    with pytest.raises(ValueError, match="1 models are in no chunk"):
        writer([[0, 1], [2]])


def test_missing_truncated_foreign_and_incomplete_files(tmp_path):
    with pytest.raises(HyperVizError, match="no such file"):
        read_zoo(tmp_path / "nope.h5")
    good = write_zoo(tmp_path / "z.h5", make_zoo())
    truncated = tmp_path / "t.h5"
    truncated.write_bytes(good.read_bytes()[:4000])
    with pytest.raises(HyperVizError, match="not a readable HDF5 file"):
        read_zoo(truncated)
    foreign = tmp_path / "f.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(HyperVizError, match="not a hyperviz zoo"):
        read_zoo(foreign)
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(HyperVizError, match="not a readable HDF5"):
        read_zoo(text)
    incomplete = tmp_path / "i.h5"
    incomplete.write_bytes(good.read_bytes())
    with h5py.File(incomplete, "r+") as f:
        f.attrs["complete"] = False
    with pytest.raises(HyperVizError, match="incomplete"):
        open_zoo_file(incomplete)
    newer = tmp_path / "n.h5"
    newer.write_bytes(good.read_bytes())
    with h5py.File(newer, "r+") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(HyperVizError, match="schema version 99"):
        read_zoo(newer)
    (tmp_path / "p.h5.partial").write_bytes(b"")
    with pytest.raises(HyperVizError, match="interrupted"):
        read_zoo(tmp_path / "p.h5")


def test_only_regular_files_are_opened(tmp_path):
    fifo = tmp_path / "fifo.h5"
    os.mkfifo(fifo)                         # opening it for reading would wait for a writer forever
    with pytest.raises(HyperVizError, match=r"fifo\.h5: not a regular file \(a FIFO, device or socket\), so not a zoo file"):
        read_zoo(fifo)
    with pytest.raises(HyperVizError, match=r": a folder, not a zoo file"):
        read_zoo(tmp_path)
    with pytest.raises(HyperVizError, match=r"cannot be opened \(File name too long\)"):
        read_zoo(tmp_path / ("x" * 300))
    assert describe_file(fifo) == "not a regular file (a FIFO, device or socket)"
    assert describe_file(tmp_path / "none.h5") is None and describe_file(tmp_path) == "a folder"
    assert describe_file(write_zoo(tmp_path / "z.h5", make_zoo())) == "a hyperviz zoo"
