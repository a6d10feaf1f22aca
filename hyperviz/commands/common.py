"""What every subcommand shares: progress bars, JSON output, argument types."""
from __future__ import annotations

import argparse
import json
import sys
import time


class ProgressBar:
    """Progress on stderr, fed with :class:`core.progress.Progress` records: a tqdm bar on a
    terminal, otherwise (logs, CI) one plain line every ``LOG_EVERY_S`` seconds."""

    LOG_EVERY_S = 15.0

    def __init__(self, label: str, enabled: bool = True):
        self.label, self.enabled, self.bar = label, enabled, None
        self.tty = sys.stderr.isatty()
        self.last_line = 0.0

    def __call__(self, record) -> None:
        if not self.enabled:
            return
        if not self.tty:
            now = time.monotonic()
            if now - self.last_line >= self.LOG_EVERY_S:
                self.last_line = now
                print(f"{self.label}: {record.done:g}/{record.total:g} {_describe(record)}", file=sys.stderr, flush=True)
            return
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=record.total, desc=self.label, dynamic_ncols=True, file=sys.stderr)
        self.bar.total = record.total
        self.bar.n = record.done
        self.bar.set_postfix_str(_describe(record), refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _describe(record) -> str:
    shown = {k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in record.metrics.items()}
    return " ".join([record.message] + [f"{k}={v}" for k, v in shown.items()])


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


def selected_rows(ws, zoo, where: str):
    """Rows of the workspace's state table that ``--where`` selects (see hyperviz.model.where);
    a bad expression or an empty selection is a one-line :class:`HyperVizError`."""
    import numpy as np

    from core.errors import HyperVizError
    from core.generate.sampling import selection_table
    from hyperviz.model.where import parse_where

    table = selection_table(ws, zoo)
    try:
        mask = np.asarray(parse_where(where, table.keys()).evaluate(table), dtype=bool)
    except ValueError as exc:                     # WhereError, SelectionError: one line each
        message = str(exc).splitlines()[0]
        raise HyperVizError(message if message.startswith("--where") else f'--where "{where}": {message}') from None
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        raise HyperVizError(f'--where "{where}": selects none of the {len(mask)} model states')
    return rows


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
