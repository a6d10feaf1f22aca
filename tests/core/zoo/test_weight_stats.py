import numpy as np
import pytest

from core.errors import HyperVizError
from core.zoo.arch import KNOWN_ARCHS
from core.zoo.weight_stats import weight_statistics, weight_statistics_names


def _direct(spec, row):
    feats = []
    for layer in range(spec.n_layers):
        for kind in ("weight", "bias"):
            (slot,) = [s for s in spec.layout if s.layer == layer and s.kind == kind]
            v = row[slot.offset : slot.stop].astype(np.float64)
            feats += [v.mean(), v.var()] + [np.percentile(v, q) for q in (1, 25, 50, 75, 99)]
    return np.array(feats)


def test_matches_direct_per_row_computation():
    spec = KNOWN_ARCHS["cnn"]
    rng = np.random.default_rng(0)
    weights = (rng.standard_normal((7, spec.n_params)) * rng.uniform(0.1, 2, (7, 1))).astype(np.float32)
    stats = weight_statistics(spec, weights)
    assert stats.dtype == np.float64
    assert stats.shape == (7, 7 * 2 * spec.n_layers)
    expected = np.stack([_direct(spec, row) for row in weights])
    np.testing.assert_allclose(stats, expected, rtol=1e-10, atol=1e-12)


def test_names_and_errors():
    spec = KNOWN_ARCHS["cnn"]
    names = weight_statistics_names(spec)
    assert len(names) == 14 * spec.n_layers and len(set(names)) == len(names)
    assert names[:8] == ["L0.w.mean", "L0.w.var", "L0.w.p01", "L0.w.p25", "L0.w.p50", "L0.w.p75", "L0.w.p99", "L0.b.mean"]
    assert names[-1] == f"L{spec.n_layers - 1}.b.p99"
    with pytest.raises(HyperVizError):
        weight_statistics(spec, np.zeros((3, spec.n_params + 1)))


def test_blocks_give_same_result(monkeypatch):
    import core.zoo.weight_stats as ws

    spec = KNOWN_ARCHS["mlp"]
    w = np.random.default_rng(1).standard_normal((5, spec.n_params))
    full = weight_statistics(spec, w)
    monkeypatch.setattr(ws, "_BLOCK_ELEMENTS", spec.n_params * 2)  # 2 rows per block
    np.testing.assert_array_equal(weight_statistics(spec, w), full)


def test_rank_normalise_is_monotone_and_standard_normal_on_the_reference():
    from core.zoo.weight_stats import rank_normalise

    rng = np.random.default_rng(0)
    ref = np.stack([rng.exponential(size=2000), rng.normal(size=2000) * 1e-6, np.full(2000, 3.0)], 1)
    out = rank_normalise(ref, ref)
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert abs(out[:, 0].mean()) < 0.01 and abs(out[:, 0].std() - 1) < 0.02     # heavy tail -> unit normal
    order = np.argsort(ref[:, 1])
    assert (np.diff(out[order, 1]) >= 0).all()                                  # monotone
    assert np.allclose(out[:, 2], 0)                                            # a constant column: all ties -> 0
    new = rank_normalise(ref, np.array([[-1.0, -1.0, 3.0], [1e9, 1.0, 3.0]]))
    assert new[0, 0] < -3 and new[1, 0] > 3 and np.isfinite(new).all()          # outside the reference: the extremes
    with pytest.raises(HyperVizError, match="rank_normalise"):
        rank_normalise(ref, ref[:, :2])
