import json

import numpy as np
import pytest
import torch

from core.errors import HyperVizError
from core.hyperrep.augment import Permuter, add_noise, random_erase
from core.hyperrep.autoencoder import (
    PRESETS,
    AEConfig,
    HyperRepAE,
    count_parameters,
    layerwise_r2,
    layerwise_reconstruction_loss,
    make_config,
    model_from_tensors,
    nt_xent,
    state_to_tensors,
)
from core.hyperrep.tokens import Tokenizer
from core.zoo.arch import get_arch


@pytest.fixture(scope="module")
def tok():
    return Tokenizer(get_arch("mlp"))


def _assert_standardised(profile):
    """A profile of the tokens it was standardised on: mean 0 and std 1 per feature."""
    torch.testing.assert_close(profile.mean(0), torch.zeros(profile.shape[1]), atol=1e-4, rtol=0)
    torch.testing.assert_close(profile.std(0), torch.ones(profile.shape[1]), atol=1e-3, rtol=0)


def _tiny(tok, **kw):
    torch.manual_seed(0)
    return HyperRepAE(make_config(tok, "tiny", **kw)).attach_tokenizer(tok)


def test_shapes(tok):
    model = _tiny(tok, value_features=4, stats_weight=0.5)
    c = model.config
    tokens = tok.tokenize(torch.randn(5, tok.n_params))
    z = model.encode(tokens)
    assert z.shape == (5, tok.n_tokens, c.d_latent)
    assert model.decode(z).shape == tokens.shape
    recon, z2 = model(tokens)
    assert recon.shape == tokens.shape and torch.equal(z, z2)
    emb = model.features(z, tokens)
    n_layers = c.max_positions[1]
    width = n_layers * c.d_latent
    assert emb.shape == (5, width + 2 * n_layers * (c.value_features + c.unit_features)) == (5, model.feature_width)
    for layer in range(n_layers):        # per-layer means of the token latents, side by side
        mine = tok.layer_of_token == layer
        torch.testing.assert_close(emb[:, layer * c.d_latent : (layer + 1) * c.d_latent], z[:, mine].mean(1))
    # then the value branch: per group (layer l's weights = 2l, its biases = 2l + 1) the mean of the ramps
    k = c.value_features
    for group in range(2 * n_layers):
        values = tokens[:, tok.group_of_entry == group]                            # [5, n_values]
        phi = torch.nn.functional.gelu(values[..., None] * model.value_slope[group] + model.value_offset[group]).mean(1)
        cols = slice(group * k, (group + 1) * k)
        torch.testing.assert_close(emb[:, width:][:, cols], (phi - model.value_mean[cols]) / model.value_std[cols])
    # then the unit branch: per layer, the ramps of its units' RMS (group 2l) and mean (2l + 1)
    units = emb[:, width + 2 * n_layers * k :]
    weights = tok.detokenize(tokens)
    ku = c.unit_features
    for slot in (s for s in tok.spec.layout if s.kind == "weight"):
        rows = weights[:, slot.offset : slot.stop].reshape(5, slot.shape[0], -1)
        for j, moment in enumerate((rows.pow(2).mean(-1).sqrt(), rows.mean(-1))):
            g = 2 * slot.layer + j
            phi = torch.nn.functional.gelu(moment[..., None] * model.unit_slope[g] + model.unit_offset[g]).mean(1)
            cols = slice(g * ku, (g + 1) * ku)
            torch.testing.assert_close(units[:, cols], (phi - model.unit_mean[cols]) / model.unit_std[cols],
                                       atol=1e-5, rtol=1e-4)
    assert model.project(emb).shape == (5, c.d_proj)
    # the embedding: the pooled latents' summary, then the same profiles
    m = c.latent_components
    embedding = model.embed(tokens)
    G = 2 * n_layers
    assert m > 0 and c.value_moments and embedding.shape == (5, m + emb.shape[1] - width + 3 * G) == (5, model.embedding_width)
    torch.testing.assert_close(embedding[:, :m], model.summarise(emb[:, :width]))
    torch.testing.assert_close(embedding[:, m : -3 * G], emb[:, width:])
    # and last each group's mean, RMS and largest |value|
    moments = (embedding[:, -3 * G :] * model.moment_std + model.moment_mean).view(5, G, 3)
    for group in range(G):
        values = tokens[:, tok.group_of_entry == group]
        expected = torch.stack([values.mean(1), values.pow(2).mean(1).sqrt(), values.abs().amax(1)], 1)
        torch.testing.assert_close(moments[:, group], expected, atol=1e-5, rtol=1e-4)
    total, parts = model.loss(tokens, tokens)
    assert total.dim() == 0 and set(parts) == {"loss", "contrastive", "reconstruction", "statistics"}
    # a window of tokens with explicit positions
    assert model.encode(tokens[:, :7], tok.positions[:7]).shape == (5, 7, c.d_latent)
    with pytest.raises(HyperVizError):
        model.encode(torch.zeros(2, tok.n_tokens, tok.token_size + 1))


