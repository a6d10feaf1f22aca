"""``hyperviz probe | sample | export | bench eval`` on a tiny workspace built through the CLI itself."""
import json
import shutil

import pytest

from hyperviz.cli import main
from tests.cli import run

GRID = {"activation": ["relu", "tanh"], "init": ["kaiming_uniform", "uniform"], "optimizer": ["adam"],
        "lr": [0.01], "weight_decay": [0.0], "dropout": [0.0]}


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """zoo build (12 models, 2 epochs) -> fit (tiny, 1 epoch) -> embed -> project pca."""
    root = tmp_path_factory.mktemp("cli_generate")
    (root / "grid.json").write_text(json.dumps(GRID))
    zoo, ws = root / "zoo.h5", root / "ws.h5"
    for argv in (["zoo", "build", "--models", "12", "--epochs", "2", "--grid", root / "grid.json", "--out", zoo, "--device", "cpu"],
                 ["fit", zoo, "--out", ws, "--preset", "tiny", "--epochs", "1", "--device", "cpu"],
                 ["embed", ws, "--device", "cpu"],
                 ["project", ws, "--method", "pca"]):
        assert main([str(a) for a in argv] + ["-q", "--json"]) == 0
    return ws


@pytest.fixture
def ws(built, tmp_path):
    dst = tmp_path / "ws.h5"
    shutil.copy(built, dst)
    return dst


def test_probe_json_schema(ws, capsys):
    code, out, err = run(capsys, "probe", ws, "--device", "cpu", "-q", "--json")
    assert code == 0, err
    result = json.loads(out)
    props = result["properties"]
    # every varied hyperparameter of the grid, by its zoo name, plus the state properties
    assert {"test_acc", "epoch", "ggap", "activation", "init"} <= set(props)
    assert not {"optimizer", "lr", "weight_decay", "dropout"} & set(props)          # constant in GRID
    assert props["test_acc"]["metric"] == "r2" and props["activation"]["metric"] == "accuracy"
    for entry in props.values():
        for key in ("hyperrep", "sw"):
            assert entry[key] is None or isinstance(entry[key], float)
        if entry["metric"] == "accuracy":
            assert all(0 <= entry[k] <= 1 for k in ("hyperrep", "sw") if entry[k] is not None)
    assert result["selection"] == {"where": "everything", "states": 36}
    diff = props["test_acc"]["hyperrep_minus_sw"]          # paired bootstrap over the test models
    assert diff["diff"] == pytest.approx(props["test_acc"]["hyperrep"] - props["test_acc"]["sw"], abs=2e-4)
    assert diff["ci95"][0] <= diff["ci95"][1] and diff["test_models"] >= 2
    rec = result["reconstruction"]
    assert rec["states"] == 0 or 0 <= rec["mean_ratio"]


