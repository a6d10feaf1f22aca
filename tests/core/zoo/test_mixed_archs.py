"""Zoos of several architectures: building, the schema-2 file, older files, merging, importing."""
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from core.errors import HyperVizError
from core.progress import drive
from core.zoo.arch import KNOWN_ARCHS, parse_arch_list
from core.zoo.importers import import_zoo_job
from core.zoo.merge import merge_zoos_job
from core.zoo.modules import build_module, vector_to_state_dict
from core.zoo.population import build_zoo_job, chunk_plan, model_configs
from core.zoo.spec import ZooSpec
from core.zoo.store import SCHEMA_VERSION, Zoo, read_zoo, write_zoo, zoo_info

SCHEMA1 = Path(__file__).parent / "data" / "schema1-cnn.h5"
GRID = {"activation": ["relu", "tanh"], "optimizer": ["adam"], "lr": [0.01], "init": ["kaiming_uniform"],
        "weight_decay": [0.0], "dropout": [0.0]}


def small_zoo(archs=("cnn", "mlp"), n=4, epochs=2, seed=0, task="digits") -> Zoo:
    """An in-memory zoo of random weights, models alternating over ``archs``."""
    rng = np.random.default_rng(seed)
    specs = [KNOWN_ARCHS[a] for a in archs]
    width = max(s.n_params for s in specs)
    weights = np.zeros((n, epochs, width), np.float32)
    names = [archs[i % len(archs)] for i in range(n)]
    for i, name in enumerate(names):
        weights[i, :, : KNOWN_ARCHS[name].n_params] = rng.normal(scale=0.1, size=(epochs, KNOWN_ARCHS[name].n_params))
    return Zoo(archs=tuple(specs), weights=weights, epochs=np.arange(epochs, dtype=np.int32),
               states={"test_acc": rng.random((n, epochs)).astype(np.float32)},
               models={"model_id": np.array([f"m{i}" for i in range(n)]), "arch": np.array(names),
                       "activation": np.array(["relu"] * n)},
               task={"name": task, "input_shape": [1, 8, 8], "n_classes": 10}, source={"test": True})


def test_arch_lists_name_the_unknown_or_repeated_value():
    assert parse_arch_list("cnn, cnn_wide,mlp") == ["cnn", "cnn_wide", "mlp"]
    with pytest.raises(HyperVizError, match=r"architecture 'resnet': unknown \(known: cnn, "):
        parse_arch_list("cnn,resnet")
    with pytest.raises(HyperVizError, match="names 'cnn' twice"):
        parse_arch_list("cnn,mlp,cnn")
    with pytest.raises(HyperVizError, match="expected architecture names separated by commas"):
        parse_arch_list("cnn,,mlp")
    with pytest.raises(HyperVizError, match="'bogus': unknown"):
        ZooSpec(arch="cnn,bogus")


def test_configs_cycle_architectures_and_each_spans_the_grid():
    spec = ZooSpec(arch="cnn,cnn_wide,mlp", n_models=12, epochs=1, grid=GRID, chunk_size=8)
    configs = model_configs(spec)
    assert [c["arch"] for c in configs[:4]] == ["cnn", "cnn_wide", "mlp", "cnn"]
    for arch in ("cnn", "cnn_wide", "mlp"):
        assert {c["activation"] for c in configs if c["arch"] == arch} == {"relu", "tanh"}
    for rows in chunk_plan(configs, 8):           # one architecture per chunk
        assert len({configs[i]["arch"] for i in rows}) == 1
    # one architecture: the configs are those of before, plus the arch column
    single = model_configs(ZooSpec(n_models=3, epochs=1))
    assert all(c["arch"] == "cnn" for c in single)


