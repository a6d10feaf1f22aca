import pytest
import torch

from core.errors import HyperVizError
from core.hyperrep.tokens import Tokenizer, get_tokenizer
from core.zoo.arch import KNOWN_ARCHS, ArchSpec, get_arch


@pytest.mark.parametrize("arch", ["cnn", "mlp", "modelzoo_cnn", "modelzoo_cnn_rgb"])
@pytest.mark.parametrize("token_size", [8, 25, None, 1])
def test_round_trip_exact(arch, token_size):
    spec = KNOWN_ARCHS[arch]
    tok = Tokenizer(spec, token_size)
    w = torch.randn(3, spec.n_params)
    tokens = tok.tokenize(w)
    assert tokens.shape == (3, tok.n_tokens, tok.token_size)
    assert torch.equal(tok.detokenize(tokens), w)
    assert torch.all(tokens[:, ~tok.mask] == 0)
    assert int(tok.mask.sum()) == spec.n_params
    assert tok.positions.shape == (tok.n_tokens, 3)
    assert tok.layer_of_value.shape == (spec.n_params,)
    # padding entries are ignored on the way back
    noisy = tokens.clone()
    noisy[:, ~tok.mask] = 7.0
    assert torch.equal(tok.detokenize(noisy), w)


def test_default_token_size_is_one_token_per_row():
    tok = Tokenizer(get_arch("cnn"))
    assert tok.token_size == 8 * 9 + 1                       # conv 8->6 3x3: 72 weights + bias
    assert tok.n_tokens == 8 + 6 + 20 + 10
    assert torch.equal(tok.chunk_of_token, torch.zeros(tok.n_tokens, dtype=torch.long))


def test_hand_checked_small_case():
    spec = ArchSpec("t", (3,), ({"type": "linear", "in": 3, "out": 2}, {"type": "linear", "in": 2, "out": 1}))
    # layout: W0 [2,3] (0..5), b0 (6,7), W1 [1,2] (8,9), b1 (10)
    tok = Tokenizer(spec, token_size=3)
    # layer 0 rows have 4 values -> 2 chunks each; layer 1 row has 3 values -> 1 chunk
    assert tok.n_tokens == 5
    P = spec.n_params
    assert tok.source_index.tolist() == [[0, 1, 2], [6, P, P], [3, 4, 5], [7, P, P], [8, 9, 10]]
    assert tok.mask.tolist() == [[True] * 3, [True, False, False], [True] * 3, [True, False, False], [True] * 3]
    assert tok.positions.tolist() == [[0, 0, 0], [1, 0, 0], [2, 0, 1], [3, 0, 1], [4, 1, 0]]
    assert tok.layer_of_token.tolist() == [0, 0, 0, 0, 1]
    assert tok.chunk_of_token.tolist() == [0, 1, 0, 1, 0]
    assert tok.layer_of_value.tolist() == [0] * 8 + [1] * 3
    assert tok.max_positions == (5, 2, 2)
    w = torch.arange(1, 12, dtype=torch.float32)[None]
    assert tok.tokenize(w)[0].tolist() == [[1, 2, 3], [7, 0, 0], [4, 5, 6], [8, 0, 0], [9, 10, 11]]


def test_layer_stats_and_batch_dims():
    spec = get_arch("mlp")
    tok = get_tokenizer(spec)
    assert get_tokenizer(spec) is tok
    w = torch.randn(4, 5, spec.n_params) * torch.linspace(0.1, 2.0, spec.n_params)
    assert tok.tokenize(w).shape == (4, 5, tok.n_tokens, tok.token_size)
    mean, std = tok.layer_stats(w)
    assert mean.shape == std.shape == (spec.n_layers,)
    for slot_l in range(spec.n_layers):
        vals = w[..., tok.layer_of_value == slot_l]
        assert torch.allclose(std[slot_l], vals.std(unbiased=False), rtol=1e-4)
        assert torch.allclose(mean[slot_l], vals.mean(), atol=1e-5)


def test_wrong_shapes_raise():
    tok = Tokenizer(get_arch("cnn"))
    with pytest.raises(HyperVizError):
        tok.tokenize(torch.zeros(2, 10))
    with pytest.raises(HyperVizError):
        tok.detokenize(torch.zeros(2, 3, 4))
    with pytest.raises(HyperVizError):
        Tokenizer(get_arch("cnn"), 0)


@pytest.mark.parametrize("arch", ["cnn", "mlp"])
@pytest.mark.parametrize("token_size", [8, None])
def test_every_token_entry_knows_its_value_group(arch, token_size):
    spec = get_arch(arch)
    tok = Tokenizer(spec, token_size)
    flat = torch.arange(spec.n_params, dtype=torch.float64)
    source = tok.tokenize(flat).long()                     # each real entry holds its flat index
    for slot in spec.layout:
        group = 2 * slot.layer + (1 if slot.kind == "bias" else 0)
        here = tok.mask & (source >= slot.offset) & (source < slot.stop)
        assert int(here.sum()) == slot.stop - slot.offset
        assert (tok.group_of_entry[here] == group).all()
    assert (tok.group_of_entry[~tok.mask] == 2 * tok.n_layers).all()
