"""Opening a damaged workspace in the app: its one error line, and the window keeps what it showed."""
import json
import shutil

import h5py
import numpy as np
import pytest

from tests.test_fuzz_files import _replace


def _json(ws, name, text):
    _replace(ws, name, "json", text)


def _flip(ws):
    raw = bytearray(ws.read_bytes())
    rng = np.random.default_rng(3)
    for offset in rng.integers(0, len(raw), 64):
        raw[offset] ^= 0xFF
    ws.write_bytes(bytes(raw))


DAMAGE = {
    "/zoo is [1, 2]": (lambda ws: _json(ws, "zoo", "[1, 2]"), "/zoo: expected a JSON object"),
    '/zoo is {"path": null}': (lambda ws: _json(ws, "zoo", '{"path": null}'), "/zoo: 'path' is null"),
    "/split too short": (lambda ws: _replace(ws, "split", "array", np.array(["train"], dtype=object)),
                         "/split: 1 entries, expected one per zoo model"),
    "/states is 10**6": (lambda ws: _replace(ws, "states", "array", np.array(10**6)), "/states: shape ()"),
    "/bookmarks nested deeply": (lambda ws: _json(ws, "bookmarks", "[" * 5000 + "]" * 5000),
                                 "/bookmarks: JSON nested more than"),
    "/bookmarks a list of numbers": (lambda ws: _json(ws, "bookmarks", "[1, 2]"), "/bookmarks[0]: the number 1"),
    "/embeddings declared (1e6, 1e6)": (lambda ws: _replace(ws, "embeddings", "huge", "f4"), "/embeddings: declares"),
    "a map of the wrong length": (lambda ws: _replace(ws, "projections/pca/coords", "array", np.zeros((3, 2), "f4")),
                                  "/projections/pca/coords: shape (3, 2)"),
    "64 flipped bytes": (_flip, ""),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_workspace_is_one_message_and_the_window_stays_usable(window, qtbot, tmp_path, workspace_path, case):
    damage, expected = DAMAGE[case]
    for name in ("ws.h5", "zoo.h5"):
        shutil.copy(workspace_path.parent / name, tmp_path / name)
    ws = tmp_path / "ws.h5"
    with h5py.File(ws, "r+") as f:                         # the zoo beside the copy
        zoo = json.loads(f["zoo"][()])
        zoo["path"] = str(tmp_path / "zoo.h5")
        del f["zoo"]
        f.create_dataset("zoo", data=json.dumps(zoo), dtype=h5py.string_dtype())
    damage(ws)
    before = window.state.n
    with qtbot.waitSignal(window.load_failed, timeout=30_000) as blocker:
        window.open_workspace(ws)
    message = blocker.args[0]
    assert "\n" not in message and "Traceback" not in message and "Unexpected" not in message
    assert expected in message and ("ws.h5" in message or "zoo.h5" in message)
    assert window.state.n == before and window.workspace.session is not None
    window.state.brush_range("test_acc", 0.5, None)          # still usable
    assert window.state.selected_mask.sum() <= before
