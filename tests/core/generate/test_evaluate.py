"""Batched evaluation, nearest neighbours and novelty, batched fine-tuning."""
import numpy as np
import pytest
import torch

from core.errors import HyperVizError
from core.generate.bench import bench_eval
from core.generate.evaluate import (
    COPY_THRESHOLD,
    TrainingReference,
    copy_summary,
    evaluate_weights,
    finetune_job,
    functional_nearest_neighbours,
    mistake_agreement,
    nearest_neighbours,
    novelty,
    reference_predictions,
)
from core.progress import drive
from core.zoo.arch import ACTIVATIONS, INITS, get_arch
from core.zoo.modules import build_module, init_vector, vector_to_state_dict
from core.zoo.tasks import get_task

TASK = get_task("digits")


def random_models(arch, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([init_vector(arch, INITS[i % 4], g) for i in range(n)]).numpy()


@pytest.mark.parametrize("arch_name", ["cnn", "mlp"])
def test_evaluation_equals_one_module_at_a_time(arch_name):
    arch = get_arch(arch_name)
    w = random_models(arch, 10)
    w[:5] *= 3.0                                                      # confident logits for some
    acts = [ACTIVATIONS[i % 4] for i in range(10)]
    ev = evaluate_weights(arch, TASK, w, acts, "test", "cpu", chunk=3, predictions=True)
    x, y = TASK.split("test")
    for i in range(10):
        model = build_module(arch, acts[i])
        model.load_state_dict(vector_to_state_dict(arch, torch.from_numpy(w[i])))
        model.eval()
        with torch.no_grad():
            logits = model(x)
        assert ev.acc[i] == int((logits.argmax(1) == y).sum()) / len(y)
        assert ev.loss[i] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-5)
        np.testing.assert_array_equal(ev.predictions[i], logits.argmax(1).numpy())


def test_non_finite_weights_score_zero():
    arch = get_arch("mlp")
    w = random_models(arch, 2)
    w[1, 0] = np.nan
    ev = evaluate_weights(arch, TASK, w, "relu")
    assert ev.acc[1] == 0.0 and np.isnan(ev.loss[1]) and np.isfinite(ev.loss[0])
    with pytest.raises(HyperVizError):
        evaluate_weights(arch, TASK, w, "swish")


def test_nearest_neighbours_match_brute_force_in_any_chunking():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((300, 50)).astype(np.float32)
    q = np.concatenate([rng.standard_normal((40, 50)).astype(np.float32), ref[[5, 17]]])
    full = np.sqrt(((q[:, None, :].astype(np.float64) - ref[None].astype(np.float64)) ** 2).sum(-1))
    for chunk in (1 << 24, 700):                                      # one chunk, and many small ones
        dist, idx = nearest_neighbours(q, ref, "cpu", chunk_elements=chunk)
        np.testing.assert_array_equal(idx, full.argmin(1))
        np.testing.assert_allclose(dist, full.min(1), rtol=1e-9)
        assert dist[-2] == 0.0 and dist[-1] == 0.0
    # excluding each point itself
    dist, idx = nearest_neighbours(ref[:30], ref[:30], "cpu", exclude=np.arange(30), chunk_elements=200)
    d30 = np.sqrt(((ref[:30, None].astype(np.float64) - ref[None, :30]) ** 2).sum(-1))
    np.fill_diagonal(d30, np.inf)
    np.testing.assert_array_equal(idx, d30.argmin(1))
    assert np.all(dist > 0)


