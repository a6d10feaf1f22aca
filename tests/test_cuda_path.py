"""The CUDA path: every stage run on the GPU, its values checked, and compared with the CPU.

Marked ``gpu``: skipped without CUDA (tests/conftest.py). ``scripts/gpu-check.sh`` runs them on a
GPU machine; ``HYPERVIZ_GPU_TEST_DEVICE=cpu`` runs the same checks on the CPU (the script's dry
run), which proves the tests themselves, not the GPU. Tolerances: convolutions on cuDNN use TF32
(10-bit mantissa) by default and the autoencoder trains under bf16 autocast, so the GPU agrees
with the CPU to about 1e-3 in a forward pass and to a few hundredths in accuracy after training,
not bit for bit.
"""
import copy
import os

import numpy as np
import pytest
import torch

from core.generate.evaluate import evaluate_weights, finetune_job
from core.generate.sampling import sample_job
from core.hyperrep.embed import embed_job
from core.hyperrep.fit import fit_job, train_step
from core.hyperrep.workspace import load_workspace
from core.progress import drive
from core.zoo.arch import ACTIVATIONS, INITS, get_arch
from core.zoo.batched import batched_forward
from core.zoo.modules import init_vector
from core.zoo.population import build_zoo_job, chunk_plan, model_configs, train_chunk
from core.zoo.spec import ZooSpec
from core.zoo.store import read_zoo
from core.zoo.tasks import get_task
from tests.core.generate.test_sampling import copy_workspace, tiny_workspace

pytestmark = pytest.mark.gpu

CPU = torch.device("cpu")
NO_DROPOUT = {"activation": ["relu", "tanh"], "init": ["kaiming_uniform", "uniform"], "optimizer": ["adam", "sgd"],
              "lr": [1e-2], "weight_decay": [0.0], "dropout": [0.0]}


@pytest.fixture(scope="module")
def gpu() -> torch.device:
    """The device under test: CUDA, or what HYPERVIZ_GPU_TEST_DEVICE names (cpu for a dry run)."""
    return torch.device(os.environ.get("HYPERVIZ_GPU_TEST_DEVICE", "cuda"))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return tiny_workspace(tmp_path_factory)        # a 12-model zoo, a tiny autoencoder, embeddings, PCA (built on the CPU)


def random_weights(arch, n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([init_vector(arch, INITS[i % len(INITS)], gen) for i in range(n)])


# ---- stage 1: the zoo --------------------------------------------------------------------------
@pytest.mark.parametrize("arch_name", ["cnn", "mlp"])
def test_batched_forward_agrees_with_the_cpu(gpu, arch_name):
    arch, task = get_arch(arch_name), get_task("digits")
    w = random_weights(arch, 96)
    x = task.x_test[:128]
    for act in ACTIVATIONS:
        ref = batched_forward(arch, w, x, act)
        out = batched_forward(arch, w.to(gpu), x.to(gpu), act)
        assert out.device.type == gpu.type and out.shape == (96, 128, arch.n_classes)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out.cpu(), ref, rtol=1e-2, atol=1e-2, msg=f"{arch_name} {act}")


def test_a_chunk_trains_on_the_gpu_as_on_the_cpu(gpu):
    spec = ZooSpec(n_models=16, epochs=2, grid=NO_DROPOUT, chunk_size=16)  # no dropout: masks come from the device's generator
    configs = model_configs(spec)
    rows = chunk_plan(configs, 16)[0]
    chunk = [configs[i] for i in rows]
    arch, task = spec.arch_spec(), get_task("digits")
    w_gpu, s_gpu = drive(train_chunk(arch, task, chunk, 2, 32, gpu))
    w_cpu, s_cpu = drive(train_chunk(arch, task, chunk, 2, 32, CPU))
    assert w_gpu.shape == (len(chunk), 3, arch.n_params) and w_gpu.dtype == np.float32
    assert np.isfinite(w_gpu).all() and all(np.isfinite(v).all() for v in s_gpu.values())
    np.testing.assert_array_equal(w_gpu[:, 0], w_cpu[:, 0])                 # the initialisation is drawn on the CPU
    assert (s_gpu["train_loss"][:, -1] < s_gpu["train_loss"][:, 0]).all()   # it learns
    np.testing.assert_allclose(s_gpu["test_acc"], s_cpu["test_acc"], atol=0.05)
    np.testing.assert_allclose(s_gpu["train_loss"], s_cpu["train_loss"], rtol=0.1, atol=0.02)


