"""One autoencoder for a zoo of several architectures, and windows for models larger than the context."""
import numpy as np
import pytest
import torch

from core.analysis.report import probe_workspace, reconstruction_fidelity
from core.errors import HyperVizError
from core.generate.sampling import sample_job, training_reference
from core.hyperrep.autoencoder import HyperRepAE, make_config
from core.hyperrep.embed import embed_job
from core.hyperrep.fit import fit_job
from core.hyperrep.tokens import get_tokenizer
from core.hyperrep.windows import ArchCodec, codecs_from_training, window_plan, workspace_codec
from core.hyperrep.workspace import load_workspace
from core.progress import drive
from core.zoo.arch import KNOWN_ARCHS
from core.zoo.population import build_zoo_job
from core.zoo.spec import ZooSpec
from core.zoo.store import read_zoo

GRID = {"activation": ["relu"], "init": ["kaiming_uniform"], "optimizer": ["adam"], "lr": [1e-2],
        "weight_decay": [0.0], "dropout": [0.0]}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A 3-architecture zoo (12 models x 3 checkpoints), a windowed autoencoder fitted on it, embedded."""
    folder = tmp_path_factory.mktemp("mixed")
    zoo = drive(build_zoo_job(ZooSpec(arch="cnn,cnn_deep,mlp", n_models=12, epochs=2, grid=GRID, chunk_size=4),
                              folder / "zoo.h5", "cpu"))
    ws = folder / "ws.h5"
    drive(fit_job(zoo, ws, preset="tiny", epochs=2, device="cpu"))
    drive(embed_job(ws, device="cpu"))
    return zoo, ws


@pytest.mark.parametrize("n, w, halo", [(10, 10, 2), (5, 10, 2), (23, 8, 2), (100, 16, 4), (9, 4, 0)])
def test_window_plans_cover_every_token_once(n, w, halo):
    plan = window_plan(n, w, halo)
    kept = np.concatenate([np.arange(k0, k1) for _, _, k0, k1 in plan])
    assert kept.tolist() == list(range(n))
    for start, stop, k0, k1 in plan:
        assert stop - start == min(n, w) and start <= k0 < k1 <= stop
        if n > w and 0 < k0:
            assert k0 - start >= min(halo, (w - 1) // 2) or start == 0     # context before the kept part


def test_windowed_encode_decode_round_trip_is_exact_through_the_tokens():
    """The windows' stitching is exact: decoding the tokens the windows produce gives back the
    weights when the autoencoder is replaced by the identity of tokens (kept centres only)."""
    spec = KNOWN_ARCHS["cnn_large"]
    tok = get_tokenizer(spec, 73)
    assert tok.n_tokens > 100                                    # larger than the 44-token context
    codec = ArchCodec(spec, 73, torch.zeros(spec.n_layers), torch.ones(spec.n_layers), window=44, halo=8,
                      canonical=False)
    assert len(codec.plan) >= 3

    class Identity(torch.nn.Module):                         # latents = tokens, per window
        class config:
            d_latent = 73
            token_size = 73

        def encode(self, tokens, positions):
            assert tokens.shape[1] == len(positions) <= 44
            return tokens

        def decode(self, z, positions):
            return z

        def eval(self):
            return self

    w = torch.randn(3, spec.n_params)
    z = codec.encode(Identity(), w.numpy(), torch.device("cpu"), pooled=False)
    back = codec.decode(Identity(), z, torch.device("cpu"))
    np.testing.assert_allclose(back, w.numpy(), rtol=1e-6, atol=1e-6)


def test_a_mixed_zoo_fits_embeds_and_probes_arch(mixed):
    zoo_path, ws_path = mixed
    ws, zoo = load_workspace(ws_path), read_zoo(zoo_path)
    assert ws.training["mode"] == "windowed" and set(ws.training["archs"]) == {"cnn", "cnn_deep", "mlp"}
    assert ws.ae_config["value_features"] == 0 and ws.ae_config["token_size"] == 73
    assert ws.embeddings.shape == (zoo.present.sum(), 5 * ws.ae_config["d_latent"]) and np.isfinite(ws.embeddings).all()
    codecs = codecs_from_training(ws.training, ws.autoencoder())
    assert {c.n_tokens for c in codecs.values()} == {44, 52, 42}
    results = probe_workspace(ws, zoo)
    assert results["arch"]["hyperrep"].metric == "accuracy" and results["arch"]["sw"].applicable
    fidelity = reconstruction_fidelity(ws, zoo, device="cpu", min_acc=0.0)
    assert set(fidelity["by_arch"]) <= {"cnn", "cnn_deep", "mlp"} and fidelity["states"] > 0


def test_sampling_a_chosen_architecture(mixed):
    zoo_path, ws_path = mixed
    ws, zoo = load_workspace(ws_path), read_zoo(zoo_path)
    rows = np.arange(len(ws.states))
    run = drive(sample_job(ws, rows, "kde", 4, device="cpu", zoo=zoo, arch="cnn_deep", save=False))
    entry = ws.samples[run]
    assert entry["meta"]["arch"]["name"] == "cnn_deep" and entry["arrays"]["weights"].shape == (4, 1812)
    assert entry["meta"]["arch_counts"] == {"cnn": 12, "cnn_deep": 12, "mlp": 12}
    assert np.isfinite(entry["arrays"]["test_acc"]).all()
    ws.check_fits(zoo)                                     # a run of one architecture fits the mixed zoo
    run = drive(sample_job(ws, rows, "reconstruct", 2, device="cpu", zoo=zoo, save=False))   # the majority: first
    assert ws.samples[run]["meta"]["arch"]["name"] == "cnn"
    ref = training_reference(ws, zoo, "mlp")
    assert ref.weights.shape[1] == 1482
    with pytest.raises(HyperVizError, match="architecture 'resnet': not in this zoo"):
        drive(sample_job(ws, rows, "kde", 2, device="cpu", zoo=zoo, arch="resnet", save=False))
    mlp_rows = np.flatnonzero(zoo.model_archs()[ws.states[:, 0]] == "mlp")
    with pytest.raises(HyperVizError, match="holds no model state of architecture 'cnn'"):
        drive(sample_job(ws, mlp_rows, "kde", 2, device="cpu", zoo=zoo, arch="cnn", save=False))


def test_a_workspace_refuses_an_architecture_it_was_not_trained_on(mixed):
    zoo_path, ws_path = mixed
    ws = load_workspace(ws_path)
    model = ws.autoencoder()
    with pytest.raises(HyperVizError, match="trained on cnn, cnn_deep, mlp, not on architecture 'cnn_wide'"):
        workspace_codec(ws, model, KNOWN_ARCHS["cnn_wide"])


def test_the_windowed_settings_refuse_the_value_branch(tmp_path):
    zoo = drive(build_zoo_job(ZooSpec(arch="cnn", n_models=3, epochs=1, grid=GRID, chunk_size=3), tmp_path / "z.h5",
                              "cpu"))
    with pytest.raises(HyperVizError, match="value_features: a windowed autoencoder"):
        drive(fit_job(zoo, tmp_path / "ws.h5", preset="tiny", epochs=1, device="cpu", window=16,
                      config={"value_features": 4}))
    with pytest.raises(HyperVizError, match="halo 8: must be >= 0 and below half the window"):
        drive(fit_job(zoo, tmp_path / "ws2.h5", preset="tiny", epochs=1, device="cpu", window=16, halo=8))


def test_a_model_larger_than_the_context_goes_through_windows(tmp_path):
    """cnn_large (13,706 parameters, 11x cnn; 218 tokens of 73) with a 32-token context."""
    zoo = drive(build_zoo_job(ZooSpec(arch="cnn_large", n_models=4, epochs=1, grid=GRID, chunk_size=4),
                              tmp_path / "z.h5", "cpu"))
    ws_path = tmp_path / "ws.h5"
    drive(fit_job(zoo, ws_path, preset="tiny", epochs=1, device="cpu", window=32))
    drive(embed_job(ws_path, device="cpu"))
    ws = load_workspace(ws_path)
    assert ws.ae_config["n_tokens"] == 32 and ws.training["window"] == 32 and ws.training["halo"] == 8
    assert ws.training["positions"] == "window" and ws.ae_config["max_positions"][0] == 32   # tables bound the window
    codec = workspace_codec(ws, ws.autoencoder(), KNOWN_ARCHS["cnn_large"])
    assert codec.n_tokens == 218 and len(codec.plan) == 13
    w = read_zoo(zoo).weights[:2, -1]
    z = codec.encode(ws.autoencoder(), w, torch.device("cpu"), pooled=False)
    assert z.shape == (2, 218, ws.ae_config["d_latent"])
    assert codec.decode(ws.autoencoder(), z, torch.device("cpu")).shape == (2, 13706)
    assert np.isfinite(ws.embeddings).all()


def test_make_config_for_windows_keeps_positions_of_every_architecture():
    tok = get_tokenizer(KNOWN_ARCHS["cnn"], 73)
    cfg = make_config(tok, "tiny", n_tokens=16, max_positions=(122, 5, 64), value_features=0)
    model = HyperRepAE(cfg)
    z = model.encode(torch.zeros(2, 16, 73), tok.positions[:16])
    assert z.shape == (2, 16, cfg.d_latent)


def test_window_positions_let_one_autoencoder_read_a_model_of_any_length():
    """With the global index counted within the window, the position tables bound the window, the
    layers and the rows: a model of many more tokens than any table row fits (here 4x cnn_large's)."""
    spec = KNOWN_ARCHS["cnn_large"]
    tok = get_tokenizer(spec, 32)                     # 32-value tokens: rows cut into chunks
    assert tok.n_tokens > 400
    model = HyperRepAE(make_config(tok, "tiny", n_tokens=16, max_positions=(16, 4, 64), value_features=0))
    codec = ArchCodec(spec, 32, torch.zeros(4), torch.ones(4), window=16, halo=4)
    codec.check_fits(model)
    pos = codec.window_positions(100, 116)
    assert pos[:, 0].tolist() == list(range(16)) and pos[:, 1:].tolist() == tok.positions[100:116, 1:].tolist()
    z = codec.encode(model, torch.randn(2, spec.n_params).numpy(), torch.device("cpu"), pooled=False)
    assert z.shape == (2, tok.n_tokens, model.config.d_latent)
    absolute = ArchCodec(spec, 32, torch.zeros(4), torch.ones(4), window=16, halo=4, positions="model")
    with pytest.raises(HyperVizError, match="does not fit the autoencoder's positions"):
        absolute.check_fits(model)
