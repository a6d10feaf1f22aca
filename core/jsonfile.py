"""Reading a JSON object from a user's file, with one-line errors that name the file."""
from __future__ import annotations

import json
from pathlib import Path

from core.errors import HyperVizError


def read_json_object(path: str | Path, what: str = "file") -> dict:
    """The JSON object in ``path``; :class:`HyperVizError` when it is missing, unreadable, not
    JSON, or not an object. ``what`` names the kind of file in the message ("grid file", ...)."""
    path = Path(path)
    if not path.is_file():
        raise HyperVizError(f"{path}: no such {what}")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise HyperVizError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HyperVizError(f"{path}: cannot be read ({' '.join(str(exc).split())[:160]})") from None
    if not isinstance(obj, dict):
        raise HyperVizError(f"{path}: expected a JSON object, found {type(obj).__name__}")
    return obj
