"""Training the autoencoder, embedding, projecting and probing a tiny zoo; the workspace file."""
import json

import h5py
import numpy as np
import pytest
import torch

import core.hyperrep.fit as fit_module
from core.analysis.maps import project_job, stored_projection
from core.analysis.report import group_summary, probe_by_group, probe_summary, probe_workspace, reconstruction_fidelity
from core.errors import HyperVizError
from core.hyperrep.embed import embed_job
from core.hyperrep.fit import fit_job
from core.hyperrep.workspace import load_workspace
from core.progress import drive
from core.zoo.population import build_zoo_job
from core.zoo.spec import ZooSpec
from core.zoo.store import read_zoo, write_zoo

GRID = {"activation": ["relu", "tanh"], "init": ["kaiming_uniform"], "optimizer": ["adam"], "lr": [1e-2, 1e-3],
        "weight_decay": [0.0], "dropout": [0.0]}


@pytest.fixture(scope="module")
def zoo_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo") / "zoo.h5"
    return drive(build_zoo_job(ZooSpec(n_models=12, epochs=3, grid=GRID, chunk_size=6), out, "cpu"))


@pytest.fixture(scope="module")
def workspace(zoo_path, tmp_path_factory):
    ws = tmp_path_factory.mktemp("ws") / "ws.h5"
    drive(fit_job(zoo_path, ws, preset="tiny", epochs=30, device="cpu"))
    drive(embed_job(ws, device="cpu"))
    drive(project_job(ws, method="pca"))
    return ws


def test_fit_lowers_the_loss_and_stores_everything(workspace, zoo_path):
    ws = load_workspace(workspace)
    history = ws.training["history"]
    assert [h["epoch"] for h in history] == list(range(1, 31))
    assert history[-1]["reconstruction"] < 0.9 * history[0]["reconstruction"]
    assert history[-1]["val_recon_r2"] > history[0]["val_recon_r2"]
    assert len(history[-1]["val_layer_r2"]) == 4
    zoo = read_zoo(zoo_path)
    assert ws.states.shape == (zoo.n_models * zoo.n_checkpoints, 2)
    c = ws.ae_config
    width = c["latent_components"] + 2 * 4 * (c["value_features"] + c["unit_features"]) + 3 * 2 * 4 * c["value_moments"]
    assert ws.embeddings.shape == (len(ws.states), width) and np.isfinite(ws.embeddings).all()
    # split by model: every model's checkpoints in one split, all three splits used
    assert set(ws.split) == {"train", "val", "test"} and len(ws.split) == zoo.n_models
    proj = stored_projection(ws, "pca")
    assert proj.coords.shape == (len(ws.states), 2)
    np.testing.assert_allclose(proj.placer().place(ws.embeddings[:5]), proj.coords[:5], atol=1e-4)


def test_workspace_round_trip_rebuilds_the_same_model(workspace, tmp_path):
    import torch

    ws = load_workspace(workspace)
    copy = ws.save(tmp_path / "copy.h5")
    again = load_workspace(copy)
    np.testing.assert_array_equal(again.embeddings, ws.embeddings)
    assert again.training == ws.training and again.ae_config == ws.ae_config
    a, b = ws.autoencoder(), again.autoencoder()
    tokens = torch.randn(2, a.config.n_tokens, a.config.token_size)
    torch.testing.assert_close(a.embed(tokens), b.embed(tokens))
    with h5py.File(copy) as f:   # nothing pickled: every dataset is numeric or a string
        f.visititems(lambda name, obj: isinstance(obj, h5py.Dataset) and obj.dtype.kind not in "fiub" and
                     h5py.check_string_dtype(obj.dtype) is None and pytest.fail(name))


def test_probe_report_and_reconstruction(workspace):
    ws = load_workspace(workspace)
    summary = probe_summary(probe_workspace(ws))
    props = summary["properties"]
    assert {"test_acc", "epoch", "ggap", "activation", "lr"} <= set(props)
    assert props["test_acc"]["metric"] == "r2" and props["activation"]["metric"] == "accuracy"
    assert all(isinstance(props[p]["sw"], float) for p in ("test_acc", "epoch"))
    json.dumps(summary)
    rec = reconstruction_fidelity(ws, device="cpu", min_acc=0.0)
    assert rec["states"] > 0 and 0.0 <= rec["mean_reconstructed_acc"] <= 1.0


