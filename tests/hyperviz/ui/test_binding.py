"""Widgets bound to the state: the user's choice goes to a setter, the state shows with the widget's signals blocked."""
import numpy as np
from PySide6 import QtWidgets

from hyperviz.model.state import AppState
from hyperviz.ui.binding import bind_combo, blocker, connect_refresh, connect_setter


def small_state() -> AppState:
    state = AppState()
    state.set_table({"epoch": np.arange(10.0), "test_acc": np.linspace(0, 1, 10), "activation": np.array(["a", "b"] * 5),
                     "umap_x": np.zeros(10), "umap_y": np.zeros(10), "pca_x": np.ones(10), "pca_y": np.ones(10)})
    return state


def test_a_bound_combo_shows_the_states_choices_and_sets_it(qtbot):
    state, combo = small_state(), QtWidgets.QComboBox()
    qtbot.addWidget(combo)
    bind_combo(combo, state.projection_choices, lambda: state.projection, state.set_projection,
               [state.signals.table, state.signals.projection])
    assert [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())] == [("UMAP", "umap"), ("PCA", "pca")]
    assert combo.currentData() == "umap"
    echoed = []
    combo.currentIndexChanged.connect(echoed.append)
    state.set_projection("pca")                                  # state -> widget, its signals blocked
    assert combo.currentData() == "pca" and echoed == []
    combo.setCurrentIndex(combo.findData("umap"))                # widget -> state, as a user's choice
    combo.activated.emit(combo.currentIndex())
    assert state.projection == "umap"


def test_setattr_skips_what_convert_refuses_and_refresh_runs_blocked(qtbot):
    state, spin = small_state(), QtWidgets.QSpinBox()
    qtbot.addWidget(spin)
    spin.setRange(0, 9)
    connect_setter(spin.valueChanged, state.set_filter,
                    lambda value: None if value == 0 else ("epoch", value, None))
    connect_refresh([state.signals.filters], [spin], lambda: spin.setValue(int(state.filters.get("epoch", (0,))[0] or 0)))
    spin.setValue(3)
    assert state.filters == {"epoch": (3.0, None)}
    state.set_filter("epoch", 5, None)                           # shown without writing back
    assert spin.value() == 5 and state.filters == {"epoch": (5.0, None)}
    state.clear_filters()
    assert spin.value() == 0 and state.filters == {}             # 0 is refused by convert, and blocked anyway
    with blocker(spin):
        spin.setValue(7)
    assert state.filters == {}
