"""Importing Model Zoos directories and checkpoint folders; fixtures are written by the tests."""
import csv
import json
import logging
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from core.errors import HyperVizError
from core.progress import drive
from core.zoo.arch import KNOWN_ARCHS, ArchSpec
from core.zoo.importers import detect_format, import_zoo_job
from core.zoo.modules import build_module, state_dict_to_vector
from core.zoo.store import STATE_COLUMNS, read_zoo
from tests.modelzoos_layout import INDICES_DROPOUT, INDICES_PLAIN, MZ, mz_params, mz_state, result_line, write_model


def _run(src, out, spec=None, overwrite=False):
    records = []
    path = drive(import_zoo_job(src, out, spec, overwrite=overwrite), on_progress=records.append)
    return path, records


def _expected(spec, state):
    """The flat vector of ``state`` matched to ``spec`` by order (keys renamed to build_module's)."""
    params = [t for k, t in state.items() if t.is_floating_point()]
    return state_dict_to_vector(spec, {slot.key: t for slot, t in zip(spec.layout, params)}).numpy()


@pytest.fixture
def modelzoo(tmp_path):
    """3 models x 3 checkpoints: plain keys / dropout-shifted keys, checkpoint_N / checkpoint_00000N."""
    gen = torch.Generator().manual_seed(0)
    root = tmp_path / "tune_zoo_mnist"
    root.mkdir()
    (root / "config.json").write_text("{}")
    states = {}
    # a: checkpoints 0,1,2 named checkpoint_N; training_iteration t -> epoch t-1; a -999 entry
    states["a"] = {e: mz_state(gen, INDICES_PLAIN) for e in (0, 1, 2)}
    write_model(root, "trial_a_seed=1", mz_params("tanh", 0.0, 1), {f"checkpoint_{e}": s for e, s in states["a"].items()},
                 [result_line(1, 0.10, 0.11, val_acc=0.12, val_loss=2.3), result_line(2, 0.50, 0.40, val_acc=-999, val_loss=1.5),
                  result_line(3, 0.70, 0.60, test_loss=-999, val_acc=0.55, val_loss=1.2)])
    # b: dropout-shifted keys and an integer buffer, checkpoint_00000N naming, no val_* keys
    states["b"] = {e: mz_state(gen, INDICES_DROPOUT, extra_buffer=True) for e in (0, 1, 2)}
    write_model(root, "trial_b_seed=2", mz_params("relu", 0.5, 2), {f"checkpoint_{e:06d}": s for e, s in states["b"].items()},
                 [result_line(1, 0.09, 0.08), "", result_line(2, 0.30, 0.25), result_line(3, 0.45, 0.41)])
    # c: lost its checkpoint_0 but trained by the same script: epochs 1,2,3; lines without
    # training_iteration fall back to their position (line j -> epoch j, as the zoo has checkpoint_0)
    states["c"] = {e: mz_state(gen, INDICES_PLAIN) for e in (1, 2, 3)}
    write_model(root, "trial_c_seed=3", mz_params("gelu", 0.0, 3), {f"checkpoint_{e}": s for e, s in states["c"].items()},
                 [result_line(None, 0.1, 0.1), result_line(None, 0.2, 0.15), result_line(None, 0.3, 0.2), result_line(None, 0.4, 0.3)])
    (root / "trial_c_seed=3" / "checkpoint_1" / "optimizer").write_bytes(b"ignored")
    return root, states


