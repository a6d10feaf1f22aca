"""The generate dock on a tiny trained workspace: sample in the background, stars in the map,
the sortable table, export; a cancelled run leaves the workspace as it was."""
import shutil

import pytest
from PySide6 import QtCore

from hyperviz.model.predicates import InSet
from hyperviz.model.selection import Everything

tiny = pytest.importorskip("tests.core.generate.test_sampling", reason="needs the shared tiny trained workspace")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return tiny.tiny_workspace(tmp_path_factory)


@pytest.fixture
def generate_window(window, trained, tmp_path, qtbot):
    for path in trained.parent.glob("*.h5"):
        shutil.copy(path, tmp_path / path.name)
    with qtbot.waitSignal(window.loaded, timeout=60_000):
        window.open_workspace(tmp_path / trained.name)
    return window


def test_sample_export_and_table(generate_window, qtbot, tmp_path):
    window = generate_window
    panel = window.generate
    assert not panel.sample_button.isEnabled()                 # nothing selected yet
    window.state.select(Everything())
    assert panel.sample_button.isEnabled()
    panel.method.setCurrentIndex(panel.method.findData("kde"))
    panel.n.setValue(4)
    panel.sample_button.click()
    with qtbot.waitSignal(panel.handle.done, timeout=120_000):
        pass
    assert panel.handle.outcome == "finished", panel.handle.message
    samples = window.state.samples
    assert len(samples["run"]) == 4 and set(samples["method"]) == {"kde"}
    assert panel.table.rowCount() == 4
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    same = headers.index("mistakes")                        # the copy test, per sample
    assert all(-1 <= panel.table.item(r, same).key <= 1 for r in range(4))
    assert 0 <= panel.table.item(0, headers.index("max agreement")).key <= 1
    assert "are copies" in panel.status.text()
    assert panel.method.findData("reconstruct") >= 0
    assert len(window.map.samples.data) == 4                    # stars in the map
    assert window.map.samples._symbol == "star"
    from core.hyperrep.workspace import load_workspace

    assert list(load_workspace(window.session.path).samples) == ["r001_kde"]   # stored in the file
    panel.table.sortItems(2, QtCore.Qt.SortOrder.DescendingOrder)               # by test accuracy
    accs = [panel.table.item(r, 2).key for r in range(4)]
    assert accs == sorted(accs, reverse=True)
    panel.table.selectRow(0)
    ids = panel.chosen_ids()
    assert len(ids) == 1 and ids[0][0] == "r001_kde"
    assert panel.export_button.isEnabled()
    handle = panel.export(ids, str(tmp_path / "out"), ["safetensors"])
    with qtbot.waitSignal(handle.done, timeout=60_000):
        pass
    assert handle.outcome == "finished", handle.message
    assert len(list((tmp_path / "out").glob("*.safetensors"))) == 1
    assert len(list((tmp_path / "out").glob("*.json"))) == 1


def test_cancelled_sampling_leaves_the_workspace_unchanged(generate_window, qtbot):
    window = generate_window
    panel = window.generate
    before = dict(window.session.ws.samples)
    window.state.select(Everything())
    panel.n.setValue(64)
    panel.finetune.setValue(3)
    panel.sample_button.click()
    panel.cancel()
    with qtbot.waitSignal(panel.handle.done, timeout=120_000):
        pass
    assert panel.handle.outcome == "cancelled"
    assert window.session.ws.samples == before
    from core.hyperrep.workspace import load_workspace

    assert load_workspace(window.session.path).samples.keys() == before.keys()
    assert "unchanged" in panel.status.text()