def test_build_a_three_architecture_zoo(tmp_path):
    spec = ZooSpec(arch="cnn,cnn_wide,mlp", n_models=6, epochs=1, grid=GRID, chunk_size=4)
    path = drive(build_zoo_job(spec, tmp_path / "z.h5", "cpu"))
    zoo = read_zoo(path)
    assert zoo.arch_names == ["cnn", "cnn_wide", "mlp"] and zoo.is_mixed and zoo.schema_version == SCHEMA_VERSION
    assert zoo.weights.shape == (6, 2, KNOWN_ARCHS["cnn_wide"].n_params)
    assert zoo.model_archs().tolist() == ["cnn", "cnn_wide", "mlp"] * 2
    cnn = zoo.subset("cnn")
    assert cnn.weights.shape == (2, 2, 1228) and not cnn.is_mixed and cnn.arch.name == "cnn"
    assert not zoo.weights[zoo.arch_rows("cnn"), :, 1228:].any()          # the padding is zero
    assert np.isfinite(zoo.states["test_acc"]).all() and (zoo.states["test_acc"][:, -1] > 0.15).all()
    # each model's weights run as its own architecture and give the accuracy recorded for it
    from core.zoo.tasks import get_task
    x, y = get_task("digits").split("test")
    for row in range(6):
        arch = zoo.spec(zoo.model_archs()[row])
        net = build_module(arch, str(zoo.models["activation"][row]))
        net.load_state_dict(vector_to_state_dict(arch, torch.from_numpy(zoo.weights[row, -1, : arch.n_params])))
        acc = (net.eval()(x).argmax(1) == y).float().mean().item()
        assert acc == pytest.approx(float(zoo.states["test_acc"][row, -1]), abs=1e-6)
    assert "arch" in zoo.state_table()
    info = zoo_info(path)
    assert info["architectures"] == {"cnn": {"parameters": 1228, "models": 2},
                                     "cnn_wide": {"parameters": 3090, "models": 2},
                                     "mlp": {"parameters": 1482, "models": 2}}
    with pytest.raises(HyperVizError, match=r"holds models of 3 architectures \(cnn, cnn_wide, mlp\); fit works on"):
        zoo.single_arch("fit")
    with pytest.raises(HyperVizError, match="architecture 'resnet': not in this zoo"):
        zoo.subset("resnet")


def test_schema_2_round_trip_and_checks(tmp_path):
    zoo = small_zoo(("cnn", "mlp", "cnn_deep"), n=5)
    path = write_zoo(tmp_path / "z.h5", zoo)
    with h5py.File(path) as f:
        assert f.attrs["schema_version"] == 2 and "arch" not in f["meta"]
        assert [a["name"] for a in json.loads(f["meta/archs"][()])] == ["cnn", "mlp", "cnn_deep"]
    back = read_zoo(path)
    assert back.archs == zoo.archs and back.model_archs().tolist() == zoo.model_archs().tolist()
    np.testing.assert_array_equal(back.weights, zoo.weights)
    with pytest.raises(HyperVizError, match="needs a model column 'arch'"):
        Zoo(archs=zoo.archs, weights=zoo.weights, epochs=zoo.epochs, states={},
            models={k: v for k, v in zoo.models.items() if k != "arch"})
    bad = dict(zoo.models, arch=np.array(["cnn", "mlp", "cnn", "vgg", "cnn"]))
    with pytest.raises(HyperVizError, match="names 'vgg', not one of the zoo's architectures"):
        Zoo(archs=zoo.archs, weights=zoo.weights, epochs=zoo.epochs, states={}, models=bad)


def test_a_schema_1_file_still_opens():
    """The fixture was written by hyperviz before schema 2 (main at 44eb3ea): /meta/arch, no /models/arch."""
    with h5py.File(SCHEMA1) as f:
        assert f.attrs["schema_version"] == 1 and "arch" in f["meta"] and "arch" not in f["models"]
    zoo = read_zoo(SCHEMA1)
    assert zoo.schema_version == 1 and zoo.arch.name == "cnn" and not zoo.is_mixed
    assert zoo.model_archs().tolist() == ["cnn"] * 3 and zoo.weights.shape == (3, 2, 1228)
    assert zoo.content_sha256 == "2cac2794f4600b2d403ca6a2a84d5d262f66e55d4f2e4f8b2fdf048f94a2aded"
    info = zoo_info(SCHEMA1)
    assert info["schema_version"] == 1 and info["architecture"] == "cnn" and "verified" in info["content_check"]


def test_merge_two_zoos_of_different_architectures(tmp_path):
    a = write_zoo(tmp_path / "a.h5", small_zoo(("cnn",), n=2, epochs=2))
    b = write_zoo(tmp_path / "b.h5", small_zoo(("mlp", "cnn_wide"), n=3, epochs=3, seed=1))
    out = drive(merge_zoos_job([a, b, SCHEMA1], tmp_path / "c.h5"))
    zoo = read_zoo(out)
    assert zoo.arch_names == ["cnn", "mlp", "cnn_wide"]
    assert zoo.model_archs().tolist() == ["cnn", "cnn", "mlp", "cnn_wide", "mlp", "cnn", "cnn", "cnn"]
    assert zoo.models["model_id"].tolist()[:3] == ["a/m0", "a/m1", "b/m0"]      # ids clashed: prefixed
    assert zoo.epochs.tolist() == [0, 1, 2] and not zoo.present[:2, 2].any() and zoo.present[2:5].all()
    assert np.isnan(zoo.states["test_acc"][0, 2]) and np.isnan(zoo.states["train_acc"][:5]).all()
    np.testing.assert_array_equal(zoo.subset("mlp").weights[0], read_zoo(b).subset("mlp").weights[0])
    assert [m["models"] for m in zoo.source["merged_from"]] == [2, 3, 3]


