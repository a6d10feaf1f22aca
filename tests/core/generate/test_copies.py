"""Honest novelty in sampling runs: copies are flagged, the reconstruct baseline, the copy figures
of a run mean what they say, the steps of a run on their own, runs stored before the figures."""
import numpy as np
import torch

from core.generate import sampling
from core.generate.evaluate import COPY_THRESHOLD, evaluate_weights, mistake_agreement
from core.generate.sampling import (
    DRAWS,
    METHODS,
    Steps,
    draw_noise,
    make_selection,
    prepare_run,
    reconstruct_picks,
    run_summary,
    sample_job,
    state_weights,
    total_steps,
    training_reference,
)
from core.hyperrep.codec import decode_latents, encode_weights
from core.hyperrep.workspace import load_workspace
from core.progress import drive
from core.zoo.store import read_zoo
from core.zoo.tasks import get_task

NEW_ARRAYS = ("max_agreement", "mistake_agreement", "nn_state_function", "novelty_region", "nn_state_region")
NEW_META = ("copy_fraction", "median_max_agreement", "median_mistake_agreement", "copy_threshold",
            "region_reference", "functional_reference")


def trained_training_states(ws) -> np.ndarray:
    """Rows of the training split's states after at least one epoch of training."""
    return np.flatnonzero((ws.split[ws.states[:, 0]] == "train") & (ws.states[:, 1] >= 1))


def test_a_noisy_copy_is_a_copy_and_a_random_init_is_not(ws):
    zoo = read_zoo(ws.zoo_path)
    rows = trained_training_states(ws)
    ref = training_reference(ws, zoo)
    noisy = drive(sample_job(ws, rows, "noise", 8, sigma=0.02, device="cpu", zoo=zoo, save=False, reference=ref))
    fresh = drive(sample_job(ws, rows, "random", 8, device="cpu", zoo=zoo, save=False, reference=ref))
    a, r = ws.samples[noisy]["arrays"], ws.samples[fresh]["arrays"]
    assert np.all(a["mistake_agreement"] >= COPY_THRESHOLD) and run_summary(ws, noisy)["copy_fraction"] == 1.0
    np.testing.assert_array_equal(a["nn_state_function"], a["anchor_state"])    # each copy's neighbour: its anchor
    np.testing.assert_array_equal(a["nn_state_region"], a["anchor_state"])
    assert np.all(r["mistake_agreement"] < COPY_THRESHOLD) and run_summary(ws, fresh)["copy_fraction"] == 0.0
    assert np.all(r["novelty_region"] > a["novelty_region"].max())


def test_copy_figures_mean_what_they_say(ws):
    zoo, task = read_zoo(ws.zoo_path), get_task("digits")
    rows = trained_training_states(ws)
    # a case whose answer is known: noise of size 0 gives the anchors themselves
    same = drive(sample_job(ws, rows, "noise", 5, sigma=0.0, device="cpu", zoo=zoo, save=False))
    entry = run_summary(ws, same)
    assert entry["copy_fraction"] == 1.0 and entry["median_max_agreement"] == 1.0
    assert entry["median_mistake_agreement"] == 1.0 and entry["median_novelty_region"] == 0.0
    # and a KDE run recomputed by brute force: every training state and every fitted-region state
    run = drive(sample_job(ws, np.arange(len(ws.states)), "kde", 6, seed=2, bandwidth=1.0, device="cpu", zoo=zoo,
                           save=False))
    a, meta = ws.samples[run]["arrays"], ws.samples[run]["meta"]
    sel = make_selection(ws, zoo, np.arange(len(ws.states)))
    seen = np.union1d(training_reference(ws, zoo).state_index, sel.used)
    acts = np.asarray(zoo.models["activation"]).astype(str)[ws.states[seen, 0]]
    seen_pred = evaluate_weights(zoo.arch, task, state_weights(ws, zoo, seen), acts, predictions=True).predictions
    pred = evaluate_weights(zoo.arch, task, a["weights"], meta["activation"], predictions=True).predictions
    shared = (pred[:, None, :] == seen_pred[None]).mean(-1)
    np.testing.assert_array_equal(a["max_agreement"], shared.max(1))
    best = seen[shared.argmax(1)]
    np.testing.assert_array_equal(a["nn_state_function"], best)
    y = task.split("test")[1].numpy()
    np.testing.assert_array_equal(a["mistake_agreement"], mistake_agreement(pred, seen_pred[shared.argmax(1)], y))
    entry = run_summary(ws, run)
    assert entry["copy_fraction"] == np.mean(a["mistake_agreement"] >= COPY_THRESHOLD) == meta["copy_fraction"]
    assert entry["median_max_agreement"] == np.median(shared.max(1)) == meta["median_max_agreement"]
    assert entry["copy_threshold"] == meta["copy_threshold"] == COPY_THRESHOLD
    assert entry["median_novelty_region"] == np.median(a["novelty_region"])


