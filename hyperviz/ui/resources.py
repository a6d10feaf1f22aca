"""Files the window ships with: icons, the stylesheet, the bundled demo (all under ``assets/``)."""
from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6 import QtGui

ASSETS = Path(__file__).resolve().parents[2] / "assets"
ICONS = ASSETS / "icons"
STYLESHEET = ASSETS / "style.qss"
DEMO_DIR = ASSETS / "demo"
DEMO_WORKSPACE = DEMO_DIR / "demo.h5"


@cache
def icon(name: str) -> QtGui.QIcon:
    """``assets/icons/<name>.svg`` as an icon (an empty icon when the file is missing)."""
    path = ICONS / f"{name}.svg"
    return QtGui.QIcon(str(path)) if path.exists() else QtGui.QIcon()


def stylesheet() -> str:
    """The application stylesheet ('' when missing, so a broken install still starts).

    ``@ICONS@`` in the file stands for the icon folder (QSS resolves relative urls against the
    working directory, not the stylesheet).
    """
    try:
        return STYLESHEET.read_text().replace("@ICONS@", ICONS.as_posix())
    except OSError:
        return ""