def test_modelzoo_import_keeps_exact_weights_and_properties(modelzoo, tmp_path):
    root, states = modelzoo
    assert detect_format(root) == "modelzoos"
    path, records = _run(root, tmp_path / "zoo.h5")
    assert path == tmp_path / "zoo.h5" and path.is_file()
    assert [r.done for r in records] == [1, 2, 3, 3, 4] and records[-1].fraction == 1.0
    zoo = read_zoo(path)
    assert zoo.arch.name == "modelzoo_cnn" and zoo.weights.shape == (3, 4, 2464)
    assert zoo.epochs.tolist() == [0, 1, 2, 3]
    assert zoo.present.tolist() == [[True, True, True, False], [True, True, True, False], [False, True, True, True]]
    for i, key in enumerate("abc"):
        for epoch, state in states[key].items():
            assert np.array_equal(zoo.weights[i, epoch], _expected(MZ, state)), (key, epoch)
    nan = math.nan
    expect = {
        "train_acc": [[0.10, 0.50, 0.70, nan], [0.09, 0.30, 0.45, nan], [nan, 0.2, 0.3, 0.4]],
        "test_acc": [[0.11, 0.40, 0.60, nan], [0.08, 0.25, 0.41, nan], [nan, 0.15, 0.2, 0.3]],
        "test_loss": [[1.1, 1.1, nan, nan], [1.1, 1.1, 1.1, nan], [nan, 1.1, 1.1, 1.1]],
        "val_acc": [[0.12, nan, 0.55, nan], [nan] * 4, [nan] * 4],
        "val_loss": [[2.3, 1.5, 1.2, nan], [nan] * 4, [nan] * 4],
    }
    for name, values in expect.items():
        np.testing.assert_array_equal(zoo.states[name], np.array(values, dtype=np.float32), err_msg=name)
    np.testing.assert_array_equal(zoo.states["ggap"], zoo.states["train_acc"] - zoo.states["test_acc"])
    assert set(STATE_COLUMNS) <= set(zoo.states)
    assert zoo.models["model_id"].tolist() == ["trial_a_seed=1", "trial_b_seed=2", "trial_c_seed=3"]
    assert zoo.models["activation"].tolist() == ["tanh", "relu", "gelu"]
    assert zoo.models["init"].tolist() == ["uniform"] * 3
    assert zoo.models["dropout"].tolist() == [0.0, 0.5, 0.0]
    assert zoo.models["optimizer"].tolist() == ["adam"] * 3
    assert zoo.models["lr"].tolist() == [3e-4] * 3 and zoo.models["weight_decay"].tolist() == [0.0] * 3
    assert zoo.models["seed"].tolist() == [1, 2, 3]
    assert zoo.models["optim_momentum"].tolist() == [0.9] * 3
    assert zoo.models["training_epochs_train"].tolist() == [3] * 3 and zoo.models["model_type"].tolist() == ["CNN"] * 3
    assert "model_nlin" not in zoo.models and "scheduler" not in zoo.models
    assert zoo.task == {"name": "MNIST"}
    assert zoo.source == {"imported_from": str(root), "format": "modelzoos"}


def test_without_checkpoint_0_iteration_t_is_epoch_t(tmp_path):
    gen = torch.Generator().manual_seed(1)
    root = tmp_path / "zoo"
    s1, s2 = mz_state(gen, INDICES_PLAIN), mz_state(gen, INDICES_PLAIN)
    params = mz_params("tanh", 0.0, 5)
    del params["dataset::dump"]
    write_model(root, "m", params, {"checkpoint_1": s1, "checkpoint_2": s2},
                 [result_line(1, 0.3, 0.2), result_line(2, 0.6, 0.5)])
    zoo = read_zoo(_run(root / "m", tmp_path / "z.h5")[0])      # a single model directory works too
    assert zoo.epochs.tolist() == [1, 2] and zoo.present.all()
    np.testing.assert_array_equal(zoo.states["train_acc"][0], np.array([0.3, 0.6], dtype=np.float32))
    assert np.array_equal(zoo.weights[0, 1], _expected(MZ, s2))
    assert zoo.task == {"name": "unknown"} and zoo.models["model_id"].tolist() == ["m"]


