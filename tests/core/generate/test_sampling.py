"""Sampling: the KDE (independent per-dimension randomness, bandwidths), baselines, best-of, runs."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core.analysis.maps import project_job
from core.errors import HyperVizError
from core.generate.evaluate import evaluate_weights
from core.generate.sampling import (
    KdeSampler,
    _noise_baseline,
    check_n,
    kde_bandwidths,
    make_selection,
    next_run_id,
    parse_bandwidth,
    sample_job,
    state_weights,
)
from core.hyperrep.embed import embed_job
from core.hyperrep.fit import fit_job
from core.hyperrep.workspace import load_workspace
from core.progress import drive
from core.zoo.arch import get_arch
from core.zoo.population import build_zoo_job
from core.zoo.spec import ZooSpec
from core.zoo.store import read_zoo
from core.zoo.tasks import get_task

TINY_GRID = {"activation": ["relu", "tanh"], "init": ["kaiming_uniform", "uniform"], "optimizer": ["adam"],
             "lr": [0.01], "weight_decay": [0.0], "dropout": [0.0]}


def tiny_workspace(tmp_path_factory) -> Path:
    """A 12-model zoo (2 epochs), a tiny autoencoder (1 epoch), embeddings and a PCA map.

    Built once per test session (under pytest's base temp folder) and shared by the sampling,
    evaluation and export tests; tests that store runs work on a copy (:func:`copy_workspace`).
    """
    root = tmp_path_factory.getbasetemp() / "hv_tiny_workspace"
    ws = root / "ws.h5"
    if ws.exists():
        return ws
    root.mkdir(exist_ok=True)
    spec = ZooSpec(n_models=12, epochs=2, grid=TINY_GRID, chunk_size=64)
    drive(build_zoo_job(spec, root / "zoo.h5", "cpu"))
    drive(fit_job(root / "zoo.h5", root / "building.h5", preset="tiny", epochs=1, device="cpu"))
    drive(embed_job(root / "building.h5", device="cpu"))
    drive(project_job(root / "building.h5", method="pca"))
    (root / "building.h5").rename(ws)
    return ws


def copy_workspace(src: Path, tmp_path: Path):
    dst = tmp_path / "ws.h5"
    shutil.copy(src, dst)
    return load_workspace(dst)


# ---- the density on its own -----------------------------------------------------------------
def test_kde_draws_every_dimension_independently():
    rng = np.random.default_rng(0)
    latents = np.stack([np.zeros(400), np.full(400, 10.0)]).astype(np.float32)     # two anchors, std 7.07 per dim
    sampler = KdeSampler(latents, bandwidth=0.1)
    z, anchors = sampler.sample(64, rng)
    assert z.shape == (64, 400) and anchors.shape == (64,)
    assert set(anchors.tolist()) == {0, 1}
    noise = (z - latents[anchors]) / sampler.h                                       # standardised noise [n, D]
    # the published reference reused one seed per dimension: the same draw in every dimension
    assert np.all(noise.std(axis=1) > 0.7)                                           # varies across a sample's dims
    assert abs(np.corrcoef(noise[:, 0], noise[:, 1])[0, 1]) < 0.5
    assert abs(noise.mean()) < 0.05 and abs(noise.std() - 1.0) < 0.05
    assert not np.allclose(noise[0], noise[1])                                       # and across samples


def test_kde_marginal_mode_draws_anchors_per_dimension():
    latents = np.stack([np.zeros(300), np.full(300, 10.0)]).astype(np.float32)
    z, anchors = KdeSampler(latents, bandwidth=0.0, mode="marginal").sample(8, np.random.default_rng(1))
    assert anchors.shape == (8, 300)
    for row in z:                                                                    # every sample mixes both anchors
        assert set(np.unique(row).tolist()) == {0.0, 10.0}


def test_bandwidth_zero_reproduces_the_anchors():
    latents = np.random.default_rng(2).standard_normal((5, 3, 4)).astype(np.float32)   # [k, T, d]
    z, anchors = KdeSampler(latents, bandwidth=0).sample(20, np.random.default_rng(3))
    assert z.shape == (20, 3, 4)
    np.testing.assert_array_equal(z, latents[anchors])


def test_bandwidth_rules_and_relative_numbers():
    z = np.random.default_rng(4).standard_normal((50, 6)) * np.arange(1, 7)
    std = z.std(axis=0, ddof=1)
    np.testing.assert_allclose(kde_bandwidths(z, "scott"), std * 50 ** -0.2)
    np.testing.assert_allclose(kde_bandwidths(z, 0.3), 0.3 * std)
    assert np.all(kde_bandwidths(z, "silverman") <= 0.9 * std * 50 ** -0.2 + 1e-12)
    assert parse_bandwidth(None) == 0.25 and parse_bandwidth("0.25") == 0.25 and parse_bandwidth("Silverman") == "silverman"
    for bad in ("-1", "abc", float("nan"), "inf"):
        with pytest.raises(HyperVizError):
            parse_bandwidth(bad)
    with pytest.raises(HyperVizError, match="at least 2"):
        KdeSampler(np.zeros((1, 8)))


@pytest.mark.parametrize("n", [0, -3, 100_001])
def test_sample_counts_out_of_range_are_refused(n):
    with pytest.raises(HyperVizError):
        check_n(n)
    assert check_n(100_000) == 100_000


def test_noise_baseline_distance_scales_with_sigma():
    arch = get_arch("cnn")
    rng = np.random.default_rng(5)
    w = rng.standard_normal((40, arch.n_params)).astype(np.float32)
    np.testing.assert_array_equal(_noise_baseline(w, arch, 0.0, rng), w)
    d = {s: np.linalg.norm(_noise_baseline(w, arch, s, rng) - w, axis=1).mean() for s in (0.02, 0.08)}
    assert 3.6 < d[0.08] / d[0.02] < 4.4
    # relative to each layer's weight std: scaling one layer's weights scales its noise
    w2 = w.copy()
    slot = arch.layout[0]
    w2[:, slot.offset : slot.stop] *= 100
    noise = _noise_baseline(w2, arch, 0.05, np.random.default_rng(6)) - w2
    assert noise[:, slot.offset : slot.stop].std() > 50 * noise[:, arch.layout[2].offset : arch.layout[2].stop].std()


# ---- runs on a workspace -----------------------------------------------------------------
def test_sample_job_stores_a_complete_run(ws):
    zoo = read_zoo(ws.zoo_path)
    rows = np.arange(len(ws.states))
    run = drive(sample_job(ws, rows, "kde", 6, seed=1, finetune=1, device="cpu", zoo=zoo, description="all states"))
    assert run == "r001_kde" and next_run_id(ws, "best-of") == "r002_best_of"
    again = load_workspace(ws.path)                                        # saved, and loads back
    a, meta = again.samples[run]["arrays"], again.samples[run]["meta"]
    P, d = zoo.arch.n_params, again.embeddings.shape[1]
    assert a["weights"].shape == (6, P) and a["embeddings"].shape == (6, d) and a["coords_pca"].shape == (6, 2)
    for key in ("test_acc", "test_loss", "val_acc", "novelty_weight", "novelty_embedding", "agreement", "anchor_state"):
        assert a[key].shape == (6,), key
    assert a["finetune_acc"].shape == (6, 1)
    assert np.all(a["novelty_weight"] >= 0) and np.all((a["agreement"] >= 0) & (a["agreement"] <= 1))
    counts = meta["activation_counts"]
    assert meta["activation"] == max(sorted(counts), key=counts.get) and sum(counts.values()) == len(rows)
    assert meta["selection"] == "all states" and meta["method"] == "kde" and meta["seed"] == 1
    assert meta["params"]["bandwidth"] == 0.25 and meta["finetune"]["epochs"] == 1 and "time" in meta
    # every anchor is a selected state of the majority activation
    acts = zoo.models["activation"][ws.states[a["anchor_state"], 0]]
    assert set(acts.tolist()) == {meta["activation"]}
    # the stored accuracies are those of the stored weights
    ev = evaluate_weights(zoo.arch, get_task("digits"), a["weights"], meta["activation"], "test")
    np.testing.assert_array_equal(ev.acc, a["test_acc"])


def test_best_of_keeps_the_best_by_validation_accuracy(ws):
    from core.hyperrep.codec import decode_latents, encode_weights

    zoo = read_zoo(ws.zoo_path)
    rows = np.arange(len(ws.states))
    run = drive(sample_job(ws, rows, "best-of", 4, seed=7, oversample=3, device="cpu", zoo=zoo, save=False))
    a = ws.samples[run]["arrays"]
    # redo the draw by hand: same codes, same candidates
    sel = make_selection(ws, zoo, rows)
    model = ws.autoencoder("cpu")
    latents = encode_weights(model, zoo.arch, state_weights(ws, zoo, sel.used), torch.device("cpu"), pooled=False)
    z, _ = KdeSampler(latents).sample(12, np.random.default_rng(7))
    cand = decode_latents(model, zoo.arch, z, torch.device("cpu"))
    val = evaluate_weights(zoo.arch, get_task("digits"), cand, sel.activation, "val").acc
    assert np.all(np.diff(a["val_acc"]) <= 0)                              # best first
    np.testing.assert_allclose(a["val_acc"], np.sort(val)[::-1][:4])       # the top 4 of the 12 candidates
    assert a["val_acc"].min() >= np.sort(val)[::-1][3]


def test_boot_rounds_never_lose_validation_accuracy(ws):
    rows = np.arange(len(ws.states))
    run = drive(sample_job(ws, rows, "best-of", 3, seed=2, oversample=2, rounds=3, device="cpu", save=False))
    history = ws.samples[run]["meta"]["mean_val_acc_per_round"]
    assert len(history) == 3 and all(b >= a for a, b in zip(history, history[1:]))


def test_selection_checks(ws):
    zoo = read_zoo(ws.zoo_path)
    with pytest.raises(HyperVizError, match="empty"):
        drive(sample_job(ws, [], "kde", 3, device="cpu", zoo=zoo))
    with pytest.raises(HyperVizError, match="at least 2"):
        drive(sample_job(ws, [0], "kde", 3, device="cpu", zoo=zoo))
    with pytest.raises(HyperVizError):
        drive(sample_job(ws, [0, 1], "kde", 0, device="cpu", zoo=zoo))
    with pytest.raises(HyperVizError, match="method"):
        drive(sample_job(ws, [0, 1], "gan", 3, device="cpu", zoo=zoo))
    # one state is enough for the baselines
    run = drive(sample_job(ws, [0], "random", 3, device="cpu", zoo=zoo, save=False))
    w = ws.samples[run]["arrays"]["weights"]
    bias = zoo.arch.layout[1]
    np.testing.assert_array_equal(w[:, bias.offset : bias.stop], np.float32(0.01))  # fresh inits: biases at 0.01
    assert ws.samples[run]["meta"]["params"]["inits"] == {str(zoo.models["init"][ws.states[0, 0]]): 3}