def test_novelty_of_a_training_state_is_zero_with_full_agreement():
    arch = get_arch("cnn")
    w = random_models(arch, 12, seed=2) * 2.0
    acts = np.array([ACTIVATIONS[i % 2] for i in range(12)])
    emb = np.random.default_rng(1).standard_normal((12, 8)).astype(np.float32)
    ref = TrainingReference(np.arange(100, 112), w, acts, emb)
    out = novelty(arch, TASK, w[[3, 4]], acts[[3, 4]].tolist(), ref, embeddings=emb[[3, 4]], device="cpu")
    np.testing.assert_array_equal(out["novelty_weight"], [0.0, 0.0])
    np.testing.assert_array_equal(out["agreement"], [1.0, 1.0])
    np.testing.assert_array_equal(out["nn_state"], [103, 104])
    np.testing.assert_array_equal(out["novelty_embedding"], [0.0, 0.0])
    moved = novelty(arch, TASK, w[[3]] + 0.5, "relu", ref, device="cpu")
    assert moved["novelty_weight"][0] > 0 and 0 <= moved["agreement"][0] <= 1
    # a copy with its hidden units reordered is the same model: not novel
    from core.hyperrep.augment import permute

    shuffled = permute(arch, torch.from_numpy(w[[5]]), torch.Generator().manual_seed(0)).numpy()
    assert not np.array_equal(shuffled, w[[5]])
    same = novelty(arch, TASK, shuffled, acts[[5]].tolist(), ref, device="cpu")
    np.testing.assert_allclose(same["novelty_weight"], [0.0], atol=1e-5)
    np.testing.assert_array_equal(same["agreement"], [1.0])
    # a slightly perturbed copy is as far as the perturbation, even if that reorders its canonical form
    eps = np.random.default_rng(3).standard_normal((1, arch.n_params)).astype(np.float32) * 0.01
    near = novelty(arch, TASK, w[[6]] + eps, acts[[6]].tolist(), ref, device="cpu")
    assert near["novelty_weight"][0] <= np.linalg.norm(eps) + 1e-4 and near["nn_state"][0] == 106


def test_functional_nearest_neighbours_match_brute_force_in_any_chunking():
    rng = np.random.default_rng(4)
    ref = rng.integers(0, 4, size=(101, 50))
    ref[60] = ref[7]                                                  # a tie: the lower index wins
    q = np.concatenate([rng.integers(0, 4, size=(36, 50)), ref[[60]]])
    shared = (q[:, None, :] == ref[None]).sum(-1)                     # [m, n] brute force
    for chunk in (1 << 24, 500, 1):                                   # one chunk, many, one row at a time
        agree, idx = functional_nearest_neighbours(q, ref, "cpu", chunk_elements=chunk)
        np.testing.assert_array_equal(idx, shared.argmax(1))          # argmax: first maximum
        np.testing.assert_array_equal(agree, shared.max(1) / 50)      # exact fractions
        assert idx[-1] == 7 and agree[-1] == 1.0
    agree, idx = functional_nearest_neighbours(np.zeros((0, 50), int), ref, "cpu")
    assert agree.shape == idx.shape == (0,)
    with pytest.raises(HyperVizError, match="same inputs"):
        functional_nearest_neighbours(q[:, :10], ref, "cpu")
    with pytest.raises(HyperVizError, match="no reference"):
        functional_nearest_neighbours(q, ref[:0], "cpu")


def test_mistake_agreement_known_answers():
    y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    right = y.copy()
    wrong_twice = np.array([0, 1, 2, 3, 4, 5, 6, 7, 0, 1])
    other_mistakes = np.array([0, 1, 2, 3, 4, 5, 6, 7, 9, 8])
    constant = np.full(10, 3)
    pairs = [(wrong_twice, wrong_twice, 1.0),        # the same mistakes: a copy
             (constant, constant, 0.0),              # two constant predictors share mistakes by chance alone
             (right, right, 0.0),                    # no mistakes: nothing to judge by
             (wrong_twice, right, None),             # a model and a corrected one: below chance
             (wrong_twice, other_mistakes, None)]
    got = mistake_agreement([p for p, _, _ in pairs], [q for _, q, _ in pairs], y)
    for (_, _, want), value in zip(pairs, got):
        if want is not None:
            assert value == want
    assert got[3] < 0 and got[4] < 0
    # by hand: inputs 2 and 3 are wrong for one of them, same class on input 2 only: p_o = 1/2;
    # class frequencies (.25, .75) and (.25, .5, .25) give p_e = .0625 + .375
    value = mistake_agreement([[0, 1, 1, 1]], [[0, 1, 1, 2]], [0, 1, 2, 3])[0]
    assert value == pytest.approx((0.5 - 0.4375) / (1 - 0.4375))
    with pytest.raises(HyperVizError):
        mistake_agreement([[0, 1]], [[0, 1, 2]], [0, 1])