def test_target_task_choice_transfers_the_samples(generate_window, qtbot):
    window = generate_window
    panel = window.generate
    labels = [panel.target.itemText(i) for i in range(panel.target.count())]
    specs = [panel.target.itemData(i) for i in range(panel.target.count())]
    assert specs[0] is None and labels[0] == "digits (own task)"       # no transfer by default
    assert {"shapes", "digits-rotated", "digits-inverted"} <= set(specs[1:]) and "digits" not in specs
    window.state.select(Everything())
    panel.method.setCurrentIndex(panel.method.findData("noise"))
    panel.n.setValue(3)
    panel.finetune.setValue(1)
    panel.target.setCurrentIndex(specs.index("shapes"))
    panel.sample_button.click()
    with qtbot.waitSignal(panel.handle.done, timeout=120_000):
        pass
    assert panel.handle.outcome == "finished", panel.handle.message
    assert "On shapes: zero-shot" in panel.status.text() and "fine-tuned" in panel.status.text()
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    col = headers.index("target acc")
    assert not panel.table.isColumnHidden(col)
    assert all(0 <= panel.table.item(r, col).key <= 1 for r in range(3))
    from core.hyperrep.workspace import load_workspace

    run = load_workspace(window.session.path).samples["r001_noise"]
    assert run["meta"]["target_task"]["name"] == "shapes" and run["arrays"]["target_acc"].shape == (3,)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A zoo of two architectures (cnn, mlp; 6 models x 3 checkpoints), fitted, embedded and mapped."""
    from core.analysis.maps import project_job
    from core.hyperrep.embed import embed_job
    from core.hyperrep.fit import fit_job
    from core.progress import drive
    from core.zoo.population import build_zoo_job
    from core.zoo.spec import ZooSpec

    folder = tmp_path_factory.mktemp("mixed_ui")
    grid = {"activation": ["relu"], "init": ["kaiming_uniform"], "optimizer": ["adam"], "lr": [1e-2],
            "weight_decay": [0.0], "dropout": [0.0]}
    zoo = drive(build_zoo_job(ZooSpec(arch="cnn,mlp", n_models=6, epochs=2, grid=grid, chunk_size=3),
                              folder / "zoo.h5", "cpu"))
    ws = folder / "ws.h5"
    drive(fit_job(zoo, ws, preset="tiny", epochs=1, device="cpu"))
    drive(embed_job(ws, device="cpu"))
    drive(project_job(ws, "pca"))
    return ws


def reconstruct_two(window, qtbot) -> dict:
    """Sample 2 reconstructions from the dock as it is set; the run stored in the file (the only one)."""
    from core.hyperrep.workspace import load_workspace

    panel = window.generate
    panel.method.setCurrentIndex(panel.method.findData("reconstruct"))
    panel.n.setValue(2)
    panel.sample_button.click()
    with qtbot.waitSignal(panel.handle.done, timeout=120_000):
        pass
    assert panel.handle.outcome == "finished", panel.handle.message
    (run,) = load_workspace(window.session.path).samples.values()
    return run


def test_architecture_choice_in_a_zoo_of_several(window, mixed, tmp_path, qtbot):
    """A zoo of several lists its architectures, then the wider ones; the chosen one is what the run
    samples, and a choice the selection does not hold disables Sample."""
    panel = window.generate
    for path in mixed.parent.glob("*.h5"):
        shutil.copy(path, tmp_path / path.name)
    with qtbot.waitSignal(window.loaded, timeout=60_000):
        window.open_workspace(tmp_path / mixed.name)
    assert not panel.arch.isHidden()
    assert [panel.arch.itemData(i) for i in range(panel.arch.count())] == [None, "cnn", "mlp", "cnn_wide", "cnn_large"]
    assert "params" in panel.arch.itemText(1)
    zoo, ws = window.session.zoo, window.session.ws
    mlp_rows = zoo.model_archs()[ws.states[:, 0]] == "mlp"
    window.state.select(Everything())
    panel.arch.setCurrentIndex(panel.arch.findData("mlp"))
    assert "Architecture <b>mlp</b>" in panel.source.text() and panel.sample_button.isEnabled()
    run = reconstruct_two(window, qtbot)
    assert run["meta"]["arch"]["name"] == "mlp"
    assert run["arrays"]["weights"].shape[1] == zoo.spec("mlp").n_params
    assert mlp_rows[run["arrays"]["anchor_state"]].all()                   # decoded from mlp states only
    window.state.select(InSet("arch", ("cnn",)))                             # no mlp state selected
    assert not panel.sample_button.isEnabled() and "choose another architecture" in panel.source.text()
    panel.arch.setCurrentIndex(0)                                            # most common: cnn
    assert panel.sample_button.isEnabled() and "Architecture <b>cnn</b>" in panel.source.text()


def test_sampling_a_wider_architecture_from_the_dock(generate_window, qtbot):
    """On a zoo of one architecture the row offers the wider ones; choosing one widens the samples."""
    panel = generate_window.generate
    assert not panel.arch.isHidden()
    assert [panel.arch.itemData(i) for i in range(panel.arch.count())] == [None, "cnn_wide", "cnn_large"]
    generate_window.state.select(Everything())
    panel.arch.setCurrentIndex(panel.arch.findData("cnn_wide"))
    assert "widened to <b>cnn_wide</b>" in panel.source.text() and panel.sample_button.isEnabled()
    run = reconstruct_two(generate_window, qtbot)
    assert run["meta"]["arch"]["name"] == "cnn_wide" and run["meta"]["widened"]["from"] == "cnn"
    assert panel.table.rowCount() == 2 and len(generate_window.map.samples.data) == 2     # in the table and the map


def test_no_architecture_choice_for_a_zoo_nothing_widens():
    from core.zoo.arch import KNOWN_ARCHS
    from hyperviz.model.jobs import target_arch_choices

    class OneArch:                                          # a zoo of an architecture nothing widens to
        archs, arch_names, is_mixed = [KNOWN_ARCHS["cnn_large"]], ["cnn_large"], False

    assert target_arch_choices(OneArch()) == [] and target_arch_choices(None) == []
