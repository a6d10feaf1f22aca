"""scripts/gpu-check.sh: its arguments, and its first figure when CUDA is missing (the full dry run,
``scripts/gpu-check.sh cpu``, takes minutes and is not part of the suite)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu-check.sh"


def run(*args, **env):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, **env})


def test_the_script_parses_and_refuses_unknown_devices_and_sizes():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    done = run("tpu")
    assert done.returncode == 2 and done.stdout == "" and "usage:" in done.stderr
    done = run("cpu", GPU_CHECK_SIZE="huge")
    assert done.returncode == 2 and "GPU_CHECK_SIZE=huge: expected full or small" in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer of a machine without CUDA")
def test_without_cuda_a_cuda_check_stops_at_its_first_figure():
    done = run("cuda")
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 1
    assert lines[0]["figure"] == "device" and lines[0]["ok"] is False and lines[0]["cuda_available"] is False
    assert lines[0]["size"] == "full" and lines[0]["error"] == "CUDA is not available to this torch"