def test_probe_where_restricts_the_states(ws, capsys):
    code, out, err = run(capsys, "probe", ws, "--where", "epoch >= 1", "--no-reconstruction", "-q", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["selection"] == {"where": "epoch >= 1", "states": 24} and "reconstruction" not in result
    full = json.loads(run(capsys, "probe", ws, "--no-reconstruction", "-q", "--json")[1])
    assert result["properties"]["test_acc"]["n_test"] * 3 == full["properties"]["test_acc"]["n_test"] * 2
    # within one activation the activation probe has nothing to predict
    code, out, _ = run(capsys, "probe", ws, "--where", "activation == 'tanh'", "--no-reconstruction", "-q", "--json")
    assert code == 0 and json.loads(out)["properties"]["activation"]["hyperrep"] is None
    code, out, _ = run(capsys, "probe", ws, "--where", "epoch >= 1", "--no-reconstruction", "-q")
    assert code == 0 and out.startswith("model states where epoch >= 1: 24 of 36")
    assert "hyper-rep - s(W) [95% interval]" in out and "paired bootstrap over" in out


def test_probe_ceiling_adds_the_tree_column(ws, capsys):
    code, out, err = run(capsys, "probe", ws, "--ceiling", "--no-reconstruction", "-q", "--json")
    assert code == 0, err
    props = json.loads(out)["properties"]
    for entry in props.values():
        assert entry["sw_trees"] is None or isinstance(entry["sw_trees"], float)
    assert 0 <= props["activation"]["sw_trees"] <= 1
    code, out, _ = run(capsys, "probe", ws, "--ceiling", "--no-reconstruction", "-q")
    assert code == 0 and "s(W) trees" in out.splitlines()[0]
    assert "sw_trees" not in json.loads(run(capsys, "probe", ws, "--no-reconstruction", "-q", "--json")[1])["properties"]["epoch"]


def test_probe_by_group(ws, capsys):
    code, out, err = run(capsys, "probe", ws, "--by", "activation", "-q", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["by"] == ["activation"] and set(result["groups"]) == {"activation=relu", "activation=tanh"}
    assert result["groups"]["activation=relu"]["activation"]["hyperrep"] is None        # constant in the group
    assert "activation" not in result["summary"]
    code, out, _ = run(capsys, "probe", ws, "--by", "activation", "-q")
    assert code == 0 and out.startswith("2 groups by activation")


def test_sample_json_schema_with_finetuning(ws, capsys):
    code, out, err = run(capsys, "sample", ws, "--where", "epoch >= 1", "-n", "4", "--method", "kde", "--method", "noise",
                         "--finetune", "1", "--seed", "3", "--device", "cpu", "-q", "--json")
    assert code == 0, err
    assert out.count("\n") == 1
    result = json.loads(out)
    sel = result["selection"]
    assert sel["n"] == 24 and 0 <= sel["mean_test_acc"] <= 1 and sel["median_nn_distance"] > 0
    assert list(result["methods"]) == ["kde", "noise", "random"]                # random added for the comparison
    for name, entry in result["methods"].items():
        assert entry["n"] == 4
        for key in ("mean_test_acc", "max_test_acc", "mean_test_acc_finetuned", "median_novelty"):
            assert isinstance(entry[key], float), (name, key)
        assert 0 <= entry["mean_test_acc"] <= entry["max_test_acc"] <= 1 and entry["median_novelty"] >= 0
        assert 0 <= entry["copy_fraction"] <= 1 and 0 <= entry["median_max_agreement"] <= 1, name
        assert entry["median_novelty_region"] >= 0 and entry["copy_threshold"] > 0
    assert result["methods"]["random"]["added_as_baseline"] is True and "--finetune" in result["methods"]["random"]["note"]
    assert result["methods"]["kde"]["added_as_baseline"] is False


def test_sample_text_and_no_finetuning(ws, capsys):
    code, out, _ = run(capsys, "sample", ws, "-n", "3", "--method", "noise", "--bandwidth", "0.5", "--device", "cpu", "-q", "--json")
    assert code == 0
    methods = json.loads(out)["methods"]
    assert list(methods) == ["noise"] and methods["noise"]["mean_test_acc_finetuned"] is None
    code, out, _ = run(capsys, "sample", ws, "--where", "activation == 'tanh'", "-n", "2", "--device", "cpu", "-q")
    assert code == 0 and "kde" in out and "samples use tanh" in out


def test_sample_for_a_wider_architecture_and_export_it(ws, tmp_path, capsys):
    code, out, err = run(capsys, "sample", ws, "-n", "3", "--method", "kde", "--arch", "cnn_wide", "--finetune", "1",
                         "--device", "cpu", "-q", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["widened_to"] == "cnn_wide" and list(result["methods"]) == ["kde"]     # no random run: it has no source
    widened = result["methods"]["kde"]["widened"]
    assert widened["from"] == "cnn" and widened["random_target"]["n"] == 3
    assert 0 <= widened["random_target"]["mean_test_acc_finetuned"] <= 1
    code, out, err = run(capsys, "sample", ws, "-n", "2", "--method", "noise", "--arch", "cnn_large", "--device", "cpu", "-q")
    assert code == 0, err
    assert "widened to cnn_large" in out and "random cnn_large" in out
    code, out, err = run(capsys, "export", ws, "--samples", "r001_kde:0", "--out", tmp_path / "out", "-q")
    assert code == 0, err
    meta = json.loads((tmp_path / "out" / "r001_kde-0.json").read_text())
    assert meta["architecture"]["name"] == "cnn_wide"
    code, _, err = run(capsys, "sample", ws, "-n", "2", "--method", "random", "--arch", "cnn_wide", "--device", "cpu", "-q")
    assert code == 2 and err.count("\n") == 1 and "random has no models" in err
    code, _, err = run(capsys, "sample", ws, "-n", "2", "--arch", "cnn_deep", "--device", "cpu", "-q")
    assert code == 2 and "no selected architecture widens to it" in err


def test_sample_reconstruct_and_the_copy_columns(ws, capsys):
    code, out, err = run(capsys, "sample", ws, "-n", "3", "--method", "reconstruct", "--method", "random",
                         "--device", "cpu", "-q", "--json")
    assert code == 0, err
    methods = json.loads(out)["methods"]
    assert list(methods) == ["reconstruct", "random"] and methods["reconstruct"]["run"] == "r001_reconstruct"
    assert methods["random"]["copy_fraction"] == 0.0
    code, out, _ = run(capsys, "sample", ws, "-n", "2", "--method", "reconstruct", "--device", "cpu", "-q")
    assert code == 0 and "copies" in out.splitlines()[1] and "r003_reconstruct" in out
    code, _, err = run(capsys, "sample", ws, "--method", "copy", "--device", "cpu", "-q")
    assert code == 2 and "reconstruct" in err


def test_export_cli(ws, tmp_path, capsys):
    assert run(capsys, "sample", ws, "-n", "3", "--method", "noise", "--device", "cpu", "-q", "--json")[0] == 0
    out_dir = tmp_path / "models"
    code, out, err = run(capsys, "export", ws, "--samples", "latest", "--best", "2", "--out", out_dir,
                         "--format", "safetensors,pt", "--json")
    assert code == 0, err
    exported = json.loads(out)["exported"]
    assert len(exported) == 2 and all(e["id"].startswith("r001_noise:") for e in exported)
    names = sorted(p.name for p in out_dir.iterdir())
    assert len(names) == 6 and sum(n.endswith(".pt") for n in names) == 2
    code, out, err = run(capsys, "export", ws, "--samples", "all", "--out", out_dir, "--format", "safetensors,pt",
                         "--json")                       # the same export, wider: the two are kept
    assert code == 0 and json.loads(out)["reused"] == 2 and json.loads(out)["written"] == 1, err
    (out_dir / "r001_noise-0.pt").write_bytes(b"changed")
    code, _, err = run(capsys, "export", ws, "--samples", "all", "--out", out_dir, "--format", "safetensors,pt")
    assert code == 2 and "already exists with other content" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, message", [
    (["sample", "{ws}", "--where", "accuracy > 0.5"], "unknown property 'accuracy'"),
    (["sample", "{ws}", "--where", "test_acc >="], "expected a value"),
    (["sample", "{ws}", "--where", "test_acc > 2"], "selects none"),
    (["sample", "{ws}", "--where", "activation > 3"], "--where"),
    (["sample", "{ws}", "-n", "0"], "argument -n: 0 must be >= 1"),
    (["sample", "{ws}", "-n", "100001"], "must be <= 100000"),
    (["sample", "{ws}", "--bandwidth", "wide"], "argument --bandwidth: wide is not scott or silverman or a number"),
    (["sample", "{ws}", "--finetune", "-1"], "argument --finetune: -1 must be >= 0"),
    (["sample", "{ws}", "--finetune", "1000000000"], "argument --finetune: 1000000000 must be <= 1000"),
    (["sample", "{ws}", "--seed", "-1"], "argument --seed: -1 must be >= 0"),
    (["project", "{ws}", "--seed", "-1"], "argument --seed: -1 must be >= 0"),
    (["sample", "{ws}", "--where", "test_acc > " + "9" * 400], "a number is too large to compare"),
    (["probe", "{ws}", "--where", "test_acc in [0, " + "9" * 400 + "]"], "a number is too large to compare"),
    (["probe", "{ws}", "--where", "test_acc > " + "9" * 5000], "a number has too many digits"),
    (["sample", "{ws}", "-n", "9" * 400], "must be <= 100000"),
    (["sample", "{ws}", "--where", "model_id == 'm00000' and epoch == 2"], "at least 2 selected model states"),
    (["sample", "{tmp}/missing.h5"], "no such workspace"),
    (["probe", "{ws}", "--where", "epoch > 99"], "selects none of the 36 model states"),
    (["probe", "{ws}", "--where", "speed > 1"], "--where"),
    (["probe", "{ws}", "--by", "speed"], "grouping by speed: unknown speed"),
    (["probe", "{ws}", "--by", ","], "no keys given"),
    (["export", "{ws}", "--out", "{tmp}/x"], "no sampled models yet"),
])
def test_bad_input_is_one_line_with_exit_2(ws, tmp_path, capsys, argv, message):
    code, _, err = run(capsys, *[a.format(ws=ws, tmp=tmp_path) for a in argv], "--device", "cpu") if argv[0] == "sample" \
        else run(capsys, *[a.format(ws=ws, tmp=tmp_path) for a in argv])
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("where", ["acc\x1b[31m\n > 0.5", "test_acc > 0.5 and " + "x" * 100_000, "\x00" * 3])
def test_where_text_in_an_error_is_escaped_and_cut(ws, capsys, where):
    code, _, err = run(capsys, "probe", ws, "--where", where, "--no-reconstruction", "-q")
    assert code == 2 and err.startswith('error: --where "') and err.count("\n") == 1
    assert "\x1b" not in err and "\x00" not in err and len(err) < 1100 and "Traceback" not in err


def test_export_unknown_ids(ws, tmp_path, capsys):
    assert run(capsys, "sample", ws, "-n", "2", "--method", "random", "--device", "cpu", "-q", "--json")[0] == 0
    for spec, message in (("r007_kde:0", "unknown"), ("r001_random:5", "has 2 samples")):
        code, _, err = run(capsys, "export", ws, "--samples", spec, "--out", tmp_path / "o")
        assert code == 2 and message in err and err.count("\n") == 1, err


def test_bench_eval_json(capsys):
    code, out, _ = run(capsys, "bench", "eval", "--models", "8", "--device", "cpu", "--json")
    result = json.loads(out)
    assert code == 0 and result["models"] == 8 and result["models_per_s"] > 0 and result["task"] == "digits"
    code, out, _ = run(capsys, "bench", "eval", "--models", "8", "--task", "shapes", "--device", "cpu", "--json")
    assert code == 0 and json.loads(out)["task"] == "shapes"
    code, _, err = run(capsys, "bench", "eval", "--models", "8", "--arch", "modelzoo_cnn", "--device", "cpu")
    assert code == 2 and "does not fit task digits" in err and err.count("\n") == 1, err


def test_bench_probe_fits_each_candidate_once_and_probes_it_beside_sw(built, tmp_path, capsys):
    zoo = built.parent / "zoo.h5"
    argv = ["bench", "probe", zoo, "--out", tmp_path / "ab", "--candidates", "default,no-erasing",
            "--preset", "tiny", "--epochs", "1", "--device", "cpu", "-q", "--json"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    result = json.loads(out)
    cands = result["candidates"]
    assert list(cands) == ["default", "no-erasing"]
    assert cands["no-erasing"]["settings"] == {"augmentation": {"erase_p": 0.0}}
    for prop in ("test_acc", "activation"):
        # same split and protocol: the s(W) column is the same for every candidate
        assert cands["default"]["properties"][prop]["sw"] == cands["no-erasing"]["properties"][prop]["sw"]
        d = cands["default"]["properties"][prop]["hyperrep_minus_sw"]
        assert d["ci95"][0] <= d["diff"] <= d["ci95"][1]
    from core.hyperrep.workspace import load_workspace

    stored = load_workspace(tmp_path / "ab" / "no-erasing.h5")
    assert stored.training["augmentation"]["erase_p"] == 0.0 and stored.training["epochs_done"] == 1
    mtime = (tmp_path / "ab" / "default.h5").stat().st_mtime_ns
    code, out2, err = run(capsys, *argv)                       # a rerun trains nothing again
    assert code == 0 and json.loads(out2) == result
    assert (tmp_path / "ab" / "default.h5").stat().st_mtime_ns == mtime
    code, _out, err = run(capsys, "bench", "probe", zoo, "--out", tmp_path / "ab", "--candidates", "nope")
    assert code == 2 and "candidates 'nope'" in err and len(err.strip().splitlines()) == 1


def test_concurrent_samples_on_one_workspace_all_keep_their_runs(ws):
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-m", "hyperviz", "sample", str(ws), "-n", "3", "--seed", str(s),
                               "--device", "cpu", "-q", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for s in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _out, err in outs]
    runs = [json.loads(out)["methods"]["kde"]["run"] for out, _err in outs]
    assert len(set(runs)) == 3                                    # each got its own run id ...
    from core.hyperrep.workspace import load_workspace

    assert set(runs) <= set(load_workspace(ws).samples)           # ... and the file keeps all three
    assert not (ws.parent / (ws.name + ".lock")).exists()         # the lock file goes with the lock


def test_probe_map_scores_the_stored_map_beside_a_map_of_sw(ws, capsys):
    code, out, err = run(capsys, "probe", ws, "--map", "pca", "--no-reconstruction", "-q", "--json")
    assert code == 0, err
    m = json.loads(out)["map"]
    assert m["method"] == "pca" and m["k"] == 10
    assert m["properties"]["activation"]["metric"] == "accuracy"
    for row in m["properties"].values():
        for key in ("map", "sw_map"):
            assert row[key] is None or isinstance(row[key], float)
    assert 0 <= m["properties"]["activation"]["map"] <= 1
    code, out, _ = run(capsys, "probe", ws, "--map", "pca", "--no-reconstruction", "-q")
    assert code == 0 and "the pca map: 10 nearest training-model states" in out and "s(W) map" in out
    code, _out, err = run(capsys, "probe", ws, "--map", "umap", "--no-reconstruction", "-q")
    assert code == 2 and "no umap projection yet" in err and len(err.strip().splitlines()) == 1
