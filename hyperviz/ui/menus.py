"""The main window's actions, menus, tool bar and status bar (built once, wired to the window).

Every action is added to the window so its shortcut works wherever the focus is; the tool bar has
an ``objectName`` so its place is saved with the dock layout.
"""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from hyperviz.model.selection import Everything
from hyperviz.ui.range_slider import RangeSlider
from hyperviz.ui.resources import icon


def build_chrome(window) -> None:
    """Create ``window.act_*``, the menus, ``window.toolbar`` and the status bar widgets."""
    make_actions(window)
    make_menus(window)
    make_toolbar(window)
    make_status_bar(window)


def _action(window, text: str, slot, shortcut=None, icon_name: str | None = None, checkable: bool = False,
            tip: str | None = None) -> QtGui.QAction:
    action = QtGui.QAction(text, window)
    if icon_name:
        action.setIcon(icon(icon_name))
    if shortcut:
        action.setShortcuts([QtGui.QKeySequence(s) for s in (shortcut if isinstance(shortcut, list) else [shortcut])])
    action.setCheckable(checkable)
    if tip:
        action.setToolTip(tip)
        action.setStatusTip(tip)
    action.triggered.connect(slot)
    window.addAction(action)
    return action


def make_actions(window) -> None:
    K = QtGui.QKeySequence.StandardKey
    window.act_open = _action(window, "&Open workspace…", window.open_dialog, K.Open, "open", tip="Open a workspace (.h5)")
    window.act_demo = _action(window, "Open &demo", window.open_demo)
    window.act_export = _action(window, "&Export figure…", window.export_figure_dialog, "Ctrl+E", "export",
                                   tip="Save the map as PNG or SVG")
    window.act_save_bm = _action(window, "Save bookmarks…", window.save_bookmarks_dialog)
    window.act_load_bm = _action(window, "Load bookmarks…", window.load_bookmarks_dialog)
    window.act_quit = _action(window, "&Quit", window.close, K.Quit)
    window.act_undo = _action(window, "&Undo selection", window.state.undo, [K.Undo], "undo", tip="Undo (Ctrl+Z)")
    window.act_redo = _action(window, "&Redo selection", window.state.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "redo",
                                 tip="Redo (Ctrl+Shift+Z)")
    window.act_clear = _action(window, "&Clear selection", window.state.clear_selection, "Esc", "clear",
                                  tip="Clear the selection (Esc)")
    window.act_all = _action(window, "Select &all", lambda: window.state.select(Everything()), K.SelectAll)
    window.act_invert = _action(window, "&Invert selection", window._invert, "Ctrl+I")
    window.act_bookmark = _action(window, "&Bookmark this view…", window.selection_panel.add_bookmark_dialog, "Ctrl+D",
                                     "bookmark", tip="Bookmark selection, filters, colour and view (Ctrl+D)")
    window.tool_group = QtGui.QActionGroup(window)
    window.tool_actions = {}
    for tool, text, key in (("pan", "&Pan", "P"), ("box", "&Box select", "B"), ("lasso", "&Lasso select", "L")):
        action = _action(window, text, lambda _=False, t=tool: window.set_tool(t), key, tool, checkable=True,
                              tip=f"{text.replace('&', '')} ({key}) - Shift adds, Ctrl/Alt subtracts")
        window.tool_group.addAction(action)
        window.tool_actions[tool] = action
    window.tool_actions["pan"].setChecked(True)
    window.act_reset_view = _action(window, "&Reset view", window.map.reset_view, "Home")
    window.act_presentation = _action(window, "&Presentation mode", lambda on: window.set_presentation(on), "F5",
                                         "presentation", checkable=True,
                                         tip="Larger fonts and markers for teaching (F5)")
    window.act_cividis = _action(window, "Use cividis colour map", window._toggle_cividis, checkable=True)
    window.act_cividis.setChecked(window.settings.colour_map() == "cividis")
    window.act_reset_layout = _action(window, "Reset layout", window.reset_layout)
    window.act_build = _action(window, "&Build zoo…", window.build_zoo_dialog)
    window.act_import = _action(window, "&Import zoo…", window.import_zoo_dialog)
    window.act_train = _action(window, "&Train autoencoder…", window.train_dialog)
    window.act_umap = _action(window, "Compute &UMAP map…", window.umap_dialog)
    window.act_pca = _action(window, "Compute &PCA map", lambda: window.compute_projection("pca"))
    window.act_probe = _action(window, "Compute &probes", window.probes.compute)
    window.act_tour = _action(window, "&Quick tour", window.show_tour, "F1", "tour")
    window.act_about = _action(window, "&About hyperviz", window.about)


