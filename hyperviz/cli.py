"""The ``hyperviz`` command line: every job the app can run, scriptable.

    hyperviz zoo build|import|info ...      model zoos               (hyperviz.commands.zoo)
    hyperviz fit|embed|project|probe ...    hyper-representations    (hyperviz.commands.hyperrep)
    hyperviz sample|export ...              generate and export models (hyperviz.commands.generate)
    hyperviz bench zoo|fit|eval ...         speed benchmarks         (hyperviz.commands.bench)
    hyperviz bench gui                      GUI speed and stalls     (hyperviz.gui_bench)
    hyperviz demo build                     the bundled demo         (hyperviz.commands.demo)

Errors in the user's input print one line (``error: ...``) and exit with status 2; an
interrupted job exits with 130 and, where it can, resumes when run again.
"""
from __future__ import annotations

import argparse
import logging
import sys

from core.errors import Cancelled, HyperVizError
from hyperviz import gui_bench
from hyperviz.commands import bench, demo, generate, hyperrep, zoo

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """Argument mistakes are one line, like every other user error (no usage block); subcommand
    parsers inherit this class."""

    def error(self, message: str):
        raise HyperVizError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hyperviz", description="Explore model zoos through hyper-representations.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    zoo.register(sub)
    hyperrep.register(sub)
    generate.register(sub)
    gui_bench.register(bench.register(sub))
    demo.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        return int(args.func(args) or 0)
    except HyperVizError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except (KeyboardInterrupt, Cancelled):
        print("interrupted (an interrupted zoo build or fit resumes when run again)", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
