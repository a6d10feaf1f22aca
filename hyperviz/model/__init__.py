"""The Qt-free application model: what the views show and the work the app does, without any view.

Selections and the state views render (``selection``, ``predicates``, ``where``, ``state``), the
open workspace and the results of the jobs run on it (``workspace``), and the pure logic behind
the views: colour coding, histogram bins, brush gestures, number formatting. Nothing in this
package imports Qt or pyqtgraph, and only ``jobs`` - the background jobs, run in worker threads -
reaches into ``core`` (and so torch), inside its job functions; importing the model imports
neither. Views and commands depend on the model, never the reverse (pyproject.toml's
import-linter contracts check all of this). Import the modules directly, e.g.
``from hyperviz.model.selection import Range``.
"""
