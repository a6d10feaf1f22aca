"""User-facing errors.

A :class:`HyperVizError` carries one line that names the file or value at fault and the problem.
The CLI prints it as ``error: <message>`` and exits non-zero; the GUI shows it in a message box.
Anything else that escapes is a bug and keeps its traceback.

User text (a ``--where`` expression, a path, an argument) goes into a message through
:func:`shown`, so that control characters cannot break the line or the terminal and a 100 KB
value does not flood it.
"""

#: The most characters of one user value :func:`shown` keeps by default.
SHOWN_LIMIT = 200


class HyperVizError(Exception):
    """A problem with the user's input (a file, a value, a request), explained in one line."""


class Cancelled(Exception):
    """Raised inside a job when its caller asked it to stop; nothing half-done is kept."""


def shown(value, limit: int = SHOWN_LIMIT) -> str:
    """``value`` as text safe inside a one-line message: every non-printable character (newline,
    tab, ESC, NUL, undecodable bytes) written as its Python escape (``\\n``, ``\\x1b``), and text
    longer than ``limit`` characters cut in the middle: ``head...tail (N characters)``."""
    text = str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) > limit:
        keep = max(limit - 30, 2)
        head, tail = keep * 2 // 3, keep - keep * 2 // 3
        text = f"{text[:head]}...{text[-tail:]} ({len(str(value))} characters)"
    return text