def make_menus(window) -> None:
    bar = window.menuBar()
    file = bar.addMenu("&File")
    file.addActions([window.act_open, window.act_demo])
    window.recent_menu = file.addMenu("Open &recent")
    window.recent_menu.aboutToShow.connect(window._fill_recent)
    file.addSeparator()
    file.addActions([window.act_export, window.act_save_bm, window.act_load_bm])
    file.addSeparator()
    file.addAction(window.act_quit)
    edit = bar.addMenu("&Edit")
    edit.addActions([window.act_undo, window.act_redo, window.act_clear, window.act_all, window.act_invert])
    edit.addSeparator()
    edit.addAction(window.act_bookmark)
    view = bar.addMenu("&View")
    view.addActions(list(window.tool_actions.values()))
    view.addSeparator()
    view.addActions([window.act_reset_view, window.act_presentation, window.act_cividis])
    view.addSeparator()
    for dock in (window.properties_dock, window.selection_dock, window.details_dock, window.generate_dock,
                 window.probe_dock, window.jobs_dock, window.training_dock):
        view.addAction(dock.toggleViewAction())
    view.addAction(window.act_reset_layout)
    jobs = bar.addMenu("&Jobs")
    jobs.addActions([window.act_build, window.act_import, window.act_train])
    jobs.addSeparator()
    jobs.addActions([window.act_umap, window.act_pca, window.act_probe])
    help_ = bar.addMenu("&Help")
    help_.addActions([window.act_tour, window.act_about])


def make_toolbar(window) -> None:
    bar = QtWidgets.QToolBar("Main tool bar", window)
    bar.setObjectName("mainToolbar")
    bar.setMovable(False)
    bar.setIconSize(QtCore.QSize(20, 20))
    bar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonIconOnly)
    window.addToolBar(bar)
    bar.addAction(window.act_open)
    bar.addSeparator()
    bar.addActions(list(window.tool_actions.values()))
    bar.addSeparator()
    bar.addActions([window.act_undo, window.act_redo, window.act_clear, window.act_bookmark])
    bar.addSeparator()
    bar.addWidget(QtWidgets.QLabel("Map"))
    window.projection_combo = QtWidgets.QComboBox()
    window.projection_combo.setObjectName("projectionCombo")
    window.projection_combo.setMinimumWidth(80)
    window.projection_combo.activated.connect(lambda _i: window._projection_chosen())
    bar.addWidget(window.projection_combo)
    bar.addWidget(QtWidgets.QLabel("Colour"))
    window.colour_combo = QtWidgets.QComboBox()
    window.colour_combo.setObjectName("colourCombo")
    window.colour_combo.setMinimumWidth(130)
    window.colour_combo.setMaxVisibleItems(20)
    window.colour_combo.activated.connect(lambda _i: window._colour_chosen())
    bar.addWidget(window.colour_combo)
    bar.addWidget(QtWidgets.QLabel("Epochs"))
    window.epoch_slider = RangeSlider()
    window.epoch_slider.setObjectName("epochSlider")
    window.epoch_slider.setFixedWidth(170)
    window.epoch_slider.range_changed.connect(window._epochs_chosen)
    bar.addWidget(window.epoch_slider)
    window.epoch_label = QtWidgets.QLabel("all")
    window.epoch_label.setMinimumWidth(48)
    bar.addWidget(window.epoch_label)
    spacer = QtWidgets.QWidget()
    spacer.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Preferred)
    bar.addWidget(spacer)
    bar.addActions([window.act_export, window.act_presentation, window.act_tour])
    window.toolbar = bar


def make_status_bar(window) -> None:
    status = window.statusBar()
    status.setObjectName("statusBar")
    window.job_label = QtWidgets.QLabel()
    window.job_bar = QtWidgets.QProgressBar()
    window.job_bar.setFixedSize(140, 8)
    window.job_bar.setTextVisible(False)
    window.job_cancel = QtWidgets.QPushButton("Cancel")
    window.job_cancel.clicked.connect(window._cancel_latest)
    for widget in (window.job_label, window.job_bar, window.job_cancel):
        widget.hide()
        status.addPermanentWidget(widget)
    window.count_label = QtWidgets.QLabel("")
    window.count_label.setObjectName("statusCount")
    window.count_label.setToolTip("selected / shown model states")
    status.addPermanentWidget(window.count_label)