def test_nt_xent_identical_views_lower():
    g = torch.Generator().manual_seed(0)
    p = torch.randn(32, 16, generator=g)
    same = nt_xent(p, p, 0.1)
    other = nt_xent(p, torch.randn(32, 16, generator=g), 0.1)
    assert same < other
    assert same < 0.1                                        # near-perfect alignment of 32 random directions
    with pytest.raises(HyperVizError):
        nt_xent(p, p[:5])


def test_layerwise_loss_equals_mse_with_unit_std(tok):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, tok.n_tokens, tok.token_size, generator=g)
    b = torch.randn(4, tok.n_tokens, tok.token_size, generator=g)
    ones = torch.ones(tok.n_layers)
    full = torch.ones(tok.n_tokens, tok.token_size, dtype=torch.bool)
    loss = layerwise_reconstruction_loss(a, b, full, tok.layer_of_token, ones)
    assert torch.allclose(loss, torch.nn.functional.mse_loss(a, b))
    # the mask restricts the mean to real entries
    masked = layerwise_reconstruction_loss(a, b, tok.mask, tok.layer_of_token, ones)
    assert torch.allclose(masked, ((a - b) ** 2)[:, tok.mask].mean())
    # a layer's std divides its errors
    std = torch.tensor([2.0, 1.0, 1.0])
    only0 = (tok.layer_of_token == 0)[:, None] & tok.mask
    b0 = a.clone()
    b0[:, only0] += 1.0
    l2 = layerwise_reconstruction_loss(a, b0, tok.mask, tok.layer_of_token, std)
    assert torch.allclose(l2, 0.25 * only0.sum() / tok.mask.sum())
    # also on flat vectors with per-value layers
    wa, wb = tok.detokenize(a), tok.detokenize(b)
    flat = layerwise_reconstruction_loss(wa, wb, None, tok.layer_of_value, ones)
    assert torch.allclose(flat, masked)


def test_layerwise_r2(tok):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(16, tok.n_params, generator=g)
    mean, std = tok.layer_stats(w)
    t = tok.tokenize(w)
    r2 = layerwise_r2(t, t, tok.mask, tok.layer_of_token, mean)
    assert torch.allclose(r2, torch.ones(tok.n_layers))
    pred_mean = mean[tok.layer_of_token][None, :, None].expand_as(t)
    r2m = layerwise_r2(pred_mean, t, tok.mask, tok.layer_of_token, mean)
    assert torch.allclose(r2m, torch.zeros(tok.n_layers), atol=1e-6)
    flat = layerwise_r2(w, w + 0.1 * torch.randn_like(w), None, tok.layer_of_value, mean)
    assert torch.all((flat > 0.95) & (flat < 1.0))


