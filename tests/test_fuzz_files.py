"""Hostile files and arguments, generated: every one ends in success or exit status 2 with exactly
one stderr line, never a traceback, and no existing file changes.

A tiny valid zoo and workspace are built once through the CLI; each example copies them, damages
the copy (bit flips, truncation, an attribute or dataset replaced by random JSON, another type,
another shape, a huge declared shape, a group) and runs commands on it in-process through
``hyperviz.cli.main``. Opening the damaged workspace the way the app does
(``hyperviz.model.jobs.load_session_job``) must also give a HyperVizError or a session.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import HyperVizError
from core.progress import drive
from hyperviz.cli import main

GRID = {"activation": ["relu"], "init": ["kaiming_uniform"], "optimizer": ["adam"], "lr": [0.01],
        "weight_decay": [0.0], "dropout": [0.0]}
FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """zoo build (12 models, 1 epoch) -> fit (tiny, 1 epoch) -> embed -> project pca -> sample 3."""
    root = tmp_path_factory.mktemp("fuzz_valid")
    (root / "grid.json").write_text(json.dumps(GRID))
    zoo, ws = root / "zoo.h5", root / "ws.h5"
    for argv in (["zoo", "build", "--models", "12", "--epochs", "1", "--grid", root / "grid.json", "--out", zoo,
                  "--device", "cpu", "--chunk-size", "4"],
                 ["fit", zoo, "--out", ws, "--preset", "tiny", "--epochs", "1", "--device", "cpu"],
                 ["embed", ws, "--device", "cpu"],
                 ["project", ws, "--method", "pca"],
                 ["sample", ws, "-n", "3", "--method", "kde", "--device", "cpu"]):
        assert main([str(a) for a in argv] + ["-q", "--json"]) == 0
    return root


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_cli(capsys, argv, folder: Path) -> tuple[int, str]:
    """Run one command; assert the contract; return (code, stderr)."""
    before = _hashes(folder)
    capsys.readouterr()
    code = main([str(a) for a in argv])
    _out, err = capsys.readouterr()
    assert "Traceback" not in err, (argv, err)
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("error: "), (argv, err)
        after = _hashes(folder)
        assert {k: v for k, v in after.items() if k in before} == before, (argv, "an existing file changed")
    return code, err


def _copy(valid: Path, tmp: Path) -> Path:
    """A fresh folder with the zoo and workspace; the workspace finds its zoo beside it."""
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name in ("zoo.h5", "ws.h5"):
        shutil.copy(valid / name, tmp / name)
    with h5py.File(tmp / "ws.h5", "r+") as f:        # point it at this copy of the zoo
        zoo = json.loads(f["zoo"][()])
        zoo["path"] = str(tmp / "zoo.h5")
        del f["zoo"]
        f.create_dataset("zoo", data=json.dumps(zoo), dtype=h5py.string_dtype())
    return tmp


def _datasets(path: Path) -> list[str]:
    names: list[str] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return sorted(names)


# ---- what damage looks like -------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)
deep_json = st.integers(150, 3000).map(lambda d: "[" * d + "]" * d) | st.integers(150, 3000).map(
    lambda d: '{"a":' * d + "1" + "}" * d)
def h5_text(max_size: int):
    """Strings HDF5 can store: h5py refuses a NUL inside a string before any hyperviz code runs."""
    return st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=max_size)


attr_values = (st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=True) | h5_text(max_size=30) | st.booleans()
               | st.binary(max_size=30).map(np.void) | st.lists(st.integers(-5, 5), min_size=1, max_size=4).map(np.array)
               | json_values.map(json.dumps))


@st.composite
def replacement_arrays(draw):
    kind = draw(st.sampled_from(["f4", "f8", "i4", "i8", "u1", "bool", "str"]))
    shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
    n = int(np.prod(shape)) if shape else 1
    if kind == "str":
        return np.array(draw(st.lists(h5_text(max_size=6), min_size=n, max_size=n)), dtype=object).reshape(shape)
    if kind == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool).reshape(shape)
    values = draw(st.lists(st.integers(-(2**31), 2**31 - 1) if kind[0] == "i" else st.integers(0, 255) if kind == "u1"
                           else st.floats(allow_nan=True, width=32), min_size=n, max_size=n))
    return np.array(values, dtype=kind).reshape(shape)


damage = st.one_of(
    st.tuples(st.just("json"), json_values.map(json.dumps)),
    st.tuples(st.just("json"), deep_json),
    st.tuples(st.just("array"), replacement_arrays()),
    st.tuples(st.just("huge"), st.sampled_from(["f4", "i4"])),
    st.tuples(st.just("group"), st.none()),
    st.tuples(st.just("delete"), st.none()),
)


def _replace(path: Path, name: str, how: str, value) -> None:
    with h5py.File(path, "r+") as f:
        del f[name]
        if how == "json":
            f.create_dataset(name, data=value, dtype=h5py.string_dtype())
        elif how == "array":
            if value.dtype == object:
                f.create_dataset(name, data=value, dtype=h5py.string_dtype())
            else:
                f.create_dataset(name, data=value)
        elif how == "huge":                           # declared (1e6, 1e6), nothing stored
            f.create_dataset(name, shape=(10**6, 10**6), dtype=value)
        elif how == "group":
            f.create_group(name)


def _open_like_the_app(path: Path) -> None:
    from hyperviz.model.jobs import load_session_job

    try:
        drive(load_session_job(path))
    except HyperVizError as exc:
        assert "\n" not in str(exc)


# ---- zoos -------------------------------------------------------------------------------------
@FUZZ
@given(data=st.data())
def test_a_zoo_with_a_replaced_dataset(valid, tmp_path, capsys, data):
    folder = _copy(valid, tmp_path / "case")
    zoo = folder / "zoo.h5"
    name = data.draw(st.sampled_from(_datasets(zoo)), label="dataset")
    how, value = data.draw(damage, label="damage")
    _replace(zoo, name, how, value)
    run_cli(capsys, ["zoo", "info", zoo], folder)
    code, _ = run_cli(capsys, ["zoo", "verify", zoo, "-q"], folder)
    if name.startswith(("weights", "checksums", "states", "models", "meta", "present", "epochs")) and how != "delete":
        assert code == 2                                   # every part of the content is covered by a checksum
    run_cli(capsys, ["embed", folder / "ws.h5", "--device", "cpu", "-q"], folder)


@FUZZ
@given(data=st.data())
def test_a_zoo_with_a_replaced_attribute(valid, tmp_path, capsys, data):
    folder = _copy(valid, tmp_path / "case")
    zoo = folder / "zoo.h5"
    place, attr = data.draw(st.sampled_from([("/", "schema_version"), ("/", "content_sha256"), ("/", "complete"),
                                             ("/", "format"), ("checksums", "chunk_models"),
                                             ("checksums", "format")]), label="attribute")
    value = data.draw(attr_values | st.none(), label="value")
    with h5py.File(zoo, "r+") as f:
        if value is None:
            del f[place].attrs[attr]
        else:
            f[place].attrs[attr] = value
    run_cli(capsys, ["zoo", "info", zoo], folder)
    run_cli(capsys, ["zoo", "verify", zoo, "-q"], folder)


@FUZZ
@given(data=st.data())
def test_a_bit_flipped_or_truncated_zoo(valid, tmp_path, capsys, data):
    folder = _copy(valid, tmp_path / "case")
    zoo = folder / "zoo.h5"
    raw = bytearray(zoo.read_bytes())
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="length")]
    else:
        for offset in data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=8), label="offsets"):
            raw[offset] ^= 1 << data.draw(st.integers(0, 7))
    zoo.write_bytes(bytes(raw))
    run_cli(capsys, ["zoo", "info", zoo], folder)
    run_cli(capsys, ["zoo", "verify", zoo, "-q"], folder)
    run_cli(capsys, ["embed", folder / "ws.h5", "--device", "cpu", "-q"], folder)


def test_one_weight_changed_in_place_is_noticed(valid, tmp_path, capsys):
    folder = _copy(valid, tmp_path / "case")
    zoo, ws = folder / "zoo.h5", folder / "ws.h5"
    with h5py.File(zoo, "r+") as f:
        f["weights"][7, 1, 3] += 0.5
    for argv in (["zoo", "info", zoo], ["zoo", "verify", zoo], ["embed", ws, "--device", "cpu", "-q"],
                 ["fit", zoo, "--out", ws, "--preset", "tiny", "--epochs", "2", "--device", "cpu", "-q"]):
        code, err = run_cli(capsys, argv, folder)
        assert code == 2 and "/weights: model rows 0..11" in err and "changed since the zoo was written" in err


# ---- workspaces -------------------------------------------------------------------------------
WS_COMMANDS = (["probe", "{ws}", "--json"], ["export", "{ws}", "--out", "{out}"], ["project", "{ws}", "--method", "pca"])


@FUZZ
@given(data=st.data())
def test_a_workspace_with_a_replaced_dataset(valid, tmp_path, capsys, data):
    folder = _copy(valid, tmp_path / "case")
    ws = folder / "ws.h5"
    name = data.draw(st.sampled_from(_datasets(ws)), label="dataset")
    how, value = data.draw(damage, label="damage")
    _replace(ws, name, how, value)
    command = data.draw(st.sampled_from(WS_COMMANDS), label="command")
    run_cli(capsys, [a.format(ws=ws, out=tmp_path / "exported") for a in command], folder)
    _open_like_the_app(ws)


@FUZZ
@given(data=st.data())
def test_a_workspace_with_a_replaced_attribute_or_bits(valid, tmp_path, capsys, data):
    folder = _copy(valid, tmp_path / "case")
    ws = folder / "ws.h5"
    if data.draw(st.booleans(), label="attribute"):
        attr = data.draw(st.sampled_from(["schema_version", "format"]))
        value = data.draw(attr_values)
        with h5py.File(ws, "r+") as f:
            f.attrs[attr] = value
    else:
        raw = bytearray(ws.read_bytes())
        for offset in data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=8), label="offsets"):
            raw[offset] ^= 1 << data.draw(st.integers(0, 7))
        ws.write_bytes(bytes(raw))
    run_cli(capsys, ["probe", ws, "--json"], folder)
    _open_like_the_app(ws)


# ---- arguments --------------------------------------------------------------------------------
where_atoms = st.sampled_from(["test_acc", "epoch", "activation", "lr", "(", ")", "and", "or", "not", "in", ">=", "<",
                               "==", "!=", "'relu'", '"tanh"', ",", "0.5", "1e400", "-", "nan", "__import__('os')",
                               "9" * 400, "\x1b[31m", "\n", "\0"])
where_text = st.text(max_size=40) | st.lists(where_atoms, min_size=1, max_size=12).map(" ".join)


@FUZZ
@given(where=where_text)
def test_where_strings(valid, tmp_path, capsys, where):
    folder = _copy(valid, tmp_path / "case")
    run_cli(capsys, ["sample", folder / "ws.h5", "--where", where, "-n", "2", "--method", "random", "--device", "cpu",
                     "-q", "--json"], folder)


numbers = st.one_of(st.integers(-(2**70), 2**70).map(str), st.floats(allow_nan=True).map(str),
                    st.sampled_from(["", "1e9", "0x10", "1_000", " 3", "nan", "inf", "-0", "9" * 400]),
                    st.text(max_size=8))


@FUZZ
@given(option=st.sampled_from(["--models", "--epochs", "--seed", "--batch-size", "--chunk-size"]), value=numbers)
def test_numeric_arguments_of_zoo_build(valid, tmp_path, capsys, option, value):
    """Onto an existing workspace: whatever the numbers, nothing starts and nothing is replaced."""
    folder = _copy(valid, tmp_path / "case")
    code, _ = run_cli(capsys, ["zoo", "build", option, value, "--out", folder / "ws.h5", "--device", "cpu", "-q"], folder)
    assert code == 2


@FUZZ
@given(option=st.sampled_from(["--seed", "--bandwidth"]), value=numbers)
def test_numeric_arguments_of_sample(valid, tmp_path, capsys, option, value):
    folder = _copy(valid, tmp_path / "case")
    run_cli(capsys, ["sample", folder / "ws.h5", option, value, "-n", "2", "--method", "kde", "--device", "cpu",
                     "-q", "--json"], folder)


# ---- the cases of issue 10, one by one --------------------------------------------------------
def _set_json(path: Path, name: str, text: str) -> None:
    _replace(path, name, "json", text)


def _first_run(path: Path) -> str:
    with h5py.File(path, "r") as f:
        return "samples/" + sorted(f["samples"])[0] + "/meta"


ISSUE_CASES = {
    "schema version a string": ("zoo.h5", lambda z, w: h5py.File(z, "r+").attrs.__setitem__("schema_version", "1"),
                                "/@schema_version: the string '1', expected the integer 2"),
    "no content_sha256": ("zoo.h5", lambda z, w: h5py.File(z, "r+").attrs.__delitem__("content_sha256"),
                          "/@content_sha256: missing"),
    "/present of the wrong shape": ("zoo.h5", lambda z, w: _replace(z, "present", "array", np.ones((3, 1), bool)),
                                    "/present: shape (3, 1), expected (12, 2)"),
    "/epochs of the wrong shape": ("zoo.h5", lambda z, w: _replace(z, "epochs", "array", np.arange(5, dtype="i4")),
                                   "/epochs: shape (5,), expected (2,)"),
    "meta/task nested deeply": ("zoo.h5", lambda z, w: _set_json(z, "meta/task", "[" * 100_000 + "]" * 100_000),
                                "/meta/task: JSON nested more than 200 levels deep"),
    "/weights declared (1e6, 1e6)": ("zoo.h5", lambda z, w: _replace(z, "weights", "huge", "f4"),
                                     "/weights: shape (1000000, 1000000), expected"),
    "/zoo set to [1, 2]": ("ws.h5", lambda z, w: _set_json(w, "zoo", "[1, 2]"),
                           "/zoo: expected a JSON object, found a list of 2"),
    '/zoo set to {"path": null}': ("ws.h5", lambda z, w: _set_json(w, "zoo", '{"path": null, "sha256": "x"}'),
                                   "/zoo: 'path' is null, expected a string"),
    "sample metadata a list": ("ws.h5", lambda z, w: _set_json(w, _first_run(w), "[1, 2, 3]"),
                               "/meta: expected a JSON object, found a list of 3"),
    "/bookmarks nested deeply": ("ws.h5", lambda z, w: _set_json(w, "bookmarks", '{"a":' * 50_000 + "1" + "}" * 50_000),
                                 "/bookmarks: JSON nested more than 200 levels deep"),
    "/states holding 10**6": ("ws.h5", lambda z, w: _replace(w, "states", "array", np.array(10**6)),
                              "/states: shape (), expected (any, 2)"),
    "/split of the wrong length": ("ws.h5", lambda z, w: _replace(w, "split", "array",
                                                                  np.array(["train"] * 11, dtype=object)),
                                   "/split: 11 entries, expected one per zoo model (12)"),
    "an autoencoder tensor declared (1e6, 1e6)": (
        "ws.h5", lambda z, w: _replace(w, "autoencoder/tensors/token_embed.weight", "huge", "f4"),
        "declares shape (1000000, 1000000) (4 TB) but the file stores 0 bytes"),
}


@pytest.mark.parametrize("case", sorted(ISSUE_CASES))
def test_each_damaged_file_of_the_issue_is_one_line(valid, tmp_path, capsys, case):
    target, damage_it, expected = ISSUE_CASES[case]
    folder = _copy(valid, tmp_path / "case")
    zoo, ws = folder / "zoo.h5", folder / "ws.h5"
    damage_it(zoo, ws)
    for argv in ([["zoo", "info", zoo]] if target == "zoo.h5" else []) + [["probe", ws, "--json"],
                                                                          ["embed", ws, "--device", "cpu", "-q"]]:
        code, err = run_cli(capsys, argv, folder)
        assert code == 2 and expected in err and str(folder / target) in err, (argv, err)
    with pytest.raises(HyperVizError, match=expected.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        from hyperviz.model.jobs import load_session_job

        drive(load_session_job(ws))


def test_an_autoencoder_tensor_that_is_a_scalar_is_one_line(valid, tmp_path, capsys):
    """Found by the fuzz suite: a 0-d tensor reached torch.from_numpy as a numpy scalar."""
    folder = _copy(valid, tmp_path / "case")
    ws = folder / "ws.h5"
    _replace(ws, "autoencoder/tensors/dec_ln.bias", "array", np.array(0.0, np.float32))
    code, err = run_cli(capsys, ["probe", ws, "--json"], folder)
    assert code == 2 and f"{ws}: /autoencoder: autoencoder weights: 'dec_ln.bias' has shape ()" in err, err
