"""The command line: exit codes, one-line errors, JSON output."""
import json
import subprocess
import sys

import pytest

from hyperviz.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_zoo_build_info_json(tmp_path, capsys):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"activation": ["relu"], "optimizer": ["adam"], "lr": [0.01], "init": ["kaiming_normal"],
                                "weight_decay": [0.0], "dropout": [0.0]}))
    out = tmp_path / "zoo.h5"
    code, stdout, _ = run(capsys, "zoo", "build", "--models", "3", "--epochs", "1", "--grid", str(grid),
                          "--out", str(out), "--device", "cpu", "--json", "-q")
    assert code == 0
    info = json.loads(stdout)
    assert info["models"] == 3 and info["checkpoints"] == 2 and info["hyperparameters"]["activation"] == ["relu"]
    code, stdout, _ = run(capsys, "zoo", "info", str(out), "--json")
    assert code == 0 and json.loads(stdout)["content_sha256"] == info["content_sha256"]
    code, stdout, _ = run(capsys, "zoo", "info", str(out))
    assert code == 0 and "1228 parameters" in stdout



def test_bench_zoo_json_and_text(capsys):
    code, out, err = run(capsys, "bench", "zoo", "--models", "6", "--loop-models", "3", "--repeats", "2",
                         "--device", "cpu", "--json", "-q")
    assert code == 0, err
    r = json.loads(out)
    for key in ("batched_model_epochs_per_s", "loop_model_epochs_per_s", "speedup", "device"):
        assert key in r
    assert r["device"] == "cpu" and r["models"] == 6 and r["loop_models"] == 3 and r["repeats"] == 2
    assert len(r["speedups"]) == 2 and min(r["speedups"]) <= r["speedup"] <= max(r["speedups"])
    assert r["batched_model_epochs_per_s"] > 0 and r["loop_model_epochs_per_s"] > 0
    code, out, _ = run(capsys, "bench", "zoo", "--models", "2", "--repeats", "1", "--device", "cpu", "-q")
    assert code == 0 and "speedup" in out and "median of 1 alternating repeats" in out

@pytest.mark.parametrize("argv, message", [
    (["zoo", "info", "{tmp}/missing.h5"], "missing.h5: no such file"),
    (["zoo", "info", "{tmp}/text.h5"], "not a readable HDF5 file"),
    (["zoo", "build", "--models", "2", "--epochs", "1", "--arch", "resnet", "--out", "{tmp}/z.h5"], "architecture 'resnet': unknown"),
    (["zoo", "build", "--models", "2", "--epochs", "1", "--task", "imagenet", "--out", "{tmp}/z.h5"], "task 'imagenet': unknown"),
    (["zoo", "build", "--models", "2", "--grid", "{tmp}/text.h5", "--out", "{tmp}/z.h5"], "invalid JSON"),
    (["bench", "zoo", "--device", "cuda:7"], "CUDA is not available"),
    (["bench", "zoo", "--repeats", "0"], "--repeats"),
])
def test_user_errors_are_one_line_with_exit_2(tmp_path, capsys, argv, message):
    (tmp_path / "text.h5").write_text("not hdf5")
    code, _, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_python_dash_m_and_bad_arguments(tmp_path):
    done = subprocess.run([sys.executable, "-m", "hyperviz", "zoo", "info", str(tmp_path / "x.h5")], capture_output=True, text=True)
    assert done.returncode == 2 and "no such file" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "hyperviz", "zoo", "build", "--models", "0", "--out", "x.h5"], capture_output=True, text=True)
    assert done.returncode == 2 and "must be >= 1" in done.stderr


TINY_GRID = {"activation": ["relu"], "optimizer": ["adam"], "lr": [0.01], "init": ["kaiming_normal"],
             "weight_decay": [0.0], "dropout": [0.0]}


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    """A complete 2-model, 1-epoch zoo built through the CLI; tests copy it before changing anything."""
    root = tmp_path_factory.mktemp("tiny_zoo")
    (root / "grid.json").write_text(json.dumps(TINY_GRID))
    out = root / "zoo.h5"
    assert main(["zoo", "build", "--models", "2", "--epochs", "1", "--grid", str(root / "grid.json"),
                 "--out", str(out), "--device", "cpu", "-q"]) == 0
    return out


def test_output_into_a_closed_pipe_is_quiet(tiny_zoo):
    """`hyperviz zoo info z.h5 | head -1`: the reader has gone before the output is written."""
    proc = subprocess.Popen([sys.executable, "-m", "hyperviz", "zoo", "info", str(tiny_zoo)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 1 and err == ""


def test_error_lines_escape_control_characters_and_cut_long_values(tmp_path, capsys):
    code, _, err = run(capsys, "zoo", "info", str(tmp_path / ("x\n\x1b[31m" + "y" * 100_000)))
    assert code == 2 and err.count("\n") == 1 and "\x1b" not in err
    assert "x\\n\\x1b[31m" in err and len(err) < 1200 and "characters)" in err
