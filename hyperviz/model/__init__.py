"""The Qt-free application model: selections and the state views render.

Nothing in this package may import Qt, pyqtgraph or torch; views depend on it, never the reverse.
Import the modules directly, e.g. ``from hyperviz.model.selection import Range``.
"""
