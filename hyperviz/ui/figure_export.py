"""File > Export figure: a pyqtgraph scene as PNG or SVG, with a workaround for pyqtgraph's SVG exporter.

pyqtgraph 0.14's SVG exporter cannot parse closed paths (``... Z``), which Qt 6.11 writes for
every clipped view (pyqtgraph issue #3495, fixed upstream after 0.14): while exporting, the
closing ``Z`` is stripped before its coordinate fix-up and put back after.
"""
from __future__ import annotations

import contextlib
import importlib

from PySide6 import QtWidgets


@contextlib.contextmanager
def _closed_paths_tolerated():
    """Patch pyqtgraph's SVG coordinate fix-up for the duration of one export (see the module docstring)."""
    module = importlib.import_module("pyqtgraph.exporters.SVGExporter")
    original = module.correctCoordinates

    def correct(node, defs, item, options):
        closed = []
        for element in node.getElementsByTagName("path"):
            d = element.getAttribute("d").strip()
            if d.endswith("Z"):
                element.setAttribute("d", d[:-1].strip())
                closed.append(element)
        original(node, defs, item, options)
        for element in closed:
            element.setAttribute("d", element.getAttribute("d").strip() + " Z")

    module.correctCoordinates = correct
    try:
        yield
    finally:
        module.correctCoordinates = original


def export_scene(scene: QtWidgets.QGraphicsScene, path: str, width: int) -> None:
    """Write ``scene`` as SVG (``.svg``) or as a PNG ``width`` pixels wide (anything else)."""
    from pyqtgraph import exporters

    if str(path).lower().endswith(".svg"):
        with _closed_paths_tolerated():
            exporters.SVGExporter(scene).export(str(path))
        return
    exporter = exporters.ImageExporter(scene)
    exporter.parameters()["width"] = int(width)
    exporter.parameters()["antialias"] = True
    exporter.export(str(path))
