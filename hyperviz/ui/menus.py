"""The main window's actions, menus and tool bar (built once, wired to the window and its state).

Every action is added to the window so its shortcut works wherever the focus is; the tool bar has
an ``objectName`` so its place is saved with the dock layout. Actions that need a table are
enabled while one is shown, and undo, redo and clear follow the selection (:func:`follow_state`).
The Jobs menu's actions are :class:`hyperviz.ui.jobs_menu.JobsMenu`'s.
"""
from __future__ import annotations

from PySide6 import QtGui

from hyperviz.model.selection import Everything
from hyperviz.ui.resources import icon
from hyperviz.ui.toolbar import MainToolBar


def build_chrome(window) -> None:
    """Create ``window.act_*``, the menus and ``window.toolbar``; keep the actions in step with the state."""
    make_actions(window)
    make_menus(window)
    make_toolbar(window)
    follow_state(window)


def action(window, text: str, slot, shortcut=None, icon_name: str | None = None, checkable: bool = False,
           tip: str | None = None) -> QtGui.QAction:
    """An action of ``window`` (its shortcut works anywhere in the window) that calls ``slot``."""
    act = QtGui.QAction(text, window)
    if icon_name:
        act.setIcon(icon(icon_name))
    if shortcut:
        act.setShortcuts([QtGui.QKeySequence(s) for s in (shortcut if isinstance(shortcut, list) else [shortcut])])
    act.setCheckable(checkable)
    if tip:
        act.setToolTip(tip)
        act.setStatusTip(tip)
    act.triggered.connect(slot)
    window.addAction(act)
    return act


def make_actions(window) -> None:
    K = QtGui.QKeySequence.StandardKey
    window.act_open = action(window, "&Open workspace…", window.open_dialog, K.Open, "open", tip="Open a workspace (.h5)")
    window.act_demo = action(window, "Open &demo", window.open_demo)
    window.act_export = action(window, "&Export figure…", window.export_figure_dialog, "Ctrl+E", "export",
                               tip="Save the map as PNG or SVG")
    window.act_save_bm = action(window, "Save bookmarks…", window.save_bookmarks_dialog)
    window.act_load_bm = action(window, "Load bookmarks…", window.load_bookmarks_dialog)
    window.act_quit = action(window, "&Quit", window.close, K.Quit)
    window.act_undo = action(window, "&Undo selection", window.state.undo, [K.Undo], "undo", tip="Undo (Ctrl+Z)")
    window.act_redo = action(window, "&Redo selection", window.state.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "redo",
                             tip="Redo (Ctrl+Shift+Z)")
    window.act_clear = action(window, "&Clear selection", window.state.clear_selection, "Esc", "clear",
                              tip="Clear the selection (Esc)")
    window.act_all = action(window, "Select &all", lambda: window.state.select(Everything()), K.SelectAll)
    window.act_invert = action(window, "&Invert selection", lambda: window.state.select(Everything(), "xor"), "Ctrl+I")
    window.act_bookmark = action(window, "&Bookmark this view…", window.selection_panel.add_bookmark_dialog, "Ctrl+D",
                                 "bookmark", tip="Bookmark selection, filters, colour and view (Ctrl+D)")
    window.tool_group = QtGui.QActionGroup(window)
    window.tool_actions = {}
    for tool, text, key in (("pan", "&Pan", "P"), ("box", "&Box select", "B"), ("lasso", "&Lasso select", "L")):
        act = action(window, text, lambda _=False, t=tool: window.set_tool(t), key, tool, checkable=True,
                     tip=f"{text.replace('&', '')} ({key}) - Shift adds, Ctrl/Alt subtracts")
        window.tool_group.addAction(act)
        window.tool_actions[tool] = act
    window.tool_actions["pan"].setChecked(True)
    window.act_reset_view = action(window, "&Reset view", window.map.reset_view, "Home")
    window.act_zoom_selection = action(window, "&Zoom to selection", window.map.zoom_to_selection, "F",
                                       tip="Frame the selected states in the map (F)")
    window.act_density = action(window, "&Density view", window.map.set_density, checkable=True,
                                tip="Show how many states fall in each part of the map instead of the points "
                                    "(on by default above 200k states)")
    window.map.density_changed.connect(window.act_density.setChecked)
    window.act_find = action(window, "&Find model…", lambda: window.query_bar.find_edit.setFocus(),
                             QtGui.QKeySequence.StandardKey.Find, tip="Find a model by its id (Ctrl+F)")
    window.act_presentation = action(window, "&Presentation mode", lambda on: window.set_presentation(on), "F5",
                                     "presentation", checkable=True, tip="Larger fonts and markers for teaching (F5)")
    window.act_cividis = action(window, "Use cividis colour map", window.toggle_cividis, checkable=True)
    window.act_cividis.setChecked(window.settings.colour_map() == "cividis")
    window.act_reset_layout = action(window, "Reset layout", window.reset_layout)
    window.act_tour = action(window, "&Quick tour", window.show_tour, "F1", "tour")
    window.act_about = action(window, "&About hyperviz", window.about)


def make_menus(window) -> None:
    bar = window.menuBar()
    file = bar.addMenu("&File")
    file.addActions([window.act_open, window.act_demo])
    window.recent_menu = file.addMenu("Open &recent")
    window.recent_menu.aboutToShow.connect(window.fill_recent)
    file.addSeparator()
    file.addActions([window.act_export, window.act_save_bm, window.act_load_bm])
    file.addSeparator()
    file.addAction(window.act_quit)
    edit = bar.addMenu("&Edit")
    edit.addActions([window.act_undo, window.act_redo, window.act_clear, window.act_all, window.act_invert])
    edit.addSeparator()
    edit.addActions([window.act_find, window.act_bookmark])
    view = bar.addMenu("&View")
    view.addActions(list(window.tool_actions.values()))
    view.addSeparator()
    view.addActions([window.act_reset_view, window.act_zoom_selection, window.act_density, window.act_presentation,
                     window.act_cividis])
    view.addSeparator()
    for dock in (window.properties_dock, window.selection_dock, window.details_dock, window.generate_dock,
                 window.probe_dock, window.jobs_dock, window.training_dock):
        view.addAction(dock.toggleViewAction())
    view.addAction(window.act_reset_layout)
    window.jobs_menu.fill(bar.addMenu("&Jobs"))
    help_ = bar.addMenu("&Help")
    help_.addActions([window.act_tour, window.act_about])


def make_toolbar(window) -> None:
    leading = ([window.act_open], list(window.tool_actions.values()),
               [window.act_undo, window.act_redo, window.act_clear, window.act_bookmark])
    window.toolbar = MainToolBar(window.state, leading, [window.act_export, window.act_presentation, window.act_tour],
                                 window)
    window.addToolBar(window.toolbar)


def follow_state(window) -> None:
    """Actions that need a table are enabled while one is shown; undo, redo and clear follow the selection."""
    state = window.state
    needs_table = (window.act_export, window.act_bookmark, window.act_all, window.act_invert, window.act_save_bm,
                   window.act_density, window.act_find, *window.jobs_menu.workspace_actions,
                   *window.tool_actions.values())

    def refresh(changed: frozenset) -> None:
        if "table" in changed:
            for act in needs_table:
                act.setEnabled(state.n > 0)
        window.act_undo.setEnabled(state.history.can_undo)
        window.act_redo.setEnabled(state.history.can_redo)
        window.act_clear.setEnabled(state.has_selection)
        window.act_zoom_selection.setEnabled(state.has_selection)

    state.signals.watch(("table", "selection"), refresh)
    refresh(frozenset(("table",)))
