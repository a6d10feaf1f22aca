"""The command line: exit codes, one-line errors, JSON output."""
import json
import os
import shutil
import subprocess
import sys
import time

import h5py
import pytest

from hyperviz.cli import main
from tests.cli import run


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
    assert r["torch_threads"] >= 1 and "busy_cpus" in r["threads_from"]
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


def _copy(zoo, tmp_path):
    out = tmp_path / "zoo.h5"
    shutil.copy2(zoo, out)
    return out, out.read_bytes(), out.stat().st_mtime_ns


def _build(zoo, *extra):
    return ["zoo", "build", "--models", "2", "--epochs", "1", "--grid", str(zoo.parent / "grid.json"),
            "--device", "cpu", "-q", *extra]


def test_zoo_build_again_is_already_complete(tiny_zoo, tmp_path, capsys):
    out, before, mtime = _copy(tiny_zoo, tmp_path)
    start = time.perf_counter()
    code, stdout, err = run(capsys, *_build(tiny_zoo, "--out", str(out)))
    assert time.perf_counter() - start < 3                                   # nothing trained
    assert code == 0 and err == "" and stdout.count("\n") == 1
    assert stdout.startswith(f"{out}: already complete, built with these arguments (2 models x 2 checkpoints, content hash ")
    assert stdout.rstrip().endswith("nothing to do")
    code, stdout, _ = run(capsys, *_build(tiny_zoo, "--out", str(out), "--json"))
    info = json.loads(stdout)
    assert code == 0 and info["already_complete"] is True and info["models"] == 2
    code, stdout, _ = run(capsys, *_build(tiny_zoo, "--out", str(out), "--json", "--overwrite"))   # same arguments
    assert code == 0 and json.loads(stdout)["already_complete"] is True
    assert out.read_bytes() == before and out.stat().st_mtime_ns == mtime