def test_probe_report_on_a_subset_of_states(workspace):
    ws = load_workspace(workspace)
    zoo = read_zoo(ws.zoo_path)
    epoch = zoo.epochs[ws.states[:, 1]]
    rows = np.flatnonzero(epoch >= 1)
    full, subset = probe_workspace(ws, zoo), probe_workspace(ws, zoo, rows)
    for name in ("hyperrep", "sw"):
        r = subset["test_acc"][name]
        assert r.n_test < full["test_acc"][name].n_test
        assert set(r.test_rows) <= set(rows) and (ws.split[ws.states[r.test_rows, 0]] == "test").all()
        # test_rows index the workspace's states: their targets are what the probe was scored on
        np.testing.assert_allclose(zoo.states["test_acc"][ws.states[r.test_rows, 0], ws.states[r.test_rows, 1]], r.y_true)


def test_probe_report_by_group(workspace):
    ws = load_workspace(workspace)
    zoo = read_zoo(ws.zoo_path)
    by_group = probe_by_group(ws, zoo, ["activation"])
    values = sorted(set(zoo.models["activation"].tolist()))
    assert list(by_group) == [f"activation={v}" for v in values]
    for label, results in by_group.items():
        assert not results["activation"]["hyperrep"].applicable          # constant within its group
        tested = ws.states[results["epoch"]["sw"].test_rows, 0]
        assert {str(zoo.models["activation"][m]) for m in tested} == {label.split("=")[1]}
    summary = group_summary(by_group)
    assert "activation" not in summary and summary["epoch"]["groups"] == len(values)
    entry = summary["epoch"]
    assert entry["sw"]["min"] <= entry["sw"]["median"] <= entry["sw"]["max"]
    assert 0 <= entry["hyperrep_at_least_sw"] <= entry["groups"]
    with pytest.raises(HyperVizError, match="unknown speed; the zoo's model properties are .*activation"):
        probe_by_group(ws, zoo, ["speed"])
    with pytest.raises(HyperVizError, match="unknown seed"):
        probe_by_group(ws, zoo, ["seed"])


def test_fit_resumes_after_interruption(zoo_path, tmp_path):
    ws_path = tmp_path / "ws.h5"
    drive(fit_job(zoo_path, ws_path, preset="tiny", epochs=1, device="cpu"))
    assert load_workspace(ws_path).training["epochs_done"] == 1
    records = []
    drive(fit_job(zoo_path, ws_path, preset="tiny", epochs=2, device="cpu"), on_progress=records.append)
    assert records[0].message == "resuming"
    ws = load_workspace(ws_path)
    assert ws.training["epochs_done"] == 2 and len(ws.training["history"]) == 2


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(zoo_path, tmp_path, monkeypatch):
    ws_path = tmp_path / "ws.h5"
    drive(fit_job(zoo_path, ws_path, preset="tiny", epochs=1, device="cpu"))
    good = load_workspace(ws_path)
    monkeypatch.setattr(fit_module, "train_step", lambda *a, **k: {"loss": float("nan"), "contrastive": 0.0, "reconstruction": 0.0})
    with pytest.raises(HyperVizError, match="diverged.*last good checkpoint \\(epoch 1\\)"):
        drive(fit_job(zoo_path, ws_path, preset="tiny", epochs=3, device="cpu"))
    kept = load_workspace(ws_path)
    assert kept.training["epochs_done"] == 1
    for key, value in good.ae_tensors.items():
        np.testing.assert_array_equal(kept.ae_tensors[key], value)


def test_changed_zoo_is_refused(zoo_path, workspace, tmp_path):
    ws = load_workspace(workspace)
    zoo = read_zoo(zoo_path)
    zoo.weights[0, 0, 0] += 1.0
    moved = write_zoo(tmp_path / "zoo.h5", zoo)
    ws.zoo_path = moved
    ws.save(tmp_path / "ws.h5")
    with pytest.raises(HyperVizError, match="changed since the workspace was made"):
        load_workspace(tmp_path / "ws.h5")


def test_autoencoder_for_another_architecture_is_refused(zoo_path, workspace, tmp_path):
    mlp_zoo = drive(build_zoo_job(ZooSpec(arch="mlp", n_models=4, epochs=1, grid=GRID, chunk_size=4), tmp_path / "mlp.h5", "cpu"))
    ws = load_workspace(workspace)
    ws.zoo_path, ws.zoo_sha256 = mlp_zoo, load_workspace(workspace).zoo_sha256
    from core.zoo.store import zoo_hash

    ws.zoo_sha256 = zoo_hash(mlp_zoo)
    ws.save(tmp_path / "ws.h5")
    with pytest.raises(HyperVizError, match="trained for architecture 'cnn'"):
        drive(fit_job(mlp_zoo, tmp_path / "ws.h5", preset="tiny", epochs=5, device="cpu"))
    with pytest.raises(HyperVizError, match="another architecture"):
        drive(embed_job(tmp_path / "ws.h5", device="cpu"))


