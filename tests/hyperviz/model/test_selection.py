"""Combine modes, undo history, summaries, and the Qt-free import boundary."""
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hyperviz.model.selection import (
    MODES,
    And,
    Compare,
    Everything,
    Not,
    Nothing,
    Or,
    Range,
    SelectionError,
    SelectionHistory,
    Xor,
    combine,
    count_label,
    summary,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
TABLE = {
    "test_acc": np.array([0.90, 0.50, np.nan, 0.85, 1.00, 0.10]),
    "epoch": np.array([0, 5, 10, 20, 25, 50]),
    "activation": np.array(["relu", "tanh", "relu", "gelu", "sigmoid", "tanh"]),
}
GOOD = Range("test_acc", 0.85, None)     # rows 0, 3, 4
LATE = Compare("epoch", ">=", 20)        # rows 3, 4, 5


@pytest.mark.parametrize("mode, expected_rows", [
    ("replace", [3, 4, 5]),
    ("add", [0, 3, 4, 5]),
    ("subtract", [0]),
    ("intersect", [3, 4]),
    ("xor", [0, 5]),
])
def test_combine_modes_give_the_expected_masks(mode, expected_rows):
    result = combine(mode, GOOD, LATE)
    assert np.flatnonzero(result.evaluate(TABLE)).tolist() == expected_rows


def test_combine_builds_the_plain_tree_when_nothing_simplifies():
    assert combine("replace", GOOD, LATE) == LATE
    assert combine("add", GOOD, LATE) == Or(GOOD, LATE)
    assert combine("subtract", GOOD, LATE) == And(GOOD, Not(LATE))
    assert combine("intersect", GOOD, LATE) == And(GOOD, LATE)
    assert combine("xor", GOOD, LATE) == Xor(GOOD, LATE)
    assert combine("add", Or(GOOD, LATE), Compare("epoch", "==", 5)).parts[-1] == \
        Compare("epoch", "==", 5)   # flat, not nested


@pytest.mark.parametrize("mode, current, new, expected", [
    ("add", Nothing(), GOOD, GOOD),
    ("add", GOOD, Nothing(), GOOD),
    ("add", GOOD, Everything(), Everything()),
    ("add", GOOD, GOOD, GOOD),
    ("add", GOOD, Not(GOOD), Everything()),
    ("intersect", Everything(), GOOD, GOOD),
    ("intersect", GOOD, Everything(), GOOD),
    ("intersect", GOOD, Nothing(), Nothing()),
    ("intersect", GOOD, GOOD, GOOD),
    ("subtract", GOOD, GOOD, Nothing()),
    ("subtract", GOOD, Nothing(), GOOD),
    ("subtract", GOOD, Everything(), Nothing()),
    ("subtract", Nothing(), GOOD, Nothing()),
    ("subtract", Everything(), GOOD, Not(GOOD)),
    ("subtract", Everything(), Not(GOOD), GOOD),      # no double negation
    ("xor", GOOD, GOOD, Nothing()),
    ("xor", Nothing(), GOOD, GOOD),
    ("xor", GOOD, Nothing(), GOOD),
    ("xor", Everything(), GOOD, Not(GOOD)),
    ("xor", Not(GOOD), Everything(), GOOD),
    ("replace", GOOD, Nothing(), Nothing()),
])
def test_combine_simplifies_trivial_cases(mode, current, new, expected):
    assert combine(mode, current, new) == expected


def test_a_brushing_session_keeps_the_tree_small():
    selection = Nothing()
    selection = combine("add", selection, GOOD)
    selection = combine("add", selection, GOOD)
    selection = combine("subtract", selection, GOOD)
    assert selection == Nothing()


def test_combine_rejects_unknown_modes():
    with pytest.raises(SelectionError, match="unknown selection mode 'union'.*replace"):
        combine("union", GOOD, LATE)
    assert MODES == ("replace", "add", "subtract", "intersect", "xor")


# --- history ------------------------------------------------------------------------------------

A, B, C, D = (Compare("epoch", ">=", k) for k in (1, 2, 3, 4))


def test_history_starts_cleared_and_undoes_and_redoes():
    history = SelectionHistory()
    assert history.current == Nothing()
    assert not history.can_undo and not history.can_redo
    assert history.push(A) == A
    history.push(B)
    assert history.current == B and history.can_undo and not history.can_redo
    assert history.undo() == A
    assert history.can_redo
    assert history.undo() == Nothing()
    assert not history.can_undo
    assert history.undo() == Nothing()          # undo at the oldest is a no-op
    assert history.redo() == A
    assert history.redo() == B
    assert history.redo() == B                  # redo at the newest is a no-op
    assert len(history) == 3


def test_pushing_after_undo_drops_the_redo_branch():
    history = SelectionHistory(initial=Everything())
    history.push(A)
    history.push(B)
    history.undo()
    history.push(C)
    assert not history.can_redo
    assert history.undo() == A
    assert history.undo() == Everything()
    assert len(history) == 3


def test_pushing_the_current_value_is_a_no_op():
    history = SelectionHistory()
    history.push(A)
    history.push(Compare("epoch", ">=", 1))     # equal value, different object
    assert len(history) == 2
    history.undo()
    history.push(Nothing())                     # equal to current: redo branch survives
    assert history.can_redo and history.redo() == A


def test_history_is_bounded():
    history = SelectionHistory(max_length=3)
    for selection in (A, B, C, D):
        history.push(selection)
    assert len(history) == 3
    assert history.undo() == C
    assert history.undo() == B
    assert not history.can_undo
    with pytest.raises(ValueError, match="max_length"):
        SelectionHistory(max_length=0)
    with pytest.raises(SelectionError, match="predicates"):
        history.push("epoch >= 3")


# --- summary ------------------------------------------------------------------------------------

def test_summary_counts_and_nan_safe_statistics():
    mask = np.array([True, False, True, True, False, False])      # row 2 has NaN test_acc
    result = summary(TABLE, mask, ["test_acc", "epoch"])
    assert result["count"] == 3 and result["total"] == 6
    assert result["stats"]["test_acc"] == pytest.approx({"mean": 0.875, "min": 0.85, "max": 0.9})
    assert result["stats"]["epoch"] == pytest.approx({"mean": 10.0, "min": 0.0, "max": 20.0})


def test_summary_of_an_empty_or_all_nan_selection_is_nan():
    result = summary(TABLE, np.zeros(6, dtype=bool), ["test_acc"])
    assert result["count"] == 0
    assert all(math.isnan(v) for v in result["stats"]["test_acc"].values())
    only_nan = np.array([False, False, True, False, False, False])
    assert math.isnan(summary(TABLE, only_nan, ["test_acc"])["stats"]["test_acc"]["mean"])
    assert summary(TABLE, only_nan) == {"count": 1, "total": 6, "stats": {}}


def test_summary_rejects_bad_masks_and_columns():
    with pytest.raises(SelectionError, match=r"shape \(6,\)"):
        summary(TABLE, np.ones(5, dtype=bool))
    with pytest.raises(SelectionError, match="boolean"):
        summary(TABLE, np.ones(6))
    with pytest.raises(SelectionError, match="does not hold numbers"):
        summary(TABLE, np.ones(6, dtype=bool), ["activation"])
    with pytest.raises(SelectionError, match="unknown column 'acc'"):
        summary(TABLE, np.ones(6, dtype=bool), ["acc"])


def test_count_label():
    assert count_label(47, 412) == "47 / 412"
    assert count_label(0, 0) == "0 / 0"


# --- dependency rule ----------------------------------------------------------------------------

def test_selection_model_imports_no_qt_or_torch():
    code = (
        "import sys\n"
        "import hyperviz.model.selection, hyperviz.model.where\n"
        "assert 'numpy' in sys.modules\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', 'torch')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
