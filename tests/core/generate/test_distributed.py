"""Sampling runs on Ray: chunks evaluated and fine-tuned as tasks give the results without Ray.

The tests that start a cluster need ``pip install -e ".[ray]"`` and are skipped without it; they
share one single-CPU local cluster, shut down at the end.
"""
import sys

import numpy as np

from core.generate.distributed import evaluate_chunk, evaluate_on_ray, finetune_on_ray
from core.generate.evaluate import evaluate_weights, finetune_job
from core.generate.sampling import sample_job
from core.progress import drive
from core.zoo.arch import KNOWN_ARCHS
from core.zoo.modules import init_vector
from core.zoo.store import read_zoo
from core.zoo.tasks import get_task
from hyperviz.cli import main

ARCH, TASK = KNOWN_ARCHS["cnn"], get_task("digits")


def random_models(n: int) -> np.ndarray:
    import torch

    return np.stack([init_vector(ARCH, "kaiming_uniform", torch.Generator().manual_seed(i)).numpy() for i in range(n)])


def test_the_pure_chunk_function_evaluates_as_evaluate_weights():
    w = random_models(5)
    out = evaluate_chunk(ARCH, TASK, w, "relu", ("test", "val"), ("test",), "cpu", threads=1)
    ref = evaluate_weights(ARCH, TASK, w, "relu", "test", "cpu", predictions=True)
    np.testing.assert_array_equal(out["test"][0], ref.acc)
    np.testing.assert_array_equal(out["test"][2], ref.predictions)
    assert out["val"][2] is None and out["val"][0].shape == (5,)


def test_without_ray_installed_sampling_says_how_to_install_it(pristine, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)               # import ray -> ImportError
    assert main(["sample", str(pristine), "-n", "2", "--ray", "local", "--device", "cpu", "-q"]) == 2
    assert capsys.readouterr().err.strip() == ('error: --ray: the ray package is not installed '
                                               '(install it with pip install -e ".[ray]")')
    assert main(["sample", str(pristine), "-n", "2", "--ray-cpus", "1", "-q"]) == 2
    assert "--ray-cpus: only with --ray local" in capsys.readouterr().err


# ---- with a cluster --------------------------------------------------------------------------------
def test_evaluation_in_chunks_on_ray_equals_evaluation_here(cluster):
    w = random_models(7)
    out = evaluate_on_ray("local", ARCH, TASK, w, "tanh", ("test", "val"), ("test",), "cpu", chunk=3)
    for split in ("test", "val"):
        ref = evaluate_weights(ARCH, TASK, w, "tanh", split, "cpu", predictions=split == "test")
        np.testing.assert_array_equal(out[split].acc, ref.acc)
        np.testing.assert_allclose(out[split].loss, ref.loss, rtol=1e-6)
    np.testing.assert_array_equal(out["test"].predictions, ref_predictions := evaluate_weights(
        ARCH, TASK, w, "tanh", "test", "cpu", predictions=True).predictions)
    assert ref_predictions.shape == (7, len(TASK.y_test))


def test_fine_tuning_in_chunks_on_ray_equals_fine_tuning_here(cluster):
    w = random_models(5)
    config = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "dropout": 0.0}
    tuned = finetune_on_ray("local", ARCH, TASK, w, "relu", 1, 3, config, "cpu", chunk=2)
    ref = drive(finetune_job(ARCH, TASK, w, "relu", 1, seed=3, device="cpu", config=config))
    np.testing.assert_allclose(tuned.weights, ref.weights, atol=1e-6)
    np.testing.assert_allclose(tuned.acc, ref.acc, atol=1e-9)


def test_a_sampling_run_on_ray_stores_what_it_stores_without(cluster, ws):
    zoo = read_zoo(ws.zoo_path)
    rows = np.arange(len(ws.states))
    plain = drive(sample_job(ws, rows, "kde", 6, seed=1, finetune=1, device="cpu", zoo=zoo, save=False))
    on_ray = drive(sample_job(ws, rows, "kde", 6, seed=1, finetune=1, device="cpu", zoo=zoo, save=False, ray="local"))
    assert cluster.is_initialized()                            # a cluster it did not start stays up
    a, b = ws.samples[plain]["arrays"], ws.samples[on_ray]["arrays"]
    np.testing.assert_array_equal(a["weights"], b["weights"])
    for key in ("test_acc", "val_acc", "agreement", "max_agreement", "novelty_weight"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    np.testing.assert_allclose(a["finetune_acc"], b["finetune_acc"], atol=1e-9)
