"""scripts/real-window-check.sh without its tools: a skip with a message, not a failure (CI machines
without Xvfb); REAL_WINDOW_REQUIRED=1 makes it a failure."""
import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "real-window-check.sh"


def test_the_real_window_check_skips_with_a_message_without_xvfb(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    done = subprocess.run([str(bin_dir / "bash"), str(SCRIPT), str(tmp_path / "shots")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("skipped: the real-window check needs Xvfb openbox xdotool import")
    required = subprocess.run([str(bin_dir / "bash"), str(SCRIPT)], env={**env, "REAL_WINDOW_REQUIRED": "1"},
                              capture_output=True, text=True, timeout=60)
    assert required.returncode == 1
