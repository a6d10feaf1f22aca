"""The ``hyperviz`` command line: every job the app can run, scriptable.

    hyperviz zoo build --task digits --arch cnn --models N --epochs E --seed S --out ZOO.h5
    hyperviz zoo import SRC --out ZOO.h5 [--arch-spec FILE]
    hyperviz zoo info ZOO.h5 [--json]
    hyperviz bench zoo [--models 256] [--epochs 1] [--device ...] [--json]

Errors in the user's input print one line (``error: ...``) and exit with status 2; an
interrupted job exits with 130 and, where it can, resumes when run again.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Callable

from core.errors import Cancelled, HyperVizError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


# ---- output helpers ----------------------------------------------------------------------
class ProgressBar:
    """A tqdm bar on stderr fed with :class:`core.progress.Progress` records."""

    def __init__(self, label: str, enabled: bool = True):
        self.label, self.enabled, self.bar = label, enabled and sys.stderr.isatty(), None

    def __call__(self, record) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=record.total, desc=self.label, unit="", dynamic_ncols=True, file=sys.stderr)
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
    print(json.dumps(obj, indent=None, sort_keys=False))


# ---- zoo commands ------------------------------------------------------------------------
def cmd_zoo_build(args) -> int:
    from core.population import DEFAULT_GRID, ZooSpec, build_zoo_job, load_grid

    grid = load_grid(args.grid) if args.grid else dict(DEFAULT_GRID)
    from core.device import resolve_device

    device = resolve_device(args.device)
    chunk = args.chunk_size or (64 if device.type == "cpu" else 2048)
    spec = ZooSpec(task=args.task, arch=args.arch, n_models=args.models, epochs=args.epochs, batch_size=args.batch_size,
                   seed=args.seed, grid=grid, mode=args.mode, chunk_size=chunk)
    path = run_job(build_zoo_job(spec, args.out, device), "zoo build", args.quiet)
    return _report_zoo(path, args)


def cmd_zoo_import(args) -> int:
    from core.zoo_import import import_zoo_job

    path = run_job(import_zoo_job(args.src, args.out, args.arch_spec), "zoo import", args.quiet)
    return _report_zoo(path, args)


def _report_zoo(path, args) -> int:
    from core.zoo_store import zoo_info

    info = zoo_info(path)
    if args.json:
        print_json(info)
    else:
        print(f"wrote {path}: {info['models']} models x {info['checkpoints']} checkpoints, {info['parameters']} parameters")
        if "final_test_acc" in info:
            acc = info["final_test_acc"]
            print(f"final test accuracy: min {acc['min']:.3f}  median {acc['median']:.3f}  max {acc['max']:.3f}")
    return 0


def cmd_zoo_info(args) -> int:
    from core.zoo_store import zoo_info

    info = zoo_info(args.zoo)
    if args.json:
        print_json(info)
        return 0
    print(f"{info['path']}")
    print(f"  architecture  {info['architecture']} ({info['parameters']} parameters)")
    print(f"  task          {info['task']}")
    print(f"  models        {info['models']} x {info['checkpoints']} checkpoints (epochs {info['epochs'][0]}-{info['epochs'][1]}),"
          f" {info['model_states']} model states")
    print(f"  content hash  {info['content_sha256'][:16]}")
    for name, rng in info["properties"].items():
        print(f"  {name:<13} min {rng['min']:.4g}  mean {rng['mean']:.4g}  max {rng['max']:.4g}")
    for name, values in info["hyperparameters"].items():
        print(f"  {name:<13} {', '.join(map(str, values))}")
    return 0


# ---- benchmarks --------------------------------------------------------------------------
def cmd_bench_zoo(args) -> int:
    from core.benchmarks import bench_zoo

    bar = ProgressBar("bench zoo", enabled=not args.quiet)
    try:
        result = bench_zoo(models=args.models, epochs=args.epochs, arch=args.arch, device=args.device,
                           loop_models=args.loop_models, on_progress=bar)
    finally:
        bar.close()
    if args.json:
        print_json(result)
    else:
        print(f"device {result['device']}, {result['models']} x {result['arch']}, {result['epochs']} epoch(s)")
        print(f"  batched       {result['batched_model_epochs_per_s']:>9.1f} model-epochs/s")
        print(f"  one at a time {result['loop_model_epochs_per_s']:>9.1f} model-epochs/s ({result['loop_models']} models)")
        print(f"  speedup       {result['speedup']:>9.1f}x")
    return 0


# ---- parser ------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hyperviz", description="Explore model zoos through hyper-representations.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, device: bool = False, json_flag: bool = True) -> None:
        if device:
            p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
        if json_flag:
            p.add_argument("--json", action="store_true", help="print one machine-readable JSON object")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    zoo = sub.add_parser("zoo", help="build, import and inspect model zoos").add_subparsers(dest="zoo_command", required=True)
    p = zoo.add_parser("build", help="train a population of models and store it as a zoo file")
    p.add_argument("--task", default="digits")
    p.add_argument("--arch", default="cnn", help="cnn or mlp")
    p.add_argument("--models", type=_positive_int, default=512)
    p.add_argument("--epochs", type=_positive_int, default=25)
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grid", help="JSON file: hyperparameter -> list of values (missing keys use the default grid)")
    p.add_argument("--mode", choices=["grid", "random"], default="grid", help="cycle the grid, or draw per model")
    p.add_argument("--chunk-size", type=_positive_int, help="models trained together (default 64 on CPU, 2048 on GPU)")
    p.add_argument("--out", required=True)
    common(p, device=True)
    p.set_defaults(func=cmd_zoo_build)

    p = zoo.add_parser("import", help="import a Model Zoos folder or a folder of checkpoints + properties table")
    p.add_argument("src")
    p.add_argument("--out", required=True)
    p.add_argument("--arch-spec", help="JSON architecture spec, for architectures hyperviz does not recognise")
    common(p)
    p.set_defaults(func=cmd_zoo_import)

    p = zoo.add_parser("info", help="summarise a zoo file")
    p.add_argument("zoo")
    common(p)
    p.set_defaults(func=cmd_zoo_info)

    bench = sub.add_parser("bench", help="speed benchmarks").add_subparsers(dest="bench_command", required=True)
    p = bench.add_parser("zoo", help="batched vs one-at-a-time population training")
    p.add_argument("--models", type=_positive_int, default=256)
    p.add_argument("--epochs", type=_positive_int, default=1)
    p.add_argument("--arch", default="cnn")
    p.add_argument("--loop-models", type=_positive_int, help="how many of the models the loop baseline trains")
    common(p, device=True)
    p.set_defaults(func=cmd_bench_zoo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except HyperVizError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except (KeyboardInterrupt, Cancelled):
        print("interrupted (an interrupted zoo build resumes when run again)", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