def test_novelty_finds_the_functional_neighbour_and_the_region():
    arch = get_arch("cnn")
    w = random_models(arch, 10, seed=5) * 3.0                         # confident, varied predictions
    acts = np.array(["relu"] * 10)
    ref = TrainingReference(np.arange(6), w[:6], acts[:6], None)
    region = TrainingReference(np.arange(4, 10), w[4:], acts[4:], None)    # overlaps the reference in rows 4, 5
    out = novelty(arch, TASK, w[[2, 8]], "relu", ref, device="cpu", region=region)
    preds = evaluate_weights(arch, TASK, w, "relu", predictions=True).predictions
    # a training state is its own functional neighbour; a region state outside the training split is found too
    np.testing.assert_array_equal(out["max_agreement"], [1.0, 1.0])
    np.testing.assert_array_equal(preds[out["nn_state_function"]], preds[[2, 8]])
    assert out["nn_state_function"][1] == 8 and out["nn_state"][1] < 6         # weight space: training split only
    assert out["novelty_region"][1] == 0.0 and out["nn_state_region"][1] == 8
    raw = np.linalg.norm(w[4:] - w[2], axis=1)                         # an upper bound of the aligned distance
    assert 0 < out["novelty_region"][0] <= raw.min() + 1e-4 and 4 <= out["nn_state_region"][0] < 10
    assert out["mistake_agreement"][1] == 1.0                          # identical mistakes
    # the reference's predictions are computed once and kept
    np.testing.assert_array_equal(reference_predictions(arch, TASK, ref), preds[:6])
    assert ref.predictions is not None and ref.predictions.dtype == np.uint8
    assert "novelty_region" not in novelty(arch, TASK, w[[2]], "relu", ref, device="cpu")


def test_copy_summary_counts_samples_at_the_threshold():
    s = copy_summary([0.2, COPY_THRESHOLD, 0.9, -0.1], [0.5, 0.9, 1.0, 0.7])
    assert s == {"copy_fraction": 0.5, "median_max_agreement": 0.8, "median_mistake_agreement": pytest.approx(0.35),
                 "copy_threshold": COPY_THRESHOLD}
    assert copy_summary([0.6], threshold=0.7)["copy_fraction"] == 0.0
    assert copy_summary(None) == {"copy_fraction": None, "median_max_agreement": None, "median_mistake_agreement": None,
                                  "copy_threshold": COPY_THRESHOLD}


def test_finetuning_raises_the_accuracy_of_random_inits():
    arch = get_arch("cnn")
    w = random_models(arch, 6, seed=3)
    before = evaluate_weights(arch, TASK, w, "relu").acc
    tuned = drive(finetune_job(arch, TASK, w, "relu", 1, seed=0, device="cpu", config={"lr": 1e-2}))
    assert tuned.acc.shape == (6, 1) and tuned.weights.shape == w.shape
    assert np.all(tuned.acc[:, 0] > before + 0.2)
    np.testing.assert_array_equal(evaluate_weights(arch, TASK, tuned.weights, "relu").acc, tuned.acc[:, 0])
    # the default recipe (Adam, lr 1e-3) improves too; results do not depend on the chunking
    a = drive(finetune_job(arch, TASK, w[:4], "relu", 1, device="cpu", chunk=4))
    b = drive(finetune_job(arch, TASK, w[:4], "relu", 1, device="cpu", chunk=1))
    assert a.acc.mean() > before[:4].mean()
    np.testing.assert_allclose(a.acc, b.acc)


def test_bench_eval_reports_speed():
    result = bench_eval(models=12, device="cpu", loop_models=4)
    assert result["models"] == 12 and result["activations"] == 4 and result["seconds"] > 0 and result["models_per_s"] > 0
