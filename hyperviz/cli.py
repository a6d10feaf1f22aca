"""The ``hyperviz`` command line: every job the app can run, scriptable.

    hyperviz zoo build|import|info ...      model zoos               (hyperviz.commands.zoo)
    hyperviz fit|embed|project|probe ...    hyper-representations    (hyperviz.commands.hyperrep)
    hyperviz sample|export ...              generate and export models (hyperviz.commands.generate)
    hyperviz bench zoo|fit|eval ...         speed benchmarks         (hyperviz.commands.bench)
    hyperviz bench gui                      GUI speed and stalls     (hyperviz.gui_bench)
    hyperviz demo build                     the bundled demo         (hyperviz.commands.demo)

Errors in the user's input print one line (``error: ...``) and exit with status 2; an
interrupted job exits with 130 and, where it can, resumes when run again. Output into a pipe
that was closed early (``hyperviz zoo info z.h5 | head -1``) ends the command quietly with
status 1, the way Python's documentation recommends, instead of a BrokenPipeError traceback.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from core.errors import Cancelled, HyperVizError, shown
from hyperviz import gui_bench
from hyperviz.commands import bench, demo, generate, hyperrep, zoo
from hyperviz.commands.common import writer_locks

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 1
#: The longest error line printed; a longer message is cut in the middle (see core.errors.shown).
ERROR_LINE_LIMIT = 1000


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
        with writer_locks():                      # outputs checked by check_writable stay locked until the end
            code = int(args.func(args) or 0)
        sys.stdout.flush()                        # a closed pipe shows here, not at interpreter exit
        return code
    except HyperVizError as exc:
        print(f"error: {shown(exc, ERROR_LINE_LIMIT)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        if not _stdout_closed():
            raise                                 # some other pipe (a worker's): a bug, keep the traceback
        # the reader of stdout went away: nothing more can be shown; silence the final flush too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (KeyboardInterrupt, Cancelled):
        print("interrupted (an interrupted zoo build or fit resumes when run again)", file=sys.stderr)
        return EXIT_INTERRUPTED


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (POSIX: poll reports an error on it)."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _fd, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows) or no real stdout: trust the exception
        return True


if __name__ == "__main__":
    sys.exit(main())