# ---- folder of checkpoints ---------------------------------------------------------------
def test_safetensors_folder_with_csv(tmp_path, caplog):
    spec = KNOWN_ARCHS["cnn"]
    src = tmp_path / "ckpts"
    src.mkdir()
    torch.manual_seed(0)
    sds = [build_module(spec, "relu").state_dict() for _ in range(3)]
    for k, sd in enumerate(sds):
        save_file({key: t.contiguous() for key, t in sd.items()}, src / f"net{k}.safetensors")
    save_file({key: t.contiguous() for key, t in sds[0].items()}, src / "stray.safetensors")
    rows = [
        {"file": "net2.safetensors", "activation": "relu", "lr": "0.01", "seed": "7", "train_acc": "0.9", "test_acc": "0.8", "sparsity": "0.25"},
        {"file": "net0.safetensors", "activation": "tanh", "lr": "0.001", "seed": "3", "train_acc": "0.7", "test_acc": "", "sparsity": "0.5"},
        {"file": "net1.safetensors", "activation": "relu", "lr": "0.01", "seed": "4", "train_acc": "0.6", "test_acc": "0.55", "sparsity": "0"},
    ]
    with open(src / "properties.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert detect_format(src) == "folder"
    with caplog.at_level(logging.WARNING, logger="core.zoo.importers"):
        path, _ = _run(src, tmp_path / "out" / "zoo.h5")
    assert "stray.safetensors" in caplog.text
    zoo = read_zoo(path)
    assert zoo.arch.name == "cnn" and zoo.weights.shape == (3, 1, spec.n_params)
    assert zoo.epochs.tolist() == [0] and zoo.present.all()
    for i, k in enumerate((2, 0, 1)):
        assert np.array_equal(zoo.weights[i, 0], state_dict_to_vector(spec, sds[k]).numpy())
    assert zoo.models["model_id"].tolist() == ["net2", "net0", "net1"]
    assert zoo.models["activation"].tolist() == ["relu", "tanh", "relu"]
    assert zoo.models["lr"].tolist() == [0.01, 0.001, 0.01] and zoo.models["seed"].tolist() == [7, 3, 4]
    np.testing.assert_array_equal(zoo.states["train_acc"][:, 0], np.array([0.9, 0.7, 0.6], dtype=np.float32))
    np.testing.assert_array_equal(zoo.states["sparsity"][:, 0], np.array([0.25, 0.5, 0.0], dtype=np.float32))
    assert np.isnan(zoo.states["test_acc"][1, 0]) and np.isnan(zoo.states["val_loss"]).all()
    np.testing.assert_allclose(zoo.states["ggap"][[0, 2], 0], [0.1, 0.05], rtol=1e-5)
    assert zoo.source["format"] == "folder" and zoo.task == {"name": "unknown"}


def test_pt_folder_groups_rows_by_model_id_and_epoch(tmp_path):
    spec = KNOWN_ARCHS["mlp"]
    src = tmp_path / "pts"
    src.mkdir()
    torch.manual_seed(1)
    sds, rows = {}, []
    for model in ("x", "y"):
        for epoch in (0, 5):
            if model == "y" and epoch == 0:
                continue
            sd = build_module(spec, "tanh", 0.2).state_dict()
            sds[model, epoch] = sd
            name = f"{model}_{epoch}.pt"
            torch.save({"state_dict": sd, "epoch": epoch} if model == "x" else sd, src / name)
            rows.append({"file": name, "model_id": model, "epoch": epoch, "optimizer": "sgd", "dropout": 0.2,
                         "test_acc": 0.1 * (epoch + 1), "train_acc": 0.2 * (epoch + 1)})
    (src / "table.json").write_text(json.dumps(rows))
    zoo = read_zoo(_run(src, tmp_path / "zoo.h5")[0])
    assert zoo.arch.name == "mlp" and zoo.epochs.tolist() == [0, 5]
    assert zoo.present.tolist() == [[True, True], [False, True]]
    for (model, epoch), sd in sds.items():
        i, j = "xy".index(model), [0, 5].index(epoch)
        assert np.array_equal(zoo.weights[i, j], state_dict_to_vector(spec, sd).numpy())
    assert zoo.models["model_id"].tolist() == ["x", "y"] and zoo.models["optimizer"].tolist() == ["sgd", "sgd"]
    assert zoo.models["dropout"].tolist() == [0.2, 0.2] and "dropout" not in zoo.states
    np.testing.assert_allclose(zoo.states["ggap"], [[0.1, 0.6], [np.nan, 0.6]], rtol=1e-5)


def test_unknown_architecture_needs_a_spec_file(tmp_path):
    spec = ArchSpec("tiny", (4,), ({"type": "linear", "in": 4, "out": 3}, {"type": "act"}, {"type": "linear", "in": 3, "out": 2}))
    src = tmp_path / "pts"
    src.mkdir()
    sd = build_module(spec).state_dict()
    torch.save(sd, src / "a.pt")
    (src / "properties.json").write_text(json.dumps({"file": ["a.pt"], "test_acc": [0.5]}))
    with pytest.raises(HyperVizError, match=r"parameter shapes \[3x4, 3, 2x3, 2\] match no known architecture; pass --arch-spec FILE") as err:
        _run(src, tmp_path / "zoo.h5")
    assert "a.pt" in str(err.value)
    (tmp_path / "tiny.json").write_text(spec.to_json())
    zoo = read_zoo(_run(src, tmp_path / "zoo.h5", tmp_path / "tiny.json")[0])
    assert zoo.arch == spec and np.array_equal(zoo.weights[0, 0], state_dict_to_vector(spec, sd).numpy())
    with pytest.raises(HyperVizError, match=r"do not match architecture 'cnn'"):
        (tmp_path / "cnn.json").write_text(KNOWN_ARCHS["cnn"].to_json())
        _run(src, tmp_path / "zoo2.h5", tmp_path / "cnn.json")
    _assert_one_line_error(src, tmp_path / "zoo2.h5", r"missing.json: no such architecture spec file", tmp_path / "missing.json")
    # in a Model Zoos directory the error names the model directory
    root = tmp_path / "mz"
    write_model(root, "trial_x", mz_params("tanh", 0.0, 1), {"checkpoint_0": sd}, [result_line(1, 0.1, 0.1)])
    message = _assert_one_line_error(root, tmp_path / "zoo2.h5", r"trial_x: parameter shapes \[3x4, 3, 2x3, 2\]")
    assert "checkpoint_0" not in message
    zoo = read_zoo(_run(root, tmp_path / "zoo3.h5", tmp_path / "tiny.json")[0])
    assert np.array_equal(zoo.weights[0, 0], state_dict_to_vector(spec, sd).numpy())


# ---- bad inputs --------------------------------------------------------------------------
SIDE_EFFECTS = []


def _side_effect(marker):
    SIDE_EFFECTS.append(marker)
    return marker


class Payload:
    """Unpickling this object calls _side_effect: a stand-in for code run from a file."""

    def __reduce__(self):
        return (_side_effect, ("ran",))


def _assert_one_line_error(src, out, match, spec=None, overwrite=False):
    with pytest.raises(HyperVizError, match=match) as err:
        _run(src, out, spec, overwrite)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_refuses_files_that_need_unpickling(tmp_path):
    src = tmp_path / "pts"
    src.mkdir()
    torch.save({"0.weight": torch.zeros(2), "payload": Payload()}, src / "evil.pt")
    (src / "properties.csv").write_text("file\nevil.pt\n")
    message = _assert_one_line_error(src, tmp_path / "zoo.h5", r"needs arbitrary unpickling; refusing to run code")
    assert str(src / "evil.pt") in message
    assert SIDE_EFFECTS == [] and not (tmp_path / "zoo.h5").exists()


def test_refuses_pickled_modelzoo_checkpoint(modelzoo, tmp_path):
    root, _ = modelzoo
    torch.save({"payload": Payload()}, root / "trial_b_seed=2" / "checkpoint_000001" / "checkpoints")
    message = _assert_one_line_error(root, tmp_path / "zoo.h5", r"needs arbitrary unpickling")
    assert "checkpoint_000001" in message and SIDE_EFFECTS == []


def test_bad_sources(tmp_path):
    out = tmp_path / "zoo.h5"
    _assert_one_line_error(tmp_path / "nope", out, r"nope: no such file or directory")
    (tmp_path / "empty").mkdir()
    _assert_one_line_error(tmp_path / "empty", out, r"empty: empty directory")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "readme.txt").write_text("hi")
    (tmp_path / "other" / "sub").mkdir()
    _assert_one_line_error(tmp_path / "other", out, r"other: neither a Model Zoos directory")
    (tmp_path / "file.txt").write_text("x")
    _assert_one_line_error(tmp_path / "file.txt", out, r"not a directory")


