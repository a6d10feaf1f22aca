"""Architecture rules: core never imports Qt or the app; hyperviz/ui holds views only; the console entry points exist."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_never_imports_qt_or_hyperviz():
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "core").rglob("*.py"))
    assert len(modules) > 20
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name.removesuffix('.__init__'))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'superqt', 'hyperviz'))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_core_is_its_stage_packages_beside_the_shared_basics():
    basics = {"__init__", "errors", "device", "progress", "jsonfile", "validate", "children", "writelock"}
    assert {p.stem for p in (ROOT / "core").glob("*.py")} == basics
    assert {p.name for p in (ROOT / "core").iterdir() if p.is_dir() and p.name != "__pycache__"} == {
        "zoo", "hyperrep", "analysis", "generate"}


def test_no_source_file_in_core_mentions_qt():
    for path in (ROOT / "core").rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert not any(q in stripped for q in ("PySide6", "pyqtgraph", "hyperviz")), f"{path.name}: {stripped}"


def test_every_ui_module_imports_qt():
    """hyperviz/ui is the views: logic without Qt belongs in hyperviz/model, where the views share it."""
    for path in sorted((ROOT / "hyperviz" / "ui").glob("*.py")):
        if path.name == "__init__.py":
            continue
        body = ast.parse(path.read_text()).body
        imported = {alias.name for node in body if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in body if isinstance(node, ast.ImportFrom) and node.module}
        assert {name.split(".")[0] for name in imported} & {"PySide6", "pyqtgraph"}, f"{path.name} does not import Qt"
