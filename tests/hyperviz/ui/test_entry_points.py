"""``python main.py --smoke`` and ``hyperviz bench gui`` run end to end in subprocesses."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": "", "XDG_CONFIG_HOME": ""}


def run(args, tmp_path, timeout=180):
    env = {**ENV, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


def test_main_smoke_opens_a_workspace_and_prints_one_json_line(workspace_path, tmp_path):
    done = run([sys.executable, "main.py", "--smoke", str(workspace_path)], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["ok"] is True and result["points"] == 144 and result["projection"] == "umap"
    assert 0 < result["window_shown_s"] <= result["time_to_map_s"]


def test_main_smoke_reports_a_bad_workspace(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not a workspace")
    done = run([sys.executable, "main.py", "--smoke", str(bad)], tmp_path)
    assert done.returncode == 1
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] is False and "bad.h5" in result["error"]


def test_bench_gui_json(tmp_path):
    done = run([sys.executable, "-m", "hyperviz", "bench", "gui", "--points", "3000", "--seconds", "1",
                "--umap-points", "50", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("selection_update_s", "filter_update_s", "recolour_s", "max_stall_s", "cancel_s"):
        assert result[key] >= 0, key
    assert result["points"] == 3000 and result["cancel_s"] < 5