def test_mismatched_shapes_nan_weights_and_bad_result_lines(modelzoo, tmp_path):
    """A failed import leaves the file at --out as it was, even when it was allowed to replace it."""
    root, states = modelzoo
    out = tmp_path / "zoo.h5"
    out.write_bytes(b"an earlier zoo")
    ckpt = root / "trial_c_seed=3" / "checkpoint_2" / "checkpoints"
    good = torch.load(ckpt, weights_only=True)

    wrong = OrderedDict(good)
    wrong["module_list.9.weight"] = torch.zeros(21, 36)
    torch.save(wrong, ckpt)
    message = _assert_one_line_error(root, out, overwrite=True, match=r"parameter shapes .*21x36.* differ from .*20x36")
    assert str(ckpt) in message

    bad = OrderedDict(good)
    bad["module_list.3.bias"] = bad["module_list.3.bias"].clone()
    bad["module_list.3.bias"][2] = math.inf
    torch.save(bad, ckpt)
    assert str(ckpt) in _assert_one_line_error(root, out, overwrite=True, match=r"1 weights are NaN or infinite")
    torch.save(good, ckpt)

    result = root / "trial_b_seed=2" / "result.json"
    lines = result.read_text().splitlines()
    result.write_text("\n".join(lines[:3] + ['{"train_acc": 0.5, "test_'] + lines[3:]))
    _assert_one_line_error(root, out, overwrite=True, match=rf"{result}: line 4 is not valid JSON")
    result.unlink()
    _assert_one_line_error(root, out, overwrite=True, match=r"trial_b_seed=2: no result.json")
    assert out.read_bytes() == b"an earlier zoo"
    assert not out.with_name("zoo.h5.partial").exists()


