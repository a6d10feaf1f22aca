"""What every subcommand shares: progress bars, JSON output, argument types."""
from __future__ import annotations

import argparse
import json
import sys


class ProgressBar:
    """A tqdm bar on stderr fed with :class:`core.progress.Progress` records (only on a terminal)."""

    def __init__(self, label: str, enabled: bool = True):
        self.label, self.enabled, self.bar = label, enabled and sys.stderr.isatty(), None

    def __call__(self, record) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=record.total, desc=self.label, dynamic_ncols=True, file=sys.stderr)
        self.bar.total = record.total
        self.bar.n = record.done
        shown = {k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in record.metrics.items()}
        self.bar.set_postfix_str(" ".join([record.message] + [f"{k}={v}" for k, v in shown.items()]), refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_job(job, label: str, quiet: bool = False):
    """Drive a core job with a progress bar on the terminal; return its result."""
    from core.progress import drive

    bar = ProgressBar(label, enabled=not quiet)
    try:
        return drive(job, on_progress=bar)
    finally:
        bar.close()


def print_json(obj) -> None:
    print(json.dumps(obj))


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def add_common(p: argparse.ArgumentParser, device: bool = False, json_flag: bool = True) -> None:
    """--device, --json and --quiet, where a command has them."""
    if device:
        p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print one machine-readable JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