def test_merge_refuses_other_tasks_specs_and_itself(tmp_path):
    a = write_zoo(tmp_path / "a.h5", small_zoo(("cnn",), n=2))
    s = write_zoo(tmp_path / "s.h5", small_zoo(("cnn",), n=2, task="shapes"))
    with pytest.raises(HyperVizError, match=r"a\.h5 has task 'digits', .*s\.h5 task 'shapes'; only zoos of one task"):
        drive(merge_zoos_job([a, s], tmp_path / "c.h5"))
    other = small_zoo(("cnn",), n=2)
    spec = KNOWN_ARCHS["mlp"]
    renamed = type(spec)("cnn", spec.input_shape, spec.layers)                # another spec called "cnn"
    other = Zoo(archs=(renamed,), weights=np.zeros((2, 2, spec.n_params), np.float32), epochs=other.epochs,
                states={}, models={"model_id": np.array(["x", "y"])}, task=other.task)
    o = write_zoo(tmp_path / "o.h5", other)
    with pytest.raises(HyperVizError, match="architecture 'cnn' in .*o.h5 is not the one of that name"):
        drive(merge_zoos_job([a, o], tmp_path / "c.h5"))
    with pytest.raises(HyperVizError, match="is one of the zoos being merged"):
        drive(merge_zoos_job([a, s], a))
    with pytest.raises(HyperVizError, match="needs at least two"):
        drive(merge_zoos_job([a], tmp_path / "c.h5"))
    assert not (tmp_path / "c.h5").exists()


def test_checkpoint_folder_mixing_architectures_imports(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    gen = torch.Generator().manual_seed(0)
    rows = ["file,test_acc,activation"]
    for i, name in enumerate(["cnn", "mlp", "cnn_large"]):
        net = build_module(KNOWN_ARCHS[name])
        for p in net.parameters():
            torch.nn.init.normal_(p, generator=gen)
        torch.save(net.state_dict(), src / f"model{i}.pt")
        rows.append(f"model{i}.pt,0.{i + 1},relu")
    (src / "properties.csv").write_text("\n".join(rows) + "\n")
    path = drive(import_zoo_job(src, tmp_path / "z.h5", task="digits"))
    zoo = read_zoo(path)
    assert zoo.arch_names == ["cnn", "mlp", "cnn_large"] and zoo.model_archs().tolist() == ["cnn", "mlp", "cnn_large"]
    assert zoo.weights.shape[2] == KNOWN_ARCHS["cnn_large"].n_params
    from core.zoo.modules import state_dict_to_vector
    np.testing.assert_array_equal(zoo.weights[1, 0, :1482], state_dict_to_vector(KNOWN_ARCHS["mlp"],
                                  torch.load(src / "model1.pt")).numpy())


def test_model_zoos_layout_mixing_architectures_imports(tmp_path):
    from tests.modelzoos_layout import INDICES_PLAIN, mz_params, mz_state, result_line, write_model

    gen = torch.Generator().manual_seed(1)
    write_model(tmp_path / "mz", "cnn_a", mz_params("relu", 0.0, 1),
                {"checkpoint_0": mz_state(gen, INDICES_PLAIN), "checkpoint_1": mz_state(gen, INDICES_PLAIN)},
                [result_line(1, 0.1, 0.1), result_line(2, 0.5, 0.4)])
    mlp = KNOWN_ARCHS["mlp"]
    other = {f"l.{n}.{kind}": torch.randn(s.shape, generator=gen)
             for n, s, kind in [(s.layer, s, s.kind) for s in mlp.layout]}
    spec_file = tmp_path / "mlp28.json"
    mlp28 = {"name": "mlp28", "input_shape": [1, 28, 28], "layers": [
        {"type": "flatten"}, {"type": "linear", "in": 784, "out": 10}]}
    spec_file.write_text(json.dumps([mlp28, KNOWN_ARCHS["modelzoo_cnn"].to_dict()]))
    write_model(tmp_path / "mz", "mlp_b", mz_params("tanh", 0.0, 2),
                {"checkpoint_1": {"w": torch.randn(10, 784, generator=gen), "b": torch.randn(10, generator=gen)}},
                [result_line(1, 0.1, 0.1), result_line(2, 0.3, 0.3)])
    del other
    zoo = read_zoo(drive(import_zoo_job(tmp_path / "mz", tmp_path / "z.h5", spec_file)))
    assert zoo.model_archs().tolist() == ["modelzoo_cnn", "mlp28"] and zoo.weights.shape[2] == 7850
    assert not zoo.present[1, 0] and zoo.present[1, 1]
    with pytest.raises(HyperVizError, match="names architecture 'mlp28' twice"):
        spec_file.write_text(json.dumps([mlp28, mlp28]))
        drive(import_zoo_job(tmp_path / "mz", tmp_path / "y.h5", spec_file))