def test_reconstruct_decodes_the_selected_states_own_codes(ws):
    zoo, cpu = read_zoo(ws.zoo_path), torch.device("cpu")
    rows = trained_training_states(ws)
    used = make_selection(ws, zoo, rows).used
    run = drive(sample_job(ws, rows, "reconstruct", len(used), seed=1, device="cpu", zoo=zoo))
    a, meta = ws.samples[run]["arrays"], ws.samples[run]["meta"]
    assert run == "r001_reconstruct" and meta["method"] == "reconstruct"
    np.testing.assert_array_equal(np.sort(a["anchor_state"]), used)                 # every selected state once
    model = ws.autoencoder(cpu)
    codes = encode_weights(model, zoo.arch, state_weights(ws, zoo, a["anchor_state"]), cpu, pooled=False)
    np.testing.assert_allclose(a["weights"], decode_latents(model, zoo.arch, codes, cpu), rtol=1e-5, atol=1e-6)
    for key in NEW_ARRAYS:
        assert a[key].shape == (len(used),), key
    assert set(NEW_META) <= set(load_workspace(ws.path).samples[run]["meta"])
    # one state is enough: no density is fitted
    assert drive(sample_job(ws, rows[:1], "reconstruct", 3, device="cpu", zoo=zoo, save=False)) == "r002_reconstruct"


def test_reconstruct_with_an_exact_autoencoder_gives_its_anchors(ws, monkeypatch):
    """With a codec that loses nothing, reconstructions are their anchors: near (distance 0) and copies."""
    monkeypatch.setattr(sampling, "encode_selection", lambda setup: setup.used_weights[:, None, :])
    monkeypatch.setattr(sampling, "decode", lambda setup, codes: np.asarray(codes).reshape(len(codes), -1))
    zoo = read_zoo(ws.zoo_path)
    run = drive(sample_job(ws, trained_training_states(ws), "reconstruct", 20, seed=3, device="cpu", zoo=zoo,
                           save=False))
    a = ws.samples[run]["arrays"]
    np.testing.assert_array_equal(a["weights"], state_weights(ws, zoo, a["anchor_state"]))
    np.testing.assert_array_equal(a["novelty_region"], 0.0)
    np.testing.assert_array_equal(a["nn_state_region"], a["anchor_state"])
    assert run_summary(ws, run)["copy_fraction"] == 1.0


def test_reconstruct_picks_use_every_state_before_any_twice():
    rng = np.random.default_rng(0)
    picks = reconstruct_picks(3, 8, rng)
    assert sorted(picks[:3]) == [0, 1, 2] and sorted(picks[3:6]) == [0, 1, 2] and len(picks) == 8
    assert len(set(reconstruct_picks(5, 2, rng))) == 2 and len(set(reconstruct_picks(5, 5, rng))) == 5


def test_every_method_has_a_draw_step_that_runs_alone(ws):
    assert tuple(DRAWS) == METHODS and "reconstruct" in METHODS
    zoo = read_zoo(ws.zoo_path)
    setup = prepare_run(ws, trained_training_states(ws), "noise", 4, zoo=zoo, device="cpu", sigma=0.1)
    steps = Steps("noise", total_steps("noise"))
    draw = drive(draw_noise(setup, np.random.default_rng(0), steps))
    assert draw.weights.shape == (4, zoo.arch.n_params) and draw.weights.dtype == np.float32
    assert set(draw.anchor_state.tolist()) <= set(setup.selection.used.tolist()) and steps.done == 1
    assert draw.params == {"n": 4, "sigma": 0.1, "sigma_relative_to": "each layer's weight std in the anchor"}
    assert total_steps("best-of", rounds=3, finetune=2) == 11


def test_runs_stored_before_the_copy_figures_still_load(ws, tmp_path):
    from core.generate.export import export_samples

    zoo = read_zoo(ws.zoo_path)
    run = drive(sample_job(ws, np.arange(len(ws.states)), "noise", 3, device="cpu", zoo=zoo))
    for key in NEW_ARRAYS:                                  # what an older hyperviz stored
        del ws.samples[run]["arrays"][key]
    for key in NEW_META:
        del ws.samples[run]["meta"][key]
    ws.save()
    old = load_workspace(ws.path)
    entry = run_summary(old, run)
    assert entry["copy_fraction"] is None and entry["median_max_agreement"] is None
    assert entry["median_mistake_agreement"] is None and entry["median_novelty_region"] is None
    assert entry["copy_threshold"] == COPY_THRESHOLD and entry["median_novelty"] >= 0
    assert len(export_samples(old, [(run, 0)], tmp_path / "out")) == 1