def test_csv_naming_missing_files(tmp_path):
    src = tmp_path / "ckpts"
    src.mkdir()
    sd = build_module(KNOWN_ARCHS["cnn"]).state_dict()
    save_file({k: t.contiguous() for k, t in sd.items()}, src / "a.safetensors")
    (src / "properties.csv").write_text("file,test_acc\na.safetensors,0.5\nb.safetensors,0.4\nc.safetensors,0.3\n")
    message = _assert_one_line_error(src, tmp_path / "zoo.h5", r"properties.csv: 2 listed file\(s\) do not exist")
    assert "'b.safetensors'" in message
    (src / "properties.csv").write_text("name,test_acc\na.safetensors,0.5\n")
    _assert_one_line_error(src, tmp_path / "zoo.h5", r"properties.csv: every row needs a 'file'")
    (src / "junk.pt").write_bytes(b"not a checkpoint at all")
    (src / "properties.csv").write_text("file\njunk.pt\n")
    _assert_one_line_error(src, tmp_path / "zoo.h5", r"junk.pt: not a readable torch checkpoint")
    (src / "junk.pt").write_bytes(b"PK\x03\x04 truncated zip")
    _assert_one_line_error(src, tmp_path / "zoo.h5", r"junk.pt: not a readable torch checkpoint")
    (src / "junk.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    (src / "properties.csv").write_text("file\njunk.safetensors\n")
    _assert_one_line_error(src, tmp_path / "zoo.h5", r"junk.safetensors: not a readable safetensors file")


def test_epochs_out_of_range_are_one_line(modelzoo, tmp_path):
    root, _ = modelzoo
    model = root / "trial_a_seed=1"
    for name in ("checkpoint_99999999999", "checkpoint_" + "9" * 240):
        big = model / name
        big.mkdir()
        (big / "checkpoints").write_bytes((model / "checkpoint_2" / "checkpoints").read_bytes())
        message = _assert_one_line_error(root, tmp_path / "zoo.h5", r"checkpoint_9+.*: epoch 9+.* is out of range \(0\.\.2147483647\)")
        assert len(message) < 600
        (big / "checkpoints").unlink()
        big.rmdir()
    src = tmp_path / "ckpts"
    src.mkdir()
    sd = build_module(KNOWN_ARCHS["cnn"]).state_dict()
    save_file({k: t.contiguous() for k, t in sd.items()}, src / "a.safetensors")
    for epoch in ("99999999999", "-1"):
        (src / "properties.csv").write_text(f"file,epoch\na.safetensors,{epoch}\n")
        _assert_one_line_error(src, tmp_path / "zoo.h5", rf"properties.csv: epoch {epoch} of 'a.safetensors' is out of range")
    assert not (tmp_path / "zoo.h5").exists()


def test_files_outside_the_source_folder_are_refused(tmp_path):
    src = tmp_path / "ckpts"
    src.mkdir()
    sd = build_module(KNOWN_ARCHS["cnn"]).state_dict()
    save_file({k: t.contiguous() for k, t in sd.items()}, src / "a.safetensors")
    save_file({k: t.contiguous() for k, t in sd.items()}, tmp_path / "outside.safetensors")
    (src / "link.safetensors").symlink_to(tmp_path / "outside.safetensors")
    for name in ("../outside.safetensors", str(tmp_path / "outside.safetensors"), "link.safetensors"):
        (src / "properties.csv").write_text(f"file,test_acc\na.safetensors,0.5\n{name},0.4\n")
        message = _assert_one_line_error(src, tmp_path / "zoo.h5", r"properties.csv: file '.*' is outside .*ckpts "
                                                                   r"\(only files inside the source folder are imported\)")
        assert repr(name) in message
    (src / "properties.csv").write_text("file,test_acc\na.safetensors,0.5\n./a.safetensors,0.4\n")
    # inside, if spelled oddly - and the same file as the first row: one file is never two models
    _assert_one_line_error(src, tmp_path / "zoo.h5", r"file '\./a\.safetensors' is listed in rows 1 and 2")
    (src / "properties.csv").write_text("file,test_acc\n./a.safetensors,0.4\n")
    assert read_zoo(_run(src, tmp_path / "zoo.h5")[0]).n_models == 1


def test_an_existing_output_is_kept_unless_overwrite(tmp_path):
    src = tmp_path / "ckpts"
    src.mkdir()
    sd = build_module(KNOWN_ARCHS["cnn"]).state_dict()
    save_file({k: t.contiguous() for k, t in sd.items()}, src / "a.safetensors")
    (src / "properties.csv").write_text("file,test_acc\na.safetensors,0.5\n")
    out = tmp_path / "zoo.h5"
    out.write_bytes(b"a workspace, say")
    _assert_one_line_error(src, out, r"zoo\.h5: already exists, a file that is not HDF5; not replaced \(pass --overwrite")
    assert out.read_bytes() == b"a workspace, say"
    assert read_zoo(_run(src, out, overwrite=True)[0]).n_models == 1
    _assert_one_line_error(src, tmp_path, r"a folder; the zoo must be written to a file", overwrite=True)


def _bomb(path, expands_to: int):
    """A torch zip whose one data entry is deflate-compressed: a few KB on disk, ``expands_to`` bytes in memory."""
    import io
    import zipfile

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(4)}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data/0"):
                data = bytes(expands_to)
            dst.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)


