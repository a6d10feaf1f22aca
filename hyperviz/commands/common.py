"""What every subcommand shares: progress bars, JSON output, argument types, output checks.

Numeric options are parsed by :func:`int_range` / :func:`float_range` types, so a value outside
its documented range is a one-line argument error before anything runs; every ``--seed`` is a
:func:`seed` (0 .. SEED_MAX). :func:`check_writable` fails a command whose output cannot be
written before it does any work.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import stat
import sys
import tempfile
import time
from pathlib import Path

from core.errors import HyperVizError, shown

#: Seeds are 0 .. SEED_MAX: what numpy's and torch's generators (and UMAP's random_state) all take.
SEED_MAX = 2**32 - 1


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

    from core.generate.sampling import selection_table
    from hyperviz.model.where import WhereError, parse_where

    table = selection_table(ws, zoo)
    try:
        mask = np.asarray(parse_where(where, table.keys()).evaluate(table), dtype=bool)
    except WhereError as exc:
        raise HyperVizError(f'--where "{shown(exc.text)}": {shown(exc.problem)} at position {exc.position}') from None
    except OverflowError:                         # a number beyond float range (e.g. 400 digits) in a comparison
        raise HyperVizError(f'--where "{shown(where)}": a number is too large to compare (at most about 1.8e308)') from None
    except ValueError as exc:                     # SelectionError, or a number with more than 4300 digits
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "digits" in message and "integer string conversion" in message:
            message = "a number has too many digits"
        raise HyperVizError(message if message.startswith("--where") else f'--where "{shown(where)}": {shown(message)}') from None
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        raise HyperVizError(f'--where "{shown(where)}": selects none of the {len(mask)} model states')
    return rows


def int_range(low: int, high: int | None = None, name: str = "integer"):
    """An argparse type: a whole number in ``low .. high`` (no upper bound when ``high`` is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:                        # also a number of more than 4300 digits
            raise argparse.ArgumentTypeError(f"{shown(text, 40)} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{shown(value, 40)} must be >= {low}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{shown(value, 40)} must be <= {high}")
        return value

    parse.__name__ = name
    parse.bounds = (low, high, False)              # what the tests read to try values outside the range
    return parse


def float_range(low: float, high: float, low_open: bool = False, name: str = "number"):
    """An argparse type: a finite number in ``[low, high]`` (``(low, high]`` with ``low_open``);
    nan and infinities are refused."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{shown(text, 40)} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{shown(text, 40)} is not a finite number")
        if value < low or (low_open and value == low) or value > high:
            raise argparse.ArgumentTypeError(f"{shown(text, 40)} must be in {'(' if low_open else '['}{low:g}, {high:g}]")
        return value

    parse.__name__ = name
    parse.bounds = (low, high, low_open)
    return parse


#: The type of every ``--seed``: 0 .. SEED_MAX.
seed = int_range(0, SEED_MAX, "seed")
#: Counts that must be at least one, with no upper bound of their own (no option uses it any more:
#: every count has a limit below; kept for callers outside the CLI).
positive_int = int_range(1, None, "positive_int")

# ---- the range of every numeric option, in one place ---------------------------------------------
#: Training epochs of the autoencoder (``fit --epochs``, ``bench probe --epochs``, ``demo build --ae-epochs``).
MAX_FIT_EPOCHS = 100_000
#: UMAP ``n_neighbors`` (``project --neighbors``): at least 2, as UMAP needs; more than the points is clamped.
MAX_NEIGHBORS = 100_000
#: KDE bandwidth as a number (``sample --bandwidth``), relative to each latent dimension's std.
MAX_BANDWIDTH = 100.0
#: Models, steps and points of the benchmarks (enough for any measurement, far below what exhausts memory).
MAX_BENCH_MODELS = 1_000_000
MAX_BENCH_EPOCHS = 1_000
MAX_BENCH_REPEATS = 100
MAX_BENCH_STEPS = 100_000
MAX_BENCH_POINTS = 10_000_000
MAX_BENCH_SECONDS = 3_600.0
MAX_THREADS = 4_096
#: ``export --best``: at most this many samples (far more than any workspace holds).
MAX_EXPORT_BEST = 100_000_000

fit_epochs = int_range(1, MAX_FIT_EPOCHS, "epochs")
neighbors = int_range(2, MAX_NEIGHBORS, "neighbors")
min_dist = float_range(0.0, 1.0, name="min_dist")
learning_rate = float_range(0.0, 1.0, low_open=True, name="lr")
bench_models = int_range(1, MAX_BENCH_MODELS, "models")
bench_epochs = int_range(1, MAX_BENCH_EPOCHS, "epochs")
bench_repeats = int_range(1, MAX_BENCH_REPEATS, "repeats")
bench_steps = int_range(1, MAX_BENCH_STEPS, "steps")
bench_points = int_range(1, MAX_BENCH_POINTS, "points")
bench_seconds = float_range(0.0, MAX_BENCH_SECONDS, low_open=True, name="seconds")
threads = int_range(1, MAX_THREADS, "threads")
export_best = int_range(1, MAX_EXPORT_BEST, "best")


def sample_count():
    """The type of ``sample -n``: 1 .. core.generate.methods.MAX_SAMPLES."""
    from core.generate.methods import MAX_SAMPLES

    return int_range(1, MAX_SAMPLES, "n")


def bandwidth(text: str):
    """The type of ``sample --bandwidth``: ``scott``, ``silverman`` or a finite number in 0 .. MAX_BANDWIDTH."""
    from core.generate.methods import BANDWIDTH_RULES

    if text.strip().lower() in BANDWIDTH_RULES:
        return text.strip().lower()
    try:
        float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shown(text, 40)} is not {' or '.join(BANDWIDTH_RULES)} or a number") from None
    return float_range(0.0, MAX_BANDWIDTH)(text)


bandwidth.bounds = (0.0, MAX_BANDWIDTH, False)


def check_writable(path, what: str = "--out", folder: bool = False) -> Path:
    """Fail before any work when a command could not write its output ``path``: a one-line
    :class:`HyperVizError` naming the path when it is a folder where a file belongs (or the
    reverse), not a regular file, or in a folder where no file can be created (missing folders
    are judged by the nearest one that exists, since commands create the rest). Checked by
    creating and removing a probe file, which also holds for root, read-only mounts and /proc.
    ``what`` names the option (``--out``), or "" for a positional workspace."""
    path = Path(path)
    label = f"{what} {shown(path)}" if what else shown(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:                        # not a directory, name too long, permission denied
        raise HyperVizError(f"{label}: cannot be written ({exc.strerror})") from None
    if mode is not None:
        if folder and not stat.S_ISDIR(mode):
            raise HyperVizError(f"{label}: not a folder")
        if not folder and stat.S_ISDIR(mode):
            raise HyperVizError(f"{label}: a folder, not a file")
        if not folder and not stat.S_ISREG(mode):
            raise HyperVizError(f"{label}: not a regular file (a FIFO, device or socket)")
    place = path if folder else path.parent
    while not os.path.lexists(place) and place != place.parent:
        place = place.parent
    try:
        fd, probe = tempfile.mkstemp(prefix=".hyperviz-write-check-", dir=place)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise HyperVizError(f"{label}: cannot create files in {shown(place)} ({exc.strerror})") from None
    _lock_for_writing(path)
    return path


# ---- one writer at a time ------------------------------------------------------------------------
#: The locks the running command holds (hyperviz.cli.main opens it around every command).
_held_locks: contextlib.ExitStack | None = None


@contextlib.contextmanager
def writer_locks():
    """Hold, until the block ends, the output locks that :func:`check_writable` takes
    (core.writelock: an flock on ``<output>.lock``, shared with the app's jobs; a second writer
    waits and says on stderr which PID holds it since when)."""
    global _held_locks
    previous, _held_locks = _held_locks, contextlib.ExitStack()
    try:
        with _held_locks:
            yield
    finally:
        _held_locks = previous


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_locked: set[Path] = set()


def _lock_for_writing(path: Path) -> None:
    """Take ``path``'s writer lock for the rest of the command (once: a second flock of the same
    file from this process would wait for itself)."""
    from core.writelock import writer_lock

    key = Path(os.path.abspath(path))
    if _held_locks is None or key in _locked:
        return
    _held_locks.enter_context(writer_lock(path, on_wait=_say))
    _locked.add(key)
    _held_locks.callback(_locked.discard, key)


def add_common(p: argparse.ArgumentParser, device: bool = False, json_flag: bool = True) -> None:
    """--device, --json and --quiet, where a command has them."""
    if device:
        p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print one machine-readable JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_ray_options(p, what: str) -> None:
    """``--ray ADDRESS`` and ``--ray-cpus N``; ``what`` says what runs as Ray tasks."""
    p.add_argument("--ray", metavar="ADDRESS",
                   help=f"{what}: local (a cluster in this process), auto (the one `ray start` started here) or a "
                        "cluster's HOST:PORT; needs pip install -e \".[ray]\"")
    p.add_argument("--ray-cpus", type=int_range(1, 4096), help="CPUs of the --ray local cluster (default: all)")


def ray_options(args):
    """The :class:`core.zoo.distributed.RayOptions` of ``--ray`` / ``--ray-cpus``, or None without ``--ray``."""
    from core.errors import HyperVizError

    if args.ray is None:
        if args.ray_cpus is not None:
            raise HyperVizError("--ray-cpus: only with --ray local (it sets the size of the local cluster)")
        return None
    from core.zoo.distributed import RayOptions

    if args.ray_cpus is not None and args.ray.strip() != "local":
        raise HyperVizError(f"--ray-cpus: only with --ray local (the cluster at {args.ray} has its own CPUs)")
    return RayOptions(args.ray, args.ray_cpus)
