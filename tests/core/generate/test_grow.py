"""Widening to a larger architecture of the same family: the function is kept exactly, sampling
for an architecture the zoo lacks, and the one-line refusals."""
import numpy as np
import pytest
import torch

from core.errors import HyperVizError
from core.generate.grow import check_widenable, widen, widening_problem
from core.generate.sampling import sample_job
from core.progress import drive
from core.zoo.arch import KNOWN_ARCHS
from core.zoo.modules import build_module, init_vector, vector_to_state_dict
from core.zoo.store import read_zoo
from tests.core.generate.test_sampling import copy_workspace, tiny_workspace


def logits(spec, vector, activation, x):
    model = build_module(spec, activation)
    model.load_state_dict(vector_to_state_dict(spec, torch.from_numpy(vector)))
    return model.eval()(x)


@pytest.mark.parametrize("source, target", [("cnn", "cnn_wide"), ("cnn", "cnn_large"), ("cnn_wide", "cnn_large"),
                                            ("mlp", "mlp")])
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "gelu"])
def test_widening_keeps_the_function(source, target, activation):
    src, tgt = KNOWN_ARCHS[source], KNOWN_ARCHS[target]
    w = torch.stack([init_vector(src, "kaiming_normal", torch.Generator().manual_seed(i)) for i in range(3)]).numpy()
    wide = widen(src, tgt, w, np.random.default_rng(0))
    assert wide.shape == (3, tgt.n_params) and wide.dtype == np.float32
    x = torch.randn(40, *src.input_shape, generator=torch.Generator().manual_seed(1))
    for i in range(3):
        torch.testing.assert_close(logits(tgt, wide[i], activation, x), logits(src, w[i], activation, x),
                                   atol=2e-5, rtol=1e-4)


def test_replicas_copy_their_unit_and_split_its_outgoing_weights_unequally():
    src, tgt = KNOWN_ARCHS["cnn"], KNOWN_ARCHS["cnn_wide"]
    w = init_vector(src, "kaiming_normal", torch.Generator().manual_seed(0)).numpy()[None]
    wide = widen(src, tgt, w, np.random.default_rng(3))

    def tensor(spec, vector, slot):
        s = spec.layout[slot]
        return vector[0, s.offset: s.stop].reshape(s.shape)

    first_src, first_tgt = tensor(src, w, 0), tensor(tgt, wide, 0)
    np.testing.assert_array_equal(first_tgt[:8], first_src)             # unit j < 8 is unit j itself
    copies = np.array([next(k for k in range(8) if np.array_equal(row, first_src[k])) for row in first_tgt])
    assert len(set(copies[8:])) > 1                                       # the extra units copy several units
    second_src, second_tgt = tensor(src, w, 2), tensor(tgt, wide, 2)   # [6, 8, 3, 3] and [12, 16, 3, 3]
    for k in range(8):                                                   # the shares of unit k's replicas sum to 1
        np.testing.assert_allclose(second_tgt[:6, copies == k].sum(1), second_src[:, k], rtol=1e-5, atol=1e-7)
    k = copies[8]
    a, b = second_tgt[:6, k], second_tgt[:6, 8]
    assert not np.allclose(a, b)                                         # unequal shares: the replicas can separate
    np.testing.assert_allclose(a / np.abs(a).max(), b / np.abs(b).max(), rtol=1e-4, atol=1e-6)   # same direction


def test_architectures_that_do_not_widen_are_refused_in_one_line():
    assert widening_problem(KNOWN_ARCHS["cnn"], KNOWN_ARCHS["cnn_deep"]) == "their layers differ in type or order"
    assert "narrower" in widening_problem(KNOWN_ARCHS["cnn_wide"], KNOWN_ARCHS["cnn"])
    assert "differ" in widening_problem(KNOWN_ARCHS["cnn"], KNOWN_ARCHS["mlp"])
    with pytest.raises(HyperVizError, match="'cnn_deep' is not a wider 'cnn'"):
        check_widenable(KNOWN_ARCHS["cnn"], KNOWN_ARCHS["cnn_deep"])
    with pytest.raises(HyperVizError, match="do not fit 'cnn'"):
        widen(KNOWN_ARCHS["cnn"], KNOWN_ARCHS["cnn_wide"], np.zeros((2, 5), np.float32), np.random.default_rng(0))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_workspace(tmp_path_factory)


def test_sampling_for_a_wider_architecture_than_the_zoos(tiny, tmp_path):
    """reconstruct for cnn_wide on a cnn zoo: the samples are the cnn reconstructions, widened - the
    same accuracy, novelty and placement - stored, evaluated and fine-tuned as cnn_wide, with the
    run's random-init cnn_wide baseline in its metadata."""
    ws = copy_workspace(tiny, tmp_path)
    zoo = read_zoo(ws.zoo_path)
    rows = np.arange(len(ws.states))
    plain = drive(sample_job(ws, rows, "reconstruct", 4, seed=5, device="cpu", zoo=zoo, save=False))
    wide = drive(sample_job(ws, rows, "reconstruct", 4, seed=5, finetune=1, device="cpu", zoo=zoo, save=False,
                            arch="cnn_wide"))
    a, b = ws.samples[plain]["arrays"], ws.samples[wide]["arrays"]
    meta = ws.samples[wide]["meta"]
    assert meta["arch"]["name"] == "cnn_wide" and b["weights"].shape == (4, KNOWN_ARCHS["cnn_wide"].n_params)
    np.testing.assert_allclose(b["test_acc"], a["test_acc"])                   # the function is kept
    np.testing.assert_array_equal(b["anchor_state"], a["anchor_state"])
    np.testing.assert_allclose(b["novelty_weight"], a["novelty_weight"], rtol=1e-5)
    assert b["finetune_acc"].shape == (4, 1)
    widened = meta["widened"]
    assert widened["from"] == "cnn" and widened["to"] == "cnn_wide"
    assert widened["random_target"]["n"] == 4 and 0 <= widened["random_target"]["mean_test_acc"] <= 1
    assert 0 <= widened["random_target"]["mean_test_acc_finetuned"] <= 1


def test_a_wider_architecture_needs_a_method_and_a_source_that_widen(tiny, tmp_path):
    ws = copy_workspace(tiny, tmp_path)
    rows = np.arange(len(ws.states))
    with pytest.raises(HyperVizError, match="random has no models"):
        drive(sample_job(ws, rows, "random", 2, device="cpu", save=False, arch="cnn_wide"))
    with pytest.raises(HyperVizError, match="no selected architecture widens to it .cnn: their layers differ"):
        drive(sample_job(ws, rows, "noise", 2, device="cpu", save=False, arch="cnn_deep"))
    with pytest.raises(HyperVizError, match="vgg"):
        drive(sample_job(ws, rows, "noise", 2, device="cpu", save=False, arch="vgg"))
