"""Exporting sampled models: files, exact round trip, provenance, refusal to overwrite, sample ids."""
import hashlib
import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from core.errors import HyperVizError
from core.generate.export import export_model, export_samples, load_exported, resolve_sample_ids
from core.generate.sampling import sample_job
from core.progress import drive
from core.zoo.arch import get_arch
from core.zoo.modules import init_vector
from core.zoo.tasks import get_task
from tests.core.generate.test_sampling import copy_workspace


@pytest.fixture
def ws_with_runs(pristine, tmp_path):
    ws = copy_workspace(pristine, tmp_path)
    rows = np.arange(len(ws.states))
    drive(sample_job(ws, rows, "noise", 3, seed=4, device="cpu", description="everything"))
    drive(sample_job(ws, rows, "kde", 2, seed=5, device="cpu", description="everything"))
    return ws


def module_test_acc(model):
    x, y = get_task("digits").split("test")
    with torch.no_grad():
        return int((model(x).argmax(1) == y).sum()) / len(y)


def test_round_trip_reproduces_the_recorded_accuracy_exactly(ws_with_runs, tmp_path):
    ws = ws_with_runs
    out = tmp_path / "export"
    paths = export_samples(ws, "r001_noise", out, formats=("safetensors", "pt"))
    assert [p.name for p in paths] == ["r001_noise-0.json", "r001_noise-1.json", "r001_noise-2.json"]
    run = ws.samples["r001_noise"]
    for i, path in enumerate(paths):
        model, meta = load_exported(path)
        assert module_test_acc(model) == meta["metrics"]["test_acc"]                  # exactly
        assert meta["metrics"]["test_acc"] == pytest.approx(float(run["arrays"]["test_acc"][i]), abs=1e-9)
        assert meta["activation"] == run["meta"]["activation"] and meta["task"]["name"] == "digits"
        assert meta["architecture"] == get_arch("cnn").to_dict()
        prov = meta["provenance"]
        assert prov["sample_id"] == f"r001_noise:{i}" and prov["method"] == "noise" and prov["seed"] == 4
        assert prov["selection"] == "everything" and prov["zoo_sha256"] == ws.zoo_sha256
        st_path = out / meta["files"]["safetensors"]
        assert hashlib.sha256(st_path.read_bytes()).hexdigest() == meta["sha256"]["safetensors"]
        # the safetensors file opens on its own, with string metadata
        with safe_open(str(st_path), framework="pt") as f:
            md = f.metadata()
            keys = set(f.keys())
            first = f.get_tensor("0.weight")
        assert md["arch"] == "cnn" and md["sampler"] == "noise" and md["seed"] == "4"
        assert float(md["test_acc"]) == meta["metrics"]["test_acc"]
        assert keys == set(model.state_dict()) and torch.equal(first, model.state_dict()["0.weight"])
        # the .pt twin holds the same state_dict and needs no unpickling of code
        pt = torch.load(out / meta["files"]["pt"], weights_only=True)
        assert all(torch.equal(pt[k], v) for k, v in model.state_dict().items())
    assert not [p for p in out.iterdir() if p.name.startswith(".")]                    # no temp files left


def test_refuses_to_overwrite_unless_asked(ws_with_runs, tmp_path):
    out = tmp_path / "export"
    export_samples(ws_with_runs, "r002_kde:1", out)
    (out / "r002_kde-1.safetensors").write_bytes(b"someone else's file")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(HyperVizError, match=r"r002_kde-1\.safetensors: already exists with other content"):
        export_samples(ws_with_runs, "r002_kde:0,r002_kde:1", out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before                  # nothing written, not even :0
    (out / "r002_kde-0.json").write_text("{}")                                          # a JSON of something else
    with pytest.raises(HyperVizError, match=r"r002_kde-0\.json: already exists"):
        export_samples(ws_with_runs, "r002_kde:0", out)
    export_samples(ws_with_runs, "r002_kde:1", out, overwrite=True)
    assert json.loads((out / "r002_kde-1.json").read_text())["provenance"]["index"] == 1
    load_exported(out / "r002_kde-1.json")


def test_the_same_export_again_keeps_what_is_complete(ws_with_runs, tmp_path):
    out = tmp_path / "export"
    stats = {}
    export_samples(ws_with_runs, "r002_kde:1", out, stats=stats)
    assert stats == {"written": 1, "reused": 0, "stale_temp_files_removed": 0}
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    stats = {}
    paths = export_samples(ws_with_runs, "r002_kde", out, stats=stats)
    assert stats["written"] == 1 and stats["reused"] == 1
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name in mtimes} == mtimes   # untouched
    for path in paths:
        load_exported(path)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_interrupted_export_is_finished_by_a_rerun(ws_with_runs, tmp_path):
    """What kill -9 leaves: a temp file of a dead writer, checkpoints without their JSON."""
    out = tmp_path / "export"
    paths = export_samples(ws_with_runs, "r001_noise", out, formats=("safetensors", "pt"))
    reference = {p.name: p.read_bytes() for p in out.iterdir() if not p.name.endswith(".json")}
    (out / "r001_noise-1.json").unlink()                                      # killed before the JSON of :1 ...
    (out / "r001_noise-2.json").unlink()
    (out / "r001_noise-2.pt").unlink()                                        # ... and before the .pt of :2,
    (out / "r001_noise-2.pt").with_name(".r001_noise-2.pt.999999999.0123abcd.tmp").write_bytes(b"half")
    stats = {}
    assert export_samples(ws_with_runs, "r001_noise", out, formats=("safetensors", "pt"), stats=stats) == paths
    assert stats == {"written": 2, "reused": 1, "stale_temp_files_removed": 1}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert {p.name: p.read_bytes() for p in out.iterdir() if not p.name.endswith(".json")} == reference
    for path in paths:
        meta = json.loads(path.read_text())
        for kind, name in meta["files"].items():
            assert _sha(out / name) == meta["sha256"][kind]
        load_exported(path)


