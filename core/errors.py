"""User-facing errors.

A :class:`HyperVizError` carries one line that names the file or value at fault and the problem.
The CLI prints it as ``error: <message>`` and exits non-zero; the GUI shows it in a message box.
Anything else that escapes is a bug and keeps its traceback.
"""


class HyperVizError(Exception):
    """A problem with the user's input (a file, a value, a request), explained in one line."""


class Cancelled(Exception):
    """Raised inside a job when its caller asked it to stop; nothing half-done is kept."""