def test_zoo_too_small_to_split(tmp_path):
    small = drive(build_zoo_job(ZooSpec(n_models=2, epochs=1, grid=GRID, chunk_size=2), tmp_path / "z.h5", "cpu"))
    with pytest.raises(HyperVizError, match="too small to split"):
        drive(fit_job(small, tmp_path / "ws.h5", preset="tiny", device="cpu"))


def test_missing_steps_name_the_command(zoo_path, tmp_path):
    from core.hyperrep.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws.h5", zoo_path)
    ws.save()
    with pytest.raises(HyperVizError, match="hyperviz fit"):
        drive(embed_job(tmp_path / "ws.h5"))
    with pytest.raises(HyperVizError, match="hyperviz embed"):
        drive(project_job(tmp_path / "ws.h5", method="pca"))
    with pytest.raises(HyperVizError, match="no such workspace"):
        load_workspace(tmp_path / "nope.h5")
    (tmp_path / "junk.h5").write_text("junk")
    with pytest.raises(HyperVizError, match="not a readable workspace"):
        load_workspace(tmp_path / "junk.h5")


def test_a_seeded_fit_gives_the_same_weights_twice_and_another_seed_does_not(zoo_path, tmp_path):
    import torch

    def fitted(name, seed, noise_between):
        drive(fit_job(zoo_path, tmp_path / name, preset="tiny", epochs=1, device="cpu", seed=seed))
        torch.manual_seed(noise_between)          # whatever else the process drew meanwhile
        drive(fit_job(zoo_path, tmp_path / name, preset="tiny", epochs=2, device="cpu", seed=seed))  # resumes
        return load_workspace(tmp_path / name).autoencoder("cpu").state_dict()

    a, b, c = fitted("a.h5", 3, 1), fitted("b.h5", 3, 2), fitted("c.h5", 4, 1)
    assert all(torch.equal(a[k], b[k]) for k in a)                       # noise, erasing and batches seeded
    assert not all(torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_a_fit_with_the_value_branch_and_statistics_head_learns_the_weight_statistics(zoo_path, tmp_path):
    ws_path = tmp_path / "stats.h5"
    drive(fit_job(zoo_path, ws_path, preset="tiny", epochs=30, device="cpu", lr=1e-2,
                  config={"value_features": 4, "stats_weight": 0.5}))
    drive(embed_job(ws_path, device="cpu"))
    ws = load_workspace(ws_path)
    history = ws.training["history"]
    assert ws.ae_config["n_stats"] == 7 * 2 * 4                          # s(W) of 4 layers' weights and biases
    assert history[-1]["statistics"] < 0.7 * history[0]["statistics"]    # the head learns s(W)
    c = ws.ae_config
    width = c["latent_components"] + 2 * 4 * (4 + c["unit_features"]) + 3 * 2 * 4 * c["value_moments"]
    assert ws.embeddings.shape == (len(ws.states), width) and np.isfinite(ws.embeddings).all()
    assert ws.autoencoder("cpu").embedding_width == width                 # the stored model rebuilds with every part


def test_nan_weights_after_a_finite_loss_stop_too(zoo_path, tmp_path, monkeypatch):
    """The last step of an epoch can leave NaN parameters behind a finite loss: never saved."""
    ws_path = tmp_path / "ws.h5"
    drive(fit_job(zoo_path, ws_path, preset="tiny", epochs=1, device="cpu"))
    real_step = fit_module.train_step

    def poisoning_step(model, *args, **kwargs):
        parts = real_step(model, *args, **kwargs)
        with torch.no_grad():
            next(model.parameters()).view(-1)[:3] = float("nan")
        return parts

    monkeypatch.setattr(fit_module, "train_step", poisoning_step)
    with pytest.raises(HyperVizError, match=r"diverged in epoch 2: \d+ autoencoder parameter values are NaN.*epoch 1"):
        drive(fit_job(zoo_path, ws_path, preset="tiny", epochs=2, device="cpu"))
    assert load_workspace(ws_path).training["epochs_done"] == 1
