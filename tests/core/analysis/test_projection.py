import time

import numpy as np
import pytest

from core.analysis.projection import (
    KnnPlacer,
    Projection,
    bench_placement,
    pca_fit,
    umap_fit_in_subprocess,
    umap_fit_job,
)
from core.errors import Cancelled, HyperVizError
from core.progress import drive


def test_pca_transform_of_training_data_equals_fit_coords():
    rng = np.random.default_rng(0)
    emb = (rng.standard_normal((50, 8)) * np.arange(1, 9)).astype(np.float32) + 3
    pca = pca_fit(emb)
    assert pca.coords.shape == (50, 2) and pca.coords.dtype == np.float32
    np.testing.assert_allclose(pca.transform(emb), pca.coords, atol=1e-5)
    # first axis carries the most variance; components orthonormal
    assert pca.coords[:, 0].var() >= pca.coords[:, 1].var()
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(2), atol=1e-10)
    # the wide case (n < d) takes the SVD path and agrees on variance
    wide = pca_fit(rng.standard_normal((5, 20)))
    np.testing.assert_allclose(wide.transform(wide.mean[None] + wide.components[:1]), [[1.0, 0.0]], atol=1e-6)


def test_projection_round_trip_without_pickle():
    emb = np.random.default_rng(1).standard_normal((30, 4))
    proj = pca_fit(emb).to_projection()
    arrays, meta = proj.to_arrays()
    assert isinstance(meta, str) and all(isinstance(a, np.ndarray) and a.dtype != object for a in arrays.values())
    back = Projection.from_arrays(arrays, meta)
    assert back.method == "pca"
    np.testing.assert_array_equal(back.coords, proj.coords)
    np.testing.assert_allclose(back.placer().place(emb[:3]), proj.coords[:3], atol=1e-5)
    umap_proj = Projection("umap", proj.coords, {"n_neighbors": 15, "min_dist": 0.1, "seed": 0})
    back = Projection.from_arrays(*umap_proj.to_arrays())
    assert back.params == {"n_neighbors": 15, "min_dist": 0.1, "seed": 0}
    np.testing.assert_array_equal(back.placer(emb).place(emb[:2]), proj.coords[:2])
    with pytest.raises(HyperVizError):
        Projection.from_arrays({}, meta)


def test_knn_placer_exact_match_and_midpoint():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((10, 16)) * 0.1
    b = a + 10.0
    train = np.vstack([a, b]).astype(np.float32)
    coords = np.vstack([np.zeros((10, 2)), np.tile([10.0, 0.0], (10, 1))]) + rng.standard_normal((20, 2)) * 0.01
    placer = KnnPlacer(train, coords, k=20)
    placed = placer.place(train[[3, 15]])
    np.testing.assert_allclose(placed, coords[[3, 15]], atol=1e-6)
    mid = placer.place(train.mean(axis=0, keepdims=True))
    assert 2.0 < mid[0, 0] < 8.0 and abs(mid[0, 1]) < 0.1
    with pytest.raises(HyperVizError):
        placer.place(np.zeros((1, 3)))


def test_knn_placer_is_fast():
    result = bench_placement(n_train=20000, d=64, n_new=100)
    assert result["place_s"] < 0.5 and result["build_s"] < 0.5


def test_umap_job_rejects_tiny_input_without_importing_umap():
    with pytest.raises(HyperVizError, match="at least 4 points"):
        drive(umap_fit_job(np.zeros((3, 5))))
    with pytest.raises(HyperVizError):
        umap_fit_in_subprocess(np.full((10, 2), np.nan))


def test_umap_subprocess_cancel_is_quick():
    emb = np.random.default_rng(3).standard_normal((300, 8)).astype(np.float32)
    start = time.perf_counter()
    with pytest.raises(Cancelled):
        umap_fit_in_subprocess(emb, should_cancel=lambda: True)
    calls = []

    def cancel_soon():  # let the child start, then cancel while it is loading umap
        calls.append(1)
        return len(calls) > 5

    with pytest.raises(Cancelled):
        umap_fit_in_subprocess(emb, should_cancel=cancel_soon, poll_s=0.05)
    assert time.perf_counter() - start < 5.0


def test_umap_fit_in_subprocess_returns_finite_coords():
    # One fit only: the first UMAP fit in any process costs ~20 s of numba compilation.
    rng = np.random.default_rng(4)
    emb = np.vstack([rng.standard_normal((150, 8)), rng.standard_normal((150, 8)) + 6]).astype(np.float32)
    records = []
    coords = umap_fit_in_subprocess(emb, n_neighbors=10, n_epochs=50, seed=0, on_progress=records.append)
    assert coords.shape == (300, 2) and coords.dtype == np.float32
    assert np.isfinite(coords).all()
    assert [r.done for r in records] == [0, 1, 2]
    # the two planted clusters stay apart in the map
    ca, cb = coords[:150].mean(0), coords[150:].mean(0)
    spread = max(coords[:150].std(0).max(), coords[150:].std(0).max())
    assert np.linalg.norm(ca - cb) > 2 * spread


def test_default_neighbourhood_spans_several_models_checkpoints():
    from core.analysis.maps import NEIGHBOURS_MAX, NEIGHBOURS_MIN, default_neighbors

    def states(models, checkpoints):
        return np.array([(m, c) for m in range(models) for c in range(checkpoints)])

    assert default_neighbors(states(100, 26)) == 156          # six models' trajectories
    assert default_neighbors(states(100, 11)) == 66
    assert default_neighbors(states(100, 1)) == NEIGHBOURS_MIN     # one state per model: UMAP's usual 15
    assert default_neighbors(states(10, 100)) == NEIGHBOURS_MAX
    assert default_neighbors(np.zeros((0, 2), int)) == NEIGHBOURS_MIN
