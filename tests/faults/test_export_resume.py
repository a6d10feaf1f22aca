"""kill -9 during `hyperviz export`: a rerun of the same export finishes it, and nothing unfinished looks finished."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

from hyperviz.cli import main


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_complete(out_dir, expected: int):
    records = sorted(out_dir.glob("*.json"))
    assert len(records) == expected
    assert not [p.name for p in out_dir.iterdir() if p.name.startswith(".")]          # no temp files
    for path in records:
        meta = json.loads(path.read_text())
        for kind, name in meta["files"].items():
            assert _sha(out_dir / name) == meta["sha256"][kind], name


def test_kill_9_during_export_then_rerun_finishes_it(fws, tmp_path, capsys):
    out_dir = tmp_path / "exported"
    argv = ["export", str(fws), "--samples", "all", "--out", str(out_dir), "--format", "safetensors,pt"]
    proc = subprocess.Popen([sys.executable, "-m", "hyperviz", *argv, "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    end = time.monotonic() + 120
    while time.monotonic() < end and proc.poll() is None and not list(out_dir.glob("*.safetensors"))[2:]:
        time.sleep(0.002)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.stderr.close()
    if killed:                                   # what the kill left is never a complete-looking model
        for path in out_dir.glob("*.json"):
            meta = json.loads(path.read_text())
            assert all(_sha(out_dir / n) == meta["sha256"][k] for k, n in meta["files"].items())
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert len(result["exported"]) == 60 and result["written"] + result["reused"] == 60
    _check_complete(out_dir, 60)
    assert main([*argv, "--json"]) == 0                          # a third run has nothing left to do
    assert json.loads(capsys.readouterr().out)["reused"] == 60
    _check_complete(out_dir, 60)