def test_a_zoo_with_dropout_builds_on_the_gpu(gpu, tmp_path):
    grid = {**NO_DROPOUT, "dropout": [0.0, 0.3], "activation": ["gelu", "sigmoid"]}
    spec = ZooSpec(n_models=8, epochs=2, grid=grid, chunk_size=2048)       # the CLI's GPU chunk size
    zoo = read_zoo(drive(build_zoo_job(spec, tmp_path / "zoo.h5", gpu)))
    assert zoo.weights.shape == (8, 3, spec.arch_spec().n_params)
    assert np.isfinite(zoo.weights).all() and all(np.isfinite(v).all() for v in zoo.states.values())
    assert zoo.states["test_acc"][:, -1].mean() > zoo.states["test_acc"][:, 0].mean() + 0.1


def test_evaluation_agrees_with_the_cpu(gpu, pristine):
    zoo = read_zoo(load_workspace(pristine).zoo_path)
    arch, task = zoo.arch, get_task("digits")
    w = np.concatenate([zoo.weights[:, -1], random_weights(arch, 52, seed=3).numpy()])
    acts = np.concatenate([zoo.models["activation"], [ACTIVATIONS[i % 4] for i in range(52)]])
    on_gpu = evaluate_weights(arch, task, w, acts, "test", gpu, predictions=True)
    on_cpu = evaluate_weights(arch, task, w, acts, "test", CPU, predictions=True)
    assert on_gpu.acc.shape == (64,) and on_gpu.predictions.shape == (64, len(task.y_test))
    assert np.isfinite(on_gpu.loss).all()
    n_ex = len(task.y_test)
    assert np.abs(on_gpu.acc - on_cpu.acc).max() <= 3 / n_ex                 # a few borderline inputs at most
    assert (on_gpu.predictions != on_cpu.predictions).mean() < 0.01
    np.testing.assert_allclose(on_gpu.loss, on_cpu.loss, rtol=1e-2, atol=1e-3)
    assert on_gpu.acc[:12].mean() > 0.5                                      # the trained models are the good ones


def test_fine_tuning_agrees_with_the_cpu(gpu, pristine):
    zoo = read_zoo(load_workspace(pristine).zoo_path)
    arch, task = zoo.arch, get_task("digits")
    w, acts = zoo.weights[:, 0], zoo.models["activation"]                    # initialisations: fine-tuning moves them
    tuned_gpu = drive(finetune_job(arch, task, w, acts, 1, seed=0, device=gpu))
    tuned_cpu = drive(finetune_job(arch, task, w, acts, 1, seed=0, device=CPU))
    assert tuned_gpu.weights.shape == w.shape and tuned_gpu.acc.shape == (len(w), 1)
    assert np.isfinite(tuned_gpu.weights).all() and np.isfinite(tuned_gpu.loss).all()
    before = evaluate_weights(arch, task, w, acts, "test", CPU).acc
    assert tuned_gpu.acc[:, 0].mean() > before.mean() + 0.1                 # one epoch lifts them above chance
    np.testing.assert_allclose(tuned_gpu.acc, tuned_cpu.acc, atol=0.05)