def test_zoo_build_again_answers_without_importing_torch(tiny_zoo, tmp_path):
    """Importing torch is most of the command's start-up; a finished build does not need it."""
    out, before, _ = _copy(tiny_zoo, tmp_path)
    script = ("import sys; from hyperviz.cli import main; "
              f"code = main({_build(tiny_zoo, '--out', str(out))!r}); "
              "print(code, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.endswith("nothing to do\n0 False\n") and out.read_bytes() == before


def test_a_zoo_built_with_either_default_chunk_size_is_finished_without_chunk_size(tiny_zoo, tmp_path, capsys):
    """--chunk-size 2048 is the GPU's default: the same command on a CPU, which would take 128, has
    nothing to do, nor has it for 64 (the CPU's default of earlier versions); a chunk size someone
    chose is an argument like any other."""
    for chunk, done in (("2048", True), ("128", True), ("64", True), ("1", False)):
        out = tmp_path / f"chunk{chunk}.h5"
        assert run(capsys, *_build(tiny_zoo, "--out", str(out), "--chunk-size", chunk))[0] == 0
        before = out.read_bytes()
        code, stdout, err = run(capsys, *_build(tiny_zoo, "--out", str(out)))
        if done:
            assert code == 0 and "already complete" in stdout and err == ""
        else:
            assert code == 2 and "a zoo built with other arguments (--chunk-size 128, not 1)" in err
        assert out.read_bytes() == before


def test_zoo_build_with_other_arguments_or_onto_another_file_is_refused(tiny_zoo, tmp_path, capsys):
    out, before, mtime = _copy(tiny_zoo, tmp_path)
    code, stdout, err = run(capsys, *_build(tiny_zoo, "--out", str(out), "--seed", "5", "--epochs", "2"))
    assert code == 2 and stdout == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err == (f"error: {out}: already exists, a zoo built with other arguments (--epochs 2, not 1; --seed 5, not 0); "
                   "not replaced (pass --overwrite to replace it, or choose another --out)\n")
    assert out.read_bytes() == before and out.stat().st_mtime_ns == mtime
    ws = tmp_path / "ws.h5"
    with h5py.File(ws, "w") as f:
        f.attrs["format"] = "hyperviz-workspace"
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    for other, what in ((ws, "a hyperviz workspace"), (notes, "a file that is not HDF5")):
        kept, kept_mtime = other.read_bytes(), other.stat().st_mtime_ns
        for argv in (_build(tiny_zoo, "--out", str(other)), ["zoo", "import", str(tmp_path), "--out", str(other), "-q"]):
            code, _, err = run(capsys, *argv)
            assert code == 2 and err == f"error: {other}: already exists, {what}; not replaced (pass --overwrite to " \
                                        "replace it, or choose another --out)\n"
        assert other.read_bytes() == kept and other.stat().st_mtime_ns == kept_mtime
    code, _, err = run(capsys, "zoo", "import", str(tmp_path), "--out", str(out))
    assert code == 2 and "already exists, a hyperviz zoo; not replaced" in err and out.read_bytes() == before
    code, stdout, _ = run(capsys, *_build(tiny_zoo, "--out", str(out), "--seed", "5", "--overwrite", "--json"))
    assert code == 0 and json.loads(stdout)["already_complete"] is False
    assert json.loads(stdout)["hyperparameters"]["seed"] == [5_000_015, 5_000_016]
    assert not out.with_name("zoo.h5.partial").exists()


def test_an_interrupted_build_with_the_same_arguments_resumes(tiny_zoo, tmp_path, capsys):
    from core.zoo.population import build_zoo_job
    from core.zoo.spec import ZooSpec, load_grid

    out = tmp_path / "zoo.h5"
    spec = ZooSpec(n_models=2, epochs=1, grid=load_grid(tiny_zoo.parent / "grid.json"), chunk_size=1)
    job = build_zoo_job(spec, out, "cpu")
    for record in job:                                      # stop after the first chunk was written
        if record.message.startswith("chunk 2"):
            break
    job.close()
    assert not out.exists() and out.with_name("zoo.h5.partial").exists()
    code, stdout, err = run(capsys, *_build(tiny_zoo, "--out", str(out), "--chunk-size", "1", "--json"))
    assert code == 0 and json.loads(stdout)["already_complete"] is False
    code, stdout, err = run(capsys, *_build(tiny_zoo, "--out", str(out), "--chunk-size", "1"))
    assert code == 0 and "already complete" in stdout


@pytest.mark.parametrize("argv, message", [
    (["zoo", "build", "--seed", "-1", "--out", "{tmp}/z.h5"], "argument --seed: -1 must be >= 0"),
    (["zoo", "build", "--seed", "4294967296", "--out", "{tmp}/z.h5"], "argument --seed: 4294967296 must be <= 4294967295"),
    (["zoo", "build", "--models", "1000000000000", "--out", "{tmp}/z.h5"], "argument --models: 1000000000000 must be <= 1000000"),
    (["zoo", "build", "--models", "1000000", "--epochs", "1000", "--out", "{tmp}/z.h5"],
     "1000000 models x 1001 checkpoints x 1228 parameters x 4 bytes = 4.5 TiB of weights, more than the 1.0 TiB"),
    (["zoo", "build", "--epochs", "99999999999", "--out", "{tmp}/z.h5"], "argument --epochs: 99999999999 must be <= 10000"),
    (["zoo", "build", "--batch-size", "1e3", "--out", "{tmp}/z.h5"], "argument --batch-size: 1e3 is not a whole number"),
    (["zoo", "build", "--chunk-size", "0", "--out", "{tmp}/z.h5"], "argument --chunk-size: 0 must be >= 1"),
    (["zoo", "build", "--models", "9" * 400, "--out", "{tmp}/z.h5"], "characters) must be <= 1000000"),
    (["fit", "{tmp}/z.h5", "--out", "{tmp}/w.h5", "--lr", "nan"], "argument --lr: nan is not a finite number"),
    (["fit", "{tmp}/z.h5", "--out", "{tmp}/w.h5", "--lr", "-1"], "argument --lr: -1 must be in (0, 1]"),
    (["fit", "{tmp}/z.h5", "--out", "{tmp}/w.h5", "--lr", "0"], "argument --lr: 0 must be in (0, 1]"),
    (["fit", "{tmp}/z.h5", "--out", "{tmp}/w.h5", "--seed", "-1"], "argument --seed: -1 must be >= 0"),
    (["sample", "{tmp}/w.h5", "--finetune", "1000000000"], "argument --finetune: 1000000000 must be <= 1000"),
    (["sample", "{tmp}/w.h5", "--seed", "-1"], "argument --seed: -1 must be >= 0"),
    (["project", "{tmp}/w.h5", "--seed", "-1"], "argument --seed: -1 must be >= 0"),
    (["bench", "probe", "{tmp}/z.h5", "--out", "{tmp}/b", "--seed", "-1"], "argument --seed: -1 must be >= 0"),
    (["demo", "build", "--seed", "-1"], "argument --seed: -1 must be >= 0"),
])
def test_numeric_options_have_checked_ranges(tmp_path, capsys, argv, message):
    code, _, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert len(err) < 400 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, shown_path", [
    (["zoo", "build", "--models", "2", "--epochs", "1", "--out", "/proc/x.h5"], "--out /proc/x.h5"),
    (["zoo", "build", "--models", "2", "--epochs", "1", "--out", "{tmp}/file.txt/x.h5"], "{tmp}/file.txt/x.h5"),
    (["zoo", "build", "--models", "2", "--epochs", "1", "--out", "/proc/new/deeper/x.h5"], "--out /proc/new/deeper/x.h5"),
    (["zoo", "import", "{tmp}", "--out", "/proc/x.h5"], "--out /proc/x.h5"),
    (["fit", "{zoo}", "--out", "/proc/ws.h5"], "--out /proc/ws.h5"),
    (["embed", "/proc/ws.h5"], "/proc/ws.h5"),
    (["project", "/proc/ws.h5"], "/proc/ws.h5"),
    (["sample", "/proc/ws.h5"], "/proc/ws.h5"),
    (["export", "{tmp}/ws.h5", "--out", "/proc/models"], "--out /proc/models"),
    (["export", "{tmp}/ws.h5", "--out", "{tmp}/file.txt"], "--out {tmp}/file.txt: not a folder"),
])
def test_an_unwritable_output_fails_before_the_work(tiny_zoo, tmp_path, capsys, argv, shown_path):
    (tmp_path / "file.txt").write_text("x")
    start = time.perf_counter()
    code, _, err = run(capsys, *[a.format(tmp=tmp_path, zoo=tiny_zoo) for a in argv])
    assert code == 2 and err.startswith(f"error: {shown_path.format(tmp=tmp_path)}") and err.count("\n") == 1, err
    assert time.perf_counter() - start < 3 and sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_fails_before_the_build(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code, _, err = run(capsys, "zoo", "build", "--models", "2", "--epochs", "1", "--out", str(folder / "z.h5"))
    finally:
        folder.chmod(0o755)
    assert code == 2 and err == f"error: --out {folder / 'z.h5'}: cannot create files in {folder} (Permission denied)\n"


def test_a_fifo_as_zoo_or_workspace_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    for argv in (["zoo", "info", str(fifo)], ["embed", str(fifo)], ["fit", str(fifo), "--out", str(tmp_path / "w.h5")],
                 ["probe", str(fifo)], ["export", str(fifo), "--out", str(tmp_path / "out")]):
        done = subprocess.run([sys.executable, "-m", "hyperviz", *argv], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        assert str(fifo) in done.stderr and "not a regular file" in done.stderr