def test_a_compressed_checkpoint_is_refused_before_it_expands(tmp_path, monkeypatch):
    from core.zoo.importers.checkpoints import checkpoint_limit

    monkeypatch.delenv("HYPERVIZ_MAX_CHECKPOINT_MB", raising=False)
    assert checkpoint_limit() == 256 * 2**20
    monkeypatch.setenv("HYPERVIZ_MAX_CHECKPOINT_MB", "16")           # the limit is configurable
    src = tmp_path / "bomb"
    src.mkdir()
    _bomb(src / "m.pt", 64 * 2**20)
    assert (src / "m.pt").stat().st_size < 2**20
    (src / "properties.csv").write_text("file,test_acc\nm.pt,0.5\n")
    message = _assert_one_line_error(src, tmp_path / "zoo.h5", r"m\.pt: its zip entries expand to 64\.0 MiB, "
                                                               r"more than the 16\.0 MiB a checkpoint may take; not decompressed")
    assert "HYPERVIZ_MAX_CHECKPOINT_MB" in message
    (src / "m.pt").write_bytes(bytes(17 * 2**20))
    _assert_one_line_error(src, tmp_path / "zoo.h5", r"m\.pt: 17\.0 MiB, more than the 16\.0 MiB a checkpoint may take")
    _bomb(src / "m.pt", 2**20)                                        # under the limit: read as usual
    _assert_one_line_error(src, tmp_path / "zoo.h5", r"m\.pt: (?!its zip)")


