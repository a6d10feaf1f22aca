import pytest
import torch

from core.errors import HyperVizError
from core.hyperrep.augment import Permuter, add_noise, get_permuter, permutation_index, permute, random_erase
from core.zoo.arch import KNOWN_ARCHS, get_arch
from core.zoo.modules import build_module, init_vector, vector_to_state_dict


def _population(spec, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([init_vector(spec, "uniform", g) for _ in range(n)]) * 3  # larger weights: nonlinearity matters


@pytest.mark.parametrize("arch", ["cnn", "mlp", "modelzoo_cnn"])
def test_permutation_preserves_function(arch):
    spec = KNOWN_ARCHS[arch]
    w = _population(spec, 3)
    g = torch.Generator().manual_seed(1)
    wp = permute(spec, w, g)
    assert wp.shape == w.shape
    x = torch.randn(6, *spec.input_shape, generator=g)
    for activation in ("relu", "tanh", "sigmoid", "gelu"):
        model = build_module(spec, activation).eval()
        for i in range(w.shape[0]):
            assert not torch.equal(wp[i], w[i])
            assert torch.equal(wp[i].sort().values, w[i].sort().values)       # a rearrangement
            with torch.no_grad():
                model.load_state_dict(vector_to_state_dict(spec, w[i]))
                before = model(x)
                model.load_state_dict(vector_to_state_dict(spec, wp[i]))
                after = model(x)
            assert torch.allclose(before, after, atol=1e-5), (activation, i)


def test_identity_and_index_shape():
    spec = get_arch("cnn")
    pm = Permuter(spec)
    assert pm.groups == [(0, 8), (1, 6), (2, 20)]
    assert pm.n_units == 34
    ident = pm.identity(2)
    assert torch.equal(permutation_index(spec, ident), torch.arange(spec.n_params).expand(2, -1))
    perms = pm.draw(5, torch.Generator().manual_seed(0))
    assert perms.shape == (5, 34)
    for g, (_layer, n) in enumerate(pm.groups):
        cols = perms[:, pm.group_offsets[g] : pm.group_offsets[g] + n]
        assert torch.equal(cols.sort(dim=1).values, torch.arange(n).expand(5, -1))
    idx = pm.index(perms)
    assert idx.shape == (5, spec.n_params)
    assert torch.equal(idx.sort(dim=1).values, torch.arange(spec.n_params).expand(5, -1))   # a bijection
    assert get_permuter(spec) is get_permuter(spec)


def test_hand_checked_linear_permutation():
    spec = get_arch("mlp")                      # 64 -> 16 -> 16 -> 10
    pm = Permuter(spec)
    perms = pm.identity(1)
    perms[0, :16] = torch.arange(16).roll(1)     # new unit i of layer 0 = old unit i-1
    w = torch.randn(1, spec.n_params)
    out = pm.apply(w, perms)
    W0, b0 = w[0, :1024].view(16, 64), w[0, 1024:1040]
    W1 = w[0, 1040:1296].view(16, 16)
    assert torch.equal(out[0, :1024].view(16, 64), W0.roll(1, dims=0))
    assert torch.equal(out[0, 1024:1040], b0.roll(1))
    assert torch.equal(out[0, 1040:1296].view(16, 16), W1.roll(1, dims=1))
    assert torch.equal(out[0, 1296:], w[0, 1296:])


def test_independent_per_sample_and_reproducible():
    spec = get_arch("cnn")
    w = _population(spec, 1).expand(8, -1).contiguous()
    a = permute(spec, w, torch.Generator().manual_seed(3))
    b = permute(spec, w, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert len({tuple(row.tolist()) for row in a}) == 8


def test_noise():
    w = torch.randn(4, 100)
    g = torch.Generator().manual_seed(0)
    assert add_noise(w, 0.0) is w
    n = add_noise(w, 0.1, generator=g)
    assert 0.05 < (n - w).std() < 0.15
    m = add_noise(w, 0.1, multiplicative=True, generator=g)
    assert 0.05 < ((m - w) / w).std() < 0.15
    z = add_noise(torch.zeros(3, 5), 0.5, multiplicative=True, generator=g)
    assert torch.equal(z, torch.zeros(3, 5))


def test_random_erase_flat_and_tokens():
    g = torch.Generator().manual_seed(0)
    x = torch.ones(200, 100)
    out = random_erase(x, p=1.0, scale=(0.1, 0.2), generator=g)
    zeros = (out == 0)
    counts = zeros.sum(1)
    assert torch.all((counts >= 10) & (counts <= 20))
    for row in zeros:                            # one contiguous block
        where = torch.nonzero(row).squeeze(1)
        assert where.max() - where.min() + 1 == where.numel()
    assert torch.equal(random_erase(x, p=0.0, generator=g), x)
    some = random_erase(x, p=0.5, generator=g)
    frac = (some == 0).any(1).float().mean()
    assert 0.3 < frac < 0.7
    t = torch.ones(50, 44, 73)
    out = random_erase(t, p=1.0, scale=(0.02, 0.33), generator=g)
    for sample in out:
        rows = torch.nonzero((sample == 0).any(1)).squeeze(1)
        cols = torch.nonzero((sample == 0).any(0)).squeeze(1)
        assert (sample == 0).sum() == rows.numel() * cols.numel()          # a rectangle
        assert rows.max() - rows.min() + 1 == rows.numel()
    with pytest.raises(HyperVizError):
        random_erase(torch.ones(3), generator=g)


@pytest.mark.parametrize("name", ["cnn", "mlp", "modelzoo_cnn"])
def test_canonical_order_is_function_preserving_and_permutation_invariant(name):
    from core.hyperrep.augment import get_permuter

    spec = KNOWN_ARCHS[name]
    permuter = get_permuter(spec)
    w = torch.stack([init_vector(spec, "kaiming_uniform", torch.Generator().manual_seed(i)) for i in range(3)])
    canon = permuter.canonical(w)
    assert not torch.equal(canon, w)
    assert torch.equal(permuter.canonical(permuter(w, torch.Generator().manual_seed(7))), canon)
    assert torch.equal(permuter.canonical(canon), canon)
    x = torch.rand(4, *spec.input_shape)
    for i in range(3):
        a, b = build_module(spec, "tanh").eval(), build_module(spec, "tanh").eval()
        a.load_state_dict(vector_to_state_dict(spec, w[i]))
        b.load_state_dict(vector_to_state_dict(spec, canon[i]))
        torch.testing.assert_close(a(x), b(x), atol=1e-5, rtol=1e-5)