# ---- stage 2: the hyper-representation ---------------------------------------------------------
def test_a_training_step_runs_under_bf16_autocast_and_agrees_with_the_cpu(gpu, pristine):
    from core.hyperrep.augment import get_permuter
    from core.hyperrep.codec import WeightCodec

    ws = load_workspace(pristine)
    zoo = ws.read_zoo()
    model_cpu = ws.autoencoder(CPU)
    model_gpu = copy.deepcopy(model_cpu).to(gpu)
    batch = torch.from_numpy(zoo.weights[:, -1].copy())
    seen = []
    first_linear = next(m for m in model_gpu.modules() if isinstance(m, torch.nn.Linear))
    first_linear.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    parts = {}
    for name, model, dev in (("gpu", model_gpu, gpu), ("cpu", model_cpu, CPU)):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        parts[name] = train_step(model, WeightCodec(zoo.arch, model), get_permuter(zoo.arch), opt, batch.to(dev),
                                 torch.Generator().manual_seed(5))
    assert seen and seen[0] == (torch.bfloat16 if gpu.type == "cuda" else torch.float32)
    assert set(parts["gpu"]) == set(parts["cpu"]) and all(np.isfinite(v) for v in parts["gpu"].values())
    for key in parts["cpu"]:                                                 # same inputs (drawn on the CPU), bf16 vs fp32
        assert parts["gpu"][key] == pytest.approx(parts["cpu"][key], rel=0.05, abs=0.02), key
    assert all(torch.isfinite(p).all() for p in model_gpu.parameters())


def test_fit_on_the_gpu_lowers_the_loss_and_stores_a_finite_model(gpu, pristine, tmp_path):
    zoo_path = load_workspace(pristine).zoo_path
    records = []
    ws_path = drive(fit_job(zoo_path, tmp_path / "ws.h5", preset="tiny", epochs=4, device=gpu, seed=0),
                    on_progress=records.append)
    losses = [r.metrics["loss"] for r in records if "loss" in r.metrics]
    assert len(losses) >= 2 and all(np.isfinite(losses)) and losses[-1] < losses[0]
    ws = load_workspace(ws_path)
    assert all(np.isfinite(np.asarray(v)).all() for v in ws.ae_tensors.values() if np.asarray(v).dtype.kind == "f")
    assert ws.autoencoder(CPU) is not None                                  # a GPU-trained model loads on the CPU


def test_embedding_agrees_with_the_cpu(gpu, pristine, tmp_path):
    ws = copy_workspace(pristine, tmp_path)
    reference = ws.embeddings.copy()                                        # embedded on the CPU
    drive(embed_job(ws.path, device=str(gpu)))
    again = load_workspace(ws.path)
    assert again.embeddings.shape == reference.shape and np.isfinite(again.embeddings).all()
    scale = float(np.abs(reference).max())
    np.testing.assert_allclose(again.embeddings, reference, rtol=1e-2, atol=1e-2 * scale)


# ---- stage 4: generation -------------------------------------------------------------------------
def test_sampling_with_fine_tuning_agrees_with_the_cpu(gpu, pristine, tmp_path):
    runs = {}
    for name, dev in (("gpu", gpu), ("cpu", CPU)):
        (tmp_path / name).mkdir()
        ws = copy_workspace(pristine, tmp_path / name)
        rows = np.arange(len(ws.states))
        run = drive(sample_job(ws, rows, "kde", 16, seed=3, finetune=1, device=dev, save=False))
        runs[name] = ws.samples[run]["arrays"]
    a, b = runs["gpu"], runs["cpu"]
    assert a["weights"].shape == b["weights"].shape and np.isfinite(a["weights"]).all()
    for key in ("test_acc", "val_acc", "novelty_weight", "agreement", "finetune_acc"):
        assert np.isfinite(a[key]).all(), key
    # the KDE draws come from numpy (the same on both); decoding differs in rounding only
    scale = float(np.abs(b["weights"]).max())
    np.testing.assert_allclose(a["weights"], b["weights"], rtol=1e-2, atol=1e-2 * scale)
    assert abs(a["test_acc"].mean() - b["test_acc"].mean()) < 0.03
    assert abs(a["finetune_acc"].mean() - b["finetune_acc"].mean()) < 0.05
    np.testing.assert_array_equal(a["anchor_state"], b["anchor_state"])