def _one_checkpoint_folder(tmp_path, table: str, name: str = "properties.csv"):
    src = tmp_path / "ckpts"
    src.mkdir(exist_ok=True)
    sd = build_module(KNOWN_ARCHS["cnn"]).state_dict()
    for f in ("a.safetensors", "b.safetensors"):
        save_file({k: t.contiguous() for k, t in sd.items()}, src / f)
    (src / name).write_text(table)
    return src


@pytest.mark.parametrize("table, message", [
    ("file,test_acc\na.safetensors,0.5\na.safetensors,0.5\n", r"file 'a\.safetensors' is listed in rows 1 and 2"),
    ("file,model_id,epoch\na.safetensors,m,0\na.safetensors,m,1\n", r"file 'a\.safetensors' is listed in rows 1 and 2"),
    ("file,lr,lr\na.safetensors,0.1,0.2\n", r"the header names column 'lr' twice"),
    ("file,l r,l-r\na.safetensors,0.1,0.2\n", r"the header names column 'l_r' as 'l r' and 'l-r'"),
    ("file,test_acc\na.safetensors,0.5\x00\n", r"a NUL byte at line 2; not a text table"),
    ("file,epoch\na.safetensors,-3\n", r"epoch -3 of 'a\.safetensors' is out of range"),
])
def test_hostile_tables_are_one_line(tmp_path, table, message):
    src = _one_checkpoint_folder(tmp_path, table)
    _assert_one_line_error(src, tmp_path / "zoo.h5", message)


def test_json_table_with_two_spellings_of_one_column(tmp_path):
    src = _one_checkpoint_folder(tmp_path, json.dumps([{"file": "a.safetensors", "test acc": 0.1, "test_acc": 0.2}]),
                                 "properties.json")
    _assert_one_line_error(src, tmp_path / "zoo.h5", r"row 1 names column 'test_acc' as 'test acc' and 'test_acc'")


def test_nan_and_infinite_cells_are_missing_values_with_a_warning(tmp_path, caplog):
    src = _one_checkpoint_folder(tmp_path, "file,test_acc,score\na.safetensors,nan,inf\nb.safetensors,0.5,1.0\n")
    with caplog.at_level(logging.WARNING):
        zoo = read_zoo(_run(src, tmp_path / "zoo.h5")[0])
    assert "2 NaN or infinite cell(s)" in caplog.text and "read as missing values" in caplog.text
    assert np.isnan(zoo.states["test_acc"][0, 0]) and np.isnan(zoo.states["score"][0, 0])
    assert np.isfinite(zoo.states["score"][1, 0])


def test_result_json_nan_infinity_and_bad_iterations(modelzoo, tmp_path, caplog):
    root, _states = modelzoo
    result = root / "trial_a_seed=1" / "result.json"
    lines = result.read_text().splitlines()
    result.write_text("\n".join([lines[0].replace("0.1", "NaN", 1), lines[1].replace("0.5", "Infinity", 1), *lines[2:]]))
    with caplog.at_level(logging.WARNING):
        zoo = read_zoo(_run(root, tmp_path / "zoo.h5")[0])
    assert "2 NaN or Infinity value(s) read as not measured" in caplog.text
    for name in STATE_COLUMNS:
        values = zoo.states[name]
        assert not np.isinf(values).any(), name                           # never stored as infinities
    for bad in ("-3", "0", "1.5", "99999999999999", '"x"'):
        result.write_text("\n".join([json.dumps({**json.loads(lines[0]), "training_iteration": 1}).replace(
            '"training_iteration": 1', f'"training_iteration": {bad}'), *lines[1:]]))
        _assert_one_line_error(root, tmp_path / "zoo2.h5", r"result\.json: line 1: training_iteration .* is not a whole number")


def test_nul_in_params_json_is_one_line(modelzoo, tmp_path):
    root, _states = modelzoo
    params = root / "trial_a_seed=1" / "params.json"
    obj = json.loads(params.read_text())
    obj["model::nlin"] = "tanh\u0000x"
    params.write_text(json.dumps(obj))
    _assert_one_line_error(root, tmp_path / "zoo.h5", r"params\.json: 'model::nlin' holds a NUL character")