EXPORT_ONE = """
import sys
from core.generate.export import safetensors_bytes
import torch, hashlib
state = {"0.weight": torch.arange(6.0).reshape(3, 2), "0.bias": torch.zeros(3)}
meta = {k: k * 3 for k in "abcdefghijklmnop"}
print(hashlib.sha256(safetensors_bytes(state, meta)).hexdigest())
"""


def test_checkpoint_bytes_are_the_same_in_every_process():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    hashes = {subprocess.run([sys.executable, "-c", EXPORT_ONE], capture_output=True, text=True, cwd=root,
                             check=True).stdout.strip() for _ in range(4)}
    assert len(hashes) == 1                       # safetensors alone writes its metadata in hash-map order
    from safetensors.torch import load

    from core.generate.export import safetensors_bytes

    data = safetensors_bytes({"w": torch.ones(2, 3)}, {"b": "2", "a": "1"})
    assert torch.equal(load(data)["w"], torch.ones(2, 3))
    assert len(data) % 8 == 0 and data[8:].startswith(b'{"__metadata__":{"a":"1","b":"2"}')


def test_two_exports_of_one_run_give_identical_checkpoints(ws_with_runs, tmp_path):
    a = export_samples(ws_with_runs, "r002_kde", tmp_path / "a", formats=("safetensors", "pt"))
    b = export_samples(ws_with_runs, "r002_kde", tmp_path / "b", formats=("safetensors", "pt"))
    for pa, pb in zip(a, b):
        for ext in ("safetensors", "pt"):
            assert pa.with_suffix(f".{ext}").read_bytes() == pb.with_suffix(f".{ext}").read_bytes()


def test_non_finite_weights_are_refused_in_one_line(ws_with_runs, tmp_path):
    weights = ws_with_runs.samples["r002_kde"]["arrays"]["weights"]
    weights[1, :5] = np.nan
    weights[1, 7] = np.inf
    with pytest.raises(HyperVizError, match=r"export: 1 of 2 model\(s\) hold NaN or infinite weights: "
                                            r"r002_kde:1 \(6 of \d+\); nothing exported"):
        export_samples(ws_with_runs, "r002_kde", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_sample_ids(ws_with_runs):
    ws = ws_with_runs
    assert resolve_sample_ids(ws, "all") == [("r001_noise", 0), ("r001_noise", 1), ("r001_noise", 2),
                                              ("r002_kde", 0), ("r002_kde", 1)]
    assert resolve_sample_ids(ws, "latest") == [("r002_kde", 0), ("r002_kde", 1)]
    assert resolve_sample_ids(ws, "r001_noise:2, r002_kde-0,r001_noise:2") == [("r001_noise", 2), ("r002_kde", 0)]
    for bad, message in (("r009_kde:0", "unknown"), ("r002_kde:2", "has 2 samples"), ("kde 1", "unknown"), (",", "no samples")):
        with pytest.raises(HyperVizError, match=message):
            resolve_sample_ids(ws, bad)


def test_export_model_alone_and_tampering(tmp_path):
    arch = get_arch("mlp")
    w = init_vector(arch, "kaiming_normal", torch.Generator().manual_seed(0)).numpy()
    path = export_model(w, arch, "tanh", {"name": "digits"}, tmp_path, "m", provenance={"method": "manual", "seed": 0})
    model, meta = load_exported(path)
    assert module_test_acc(model) == meta["metrics"]["test_acc"] and isinstance(model[2], torch.nn.Tanh)
    with pytest.raises(HyperVizError, match="export format onnx"):
        export_model(w, arch, "tanh", {"name": "digits"}, tmp_path, "m2", formats=("onnx",))
    st = tmp_path / "m.safetensors"
    data = bytearray(st.read_bytes())
    data[-1] ^= 0xFF
    st.write_bytes(bytes(data))
    with pytest.raises(HyperVizError, match="sha256"):
        load_exported(path)
    with pytest.raises(HyperVizError, match="no such file"):
        load_exported(tmp_path / "missing.json")