def _structured_population(tok, n=64, rank=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(tok.n_params, generator=g) * 0.3
    basis = torch.randn(rank, tok.n_params, generator=g) * 0.2
    coeff = torch.randn(n, rank, generator=g)
    return base + coeff @ basis


def test_tiny_training_reduces_loss(tok):
    model = _tiny(tok)
    w = _structured_population(tok)
    mean, std = tok.layer_stats(w)
    model.set_layer_stats(std, mean)
    pm = Permuter(tok.spec)
    g = torch.Generator().manual_seed(1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    fixed = tok.tokenize(w)
    with torch.no_grad():
        start = model.loss(fixed, fixed)[1]
    for _ in range(100):
        t1, t2 = tok.tokenize(pm(w, g)), tok.tokenize(pm(w, g))
        v1 = random_erase(add_noise(t1, 0.05, True, g), p=0.5, generator=g)
        v2 = random_erase(add_noise(t2, 0.05, True, g), p=0.5, generator=g)
        total, parts = model.loss(v1, v2, t1, t2)
        opt.zero_grad()
        total.backward()
        opt.step()
    with torch.no_grad():
        end = model.loss(fixed, fixed)[1]
    assert torch.isfinite(parts["loss"]) and torch.isfinite(parts["contrastive"])
    # measured: total 1.35 -> 0.60, reconstruction 1.06 -> 0.59 (permuted views are harder to rebuild)
    assert end["loss"] < 0.6 * start["loss"], (start, end)
    assert end["reconstruction"] < 0.75 * start["reconstruction"], (start, end)


def test_config_json_and_tensor_round_trip(tok):
    model = _tiny(tok, dropout=0.1).eval()
    w = torch.randn(3, tok.n_params)
    model.set_layer_stats(*reversed(tok.layer_stats(w)))
    text = model.config.to_json()
    json.loads(text)
    cfg = AEConfig.from_json(text)
    assert cfg == model.config
    tensors = state_to_tensors(model)
    assert all(isinstance(v, torch.Tensor) and v.is_contiguous() for v in tensors.values())
    assert "token_mask" in tensors and "layer_std" in tensors
    rebuilt = model_from_tensors(text, tensors).eval()
    t = tok.tokenize(w)
    with torch.no_grad():
        assert torch.equal(rebuilt(t)[0], model(t)[0])
        assert torch.equal(rebuilt.embed(t), model.embed(t))
    assert torch.equal(rebuilt.token_mask, tok.mask)
    assert torch.equal(rebuilt.layer_std, model.layer_std)
    with pytest.raises(HyperVizError):
        model_from_tensors(text, {k: v for k, v in tensors.items() if k != "layer_std"})
    with pytest.raises(HyperVizError):
        AEConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    with pytest.raises(HyperVizError):
        make_config(tok, "huge")
    with pytest.raises(HyperVizError):
        make_config(tok, "tiny", d_model=30, n_heads=4)


def test_presets_sizes():
    tok = Tokenizer(get_arch("cnn"))
    sizes = {name: count_parameters(HyperRepAE(make_config(tok, name))) for name in PRESETS}
    assert sizes["tiny"] < 50_000
    assert sizes["default"] < 1_500_000


def test_mean_std_pooling_recovers_a_planted_spread_that_a_mean_misses():
    import numpy as np

    from core.analysis.probes import ridge_probe

    tok = Tokenizer(get_arch("cnn"))
    model = _tiny(tok, pooling="mean_std")
    plain = _tiny(tok)
    d, layers = model.config.d_latent, model.layer_of_token
    gen = torch.Generator().manual_seed(0)
    n = 400
    spread = torch.rand(n, generator=gen) + 0.1                  # the planted property, one per state
    signs = torch.where(torch.rand(n, tok.n_tokens, d, generator=gen) < 0.5, -1.0, 1.0)
    # every layer's tokens sit symmetrically at +-spread around one shared per-state offset: the
    # per-layer means carry the offset only, the spread lives in the second moment
    offset = torch.randn(n, 1, d, generator=gen)
    z = offset + spread[:, None, None] * (signs - signs.mean(1, keepdim=True)) / signs.std(1, keepdim=True)
    pooled, means = model.pool(z), plain.pool(z)
    assert pooled.shape == (n, 2 * tok.max_positions[1] * d)
    torch.testing.assert_close(pooled[:, : means.shape[1]], means)          # means first, the same as "mean"
    x_mean, x_both, y = means.numpy(), pooled.numpy(), spread.numpy().astype(np.float64)
    cut = (slice(0, 250), slice(250, 320), slice(320, n))
    split = lambda x: [a for s in cut for a in (x[s], y[s])]  # noqa: E731
    assert ridge_probe(*split(x_both)).score > 0.9
    assert ridge_probe(*split(x_mean)).score < 0.3
    idx = torch.arange(tok.n_tokens)                            # reversing each layer's tokens changes nothing
    for layer in layers.unique():
        where = torch.nonzero(layers == layer).ravel()
        idx[where] = where.flip(0)
    assert not torch.equal(idx, torch.arange(tok.n_tokens))
    torch.testing.assert_close(model.pool(z[:, idx]), pooled, atol=1e-4, rtol=1e-4)
    with pytest.raises(HyperVizError, match="pooling 'max'"):
        _tiny(tok, pooling="max")


def test_value_branch_recovers_a_planted_spread_that_token_latent_means_miss():
    """Every state's values sit at +-spread around 0 in every group: the mean of each group is 0
    whatever the spread, and the untrained value branch's ramps already read the spread out."""
    from core.analysis.probes import ridge_probe

    tok = Tokenizer(get_arch("cnn"))
    model = _tiny(tok, value_features=4)
    gen = torch.Generator().manual_seed(0)
    n = 300
    spread = torch.rand(n, generator=gen) + 0.1
    signs = torch.where(torch.rand(n, tok.n_params, generator=gen) < 0.5, -1.0, 1.0)
    tokens = tok.tokenize(spread[:, None] * signs)
    with torch.no_grad():
        values = model.value_pool(tokens).numpy().astype(np.float64)
    group_means = np.stack([tokens[:, tok.group_of_entry == g].mean(1).numpy() for g in range(2 * tok.n_layers)], 1)
    y = spread.numpy().astype(np.float64)
    cut = (slice(0, 200), slice(200, 250), slice(250, n))
    split = lambda x: [a for s in cut for a in (x[s], y[s])]  # noqa: E731
    assert values.shape == (n, 2 * tok.n_layers * model.config.value_features)
    assert ridge_probe(*split(values)).score > 0.9
    assert ridge_probe(*split(group_means)).score < 0.3


def test_unit_branch_recovers_planted_unit_alignment_that_the_value_profile_cannot_see():
    """Every value is +-1 with probability 1/2, so every group's value distribution is the same
    for every state; what varies is how many units have all their weights of one sign (the
    planted ``aligned`` fraction). The value profile cannot read it (a permutation of a layer's
    values leaves it exactly unchanged), the unit branch's profile of unit means does."""
    from core.analysis.probes import ridge_probe

    tok = Tokenizer(get_arch("cnn"))
    model = _tiny(tok, value_features=4, unit_features=4)
    gen = torch.Generator().manual_seed(0)
    n = 300
    aligned = torch.rand(n, generator=gen)
    weights = torch.where(torch.rand(n, tok.n_params, generator=gen) < 0.5, -1.0, 1.0)
    for slot in (s for s in tok.spec.layout if s.kind == "weight"):
        rows = weights[:, slot.offset : slot.stop].view(n, slot.shape[0], -1)
        unit_sign = torch.where(torch.rand(n, slot.shape[0], 1, generator=gen) < 0.5, -1.0, 1.0)
        pick = torch.rand(n, slot.shape[0], 1, generator=gen) < aligned[:, None, None]
        rows.copy_(torch.where(pick, unit_sign.expand_as(rows), rows))
    tokens = tok.tokenize(weights)
    model.init_value_profile(tokens)
    with torch.no_grad():
        values, units = model.value_pool(tokens).double().numpy(), model.unit_pool(tokens).double().numpy()
        shuffled = weights.clone()
        for slot in (s for s in tok.spec.layout if s.kind == "weight"):
            part = shuffled[:, slot.offset : slot.stop]
            part.copy_(part[:, torch.randperm(slot.size, generator=gen)])
        torch.testing.assert_close(model.value_pool(tok.tokenize(shuffled)), torch.from_numpy(values).float())
    assert units.shape == (n, 2 * tok.n_layers * 4)
    y = aligned.double().numpy()
    cut = (slice(0, 200), slice(200, 250), slice(250, n))
    split = lambda x: [a for s in cut for a in (x[s], y[s])]  # noqa: E731
    assert ridge_probe(*split(units)).score > 0.9
    assert ridge_probe(*split(values)).score < 0.3


def test_unit_profile_starts_at_the_unit_moments_quantiles_and_is_standardised():
    from core.hyperrep.autoencoder import ramp_levels

    tok = Tokenizer(get_arch("cnn"))
    gen = torch.Generator().manual_seed(1)
    tokens = tok.tokenize(torch.randn(64, tok.n_params, generator=gen) * (torch.rand(64, 1, generator=gen) + 0.5))
    model = _tiny(tok, unit_features=3).init_value_profile(tokens)
    weights = tok.detokenize(tokens)
    for slot in (s for s in tok.spec.layout if s.kind == "weight"):
        rows = weights[:, slot.offset : slot.stop].reshape(64, slot.shape[0], -1)
        for j, moment in enumerate((rows.pow(2).mean(-1).sqrt(), rows.mean(-1))):
            g = 2 * slot.layer + j
            thresholds = -model.unit_offset[g] / model.unit_slope[g]
            torch.testing.assert_close(thresholds, torch.quantile(moment.reshape(-1), ramp_levels(3)), atol=1e-4, rtol=1e-4)
    with torch.no_grad():
        profile = model.unit_pool(tokens)
    _assert_standardised(profile)
    again = _tiny(tok, unit_features=3).init_value_profile(tokens)
    assert torch.equal(again.unit_offset, model.unit_offset) and torch.equal(again.unit_std, model.unit_std)
    rebuilt = model_from_tensors(model.config.to_json(), state_to_tensors(model))
    torch.testing.assert_close(rebuilt.embed(tokens), model.embed(tokens))


def test_latent_summary_is_the_pooled_latents_principal_directions_whitened(tok):
    """fit_latent_basis: on the tokens it was fitted on, the summary has mean 0, std 1 and
    uncorrelated components, ordered by the variance they hold, and it is the same twice."""
    model = _tiny(tok, latent_components=5)
    tokens = tok.tokenize(torch.randn(200, tok.n_params, generator=torch.Generator().manual_seed(3)))
    model.fit_latent_basis(tokens)
    with torch.no_grad():
        pooled = model.pool(model.encode(tokens))
        summary = model.summarise(pooled).double()
    assert summary.shape == (200, 5)
    torch.testing.assert_close(summary.mean(0), torch.zeros(5, dtype=torch.float64), atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.cov(summary.T), torch.eye(5, dtype=torch.float64), atol=1e-3, rtol=0)
    variance = ((pooled - pooled.mean(0)) @ (model.latent_basis / model.latent_basis.norm(dim=0))).var(0)
    assert torch.all(variance[:-1] >= variance[1:])
    again = _tiny(tok, latent_components=5).fit_latent_basis(tokens)
    assert torch.equal(again.latent_basis, model.latent_basis)
    full = _tiny(tok, latent_components=0, value_moments=False)
    assert full.embedding_width == full.feature_width
    with torch.no_grad():
        torch.testing.assert_close(full.embed(tokens), full.features(full.encode(tokens), tokens))
    with pytest.raises(HyperVizError, match="latent_components 1000 exceeds"):
        _tiny(tok, latent_components=1000)


def test_statistics_head_is_trained_only_with_a_target(tok):
    model = _tiny(tok, value_features=4, stats_weight=0.5)
    c = model.config
    assert c.n_stats == 7 * 2 * tok.n_layers and c.stats_weight > 0
    tokens = tok.tokenize(torch.randn(6, tok.n_params))
    target = torch.randn(6, c.n_stats)
    total, parts = model.loss(tokens, tokens.clone(), stats_target=target)
    assert float(parts["statistics"]) > 0
    plain, parts0 = model.loss(tokens, tokens.clone())
    assert float(parts0["statistics"]) == 0
    torch.testing.assert_close(total, plain + c.stats_weight * parts["statistics"])
    total.backward()
    assert model.stats_head.weight.grad.abs().sum() > 0 and model.value_slope.grad.abs().sum() > 0
    with pytest.raises(HyperVizError, match="statistics target"):
        model.loss(tokens, tokens, stats_target=target[:, :3])
    with pytest.raises(HyperVizError, match="needs n_stats"):
        AEConfig(token_size=4, n_tokens=2, max_positions=(2, 1, 2), stats_weight=0.5)


def test_value_profile_starts_at_the_groups_quantiles_and_is_standardised_on_its_tokens():
    """init_value_profile puts every group's ramps at that group's own quantiles (weights and
    biases of a layer differ in scale), and the profile of the tokens it was fitted on has mean 0
    and std 1 per feature; the same tokens give the same ramps twice."""
    from core.hyperrep.autoencoder import RAMP_WIDTH, ramp_levels

    tok = Tokenizer(get_arch("cnn"))
    gen = torch.Generator().manual_seed(0)
    n = 64
    scale = torch.ones(tok.n_params)
    for slot in tok.spec.layout:                       # biases 5x wider than weights
        if slot.kind == "bias":
            scale[slot.offset : slot.stop] = 5.0
    tokens = tok.tokenize(torch.randn(n, tok.n_params, generator=gen) * scale)
    model = _tiny(tok, value_features=5).init_value_profile(tokens)
    levels = ramp_levels(5)
    for g in range(2 * tok.n_layers):
        values = tokens[:, tok.group_of_entry == g].reshape(-1)
        thresholds = -model.value_offset[g] / model.value_slope[g]
        torch.testing.assert_close(thresholds, torch.quantile(values, levels), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(1 / model.value_slope[g], RAMP_WIDTH * values.std().expand(5), atol=1e-4, rtol=1e-4)
    with torch.no_grad():
        profile = model.value_pool(tokens)
    _assert_standardised(profile)
    again = _tiny(tok, value_features=5).init_value_profile(tokens)
    assert torch.equal(again.value_slope, model.value_slope) and torch.equal(again.value_mean, model.value_mean)
    with pytest.raises(HyperVizError, match="tokens of shape"):
        model.init_value_profile(tokens[:, :, :2])


def test_a_workspace_with_shared_ramps_loads_with_the_same_profile(tok):
    """Autoencoders saved before ramps were per group stored one ``value_net`` for all groups."""
    model = _tiny(tok, value_features=3)
    tensors = state_to_tensors(model)
    slope, offset = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.1, 0.0, -0.3])
    for key in ("value_slope", "value_offset", "value_mean", "value_std"):
        del tensors[key]
    tensors["value_net.0.weight"], tensors["value_net.0.bias"] = slope[:, None], offset
    old = model_from_tensors(model.config, tensors)
    tokens = tok.tokenize(torch.randn(4, tok.n_params))
    expected = torch.stack([torch.nn.functional.gelu(tokens[:, tok.group_of_entry == g][..., None] * slope + offset).mean(1)
                            for g in range(2 * tok.n_layers)], 1).reshape(4, -1)
    torch.testing.assert_close(old.value_pool(tokens), expected)
    tensors["value_net.0.weight"] = torch.zeros(4, 1)
    with pytest.raises(HyperVizError, match="value_net.0.weight"):
        model_from_tensors(model.config, tensors)
