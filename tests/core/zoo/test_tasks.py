"""The bundled tasks: digits and its fixed transformations, the procedural shapes task, task specs."""
import numpy as np
import pytest
import torch

from core.errors import HyperVizError
from core.zoo.arch import get_arch
from core.zoo.tasks import (
    SHAPE_CLASSES,
    check_task_fits,
    get_task,
    make_shapes,
    task_for_zoo,
    task_names,
)


def test_bundled_tasks_fit_the_default_cnn():
    assert {"digits", "digits-rotated", "digits-inverted", "digits-shifted", "shapes"} <= set(task_names())
    cnn = get_arch("cnn")
    for name in task_names():
        task = get_task(name)
        check_task_fits(cnn, task)                              # same input shape, 10 classes
        assert task.input_shape == (1, 8, 8) and task.n_classes == 10
        for split in ("train", "val", "test"):
            x, y = task.split(split)
            assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape[1:] == (1, 8, 8)
            assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
            assert set(y.tolist()) == set(range(10))             # every class in every split


def test_digits_split_is_unchanged():
    d = get_task("digits").describe()
    assert (d["n_train"], d["n_val"], d["n_test"]) == (1258, 269, 270)


def test_digit_variants_are_the_digits_under_one_transformation():
    digits = get_task("digits")
    for split in ("train", "val", "test"):
        x, y = digits.split(split)
        xr, yr = get_task("digits-rotated").split(split)
        xi, yi = get_task("digits-inverted").split(split)
        xs, ys = get_task("digits-shifted").split(split)
        assert torch.equal(y, yr) and torch.equal(y, yi) and torch.equal(y, ys)   # the same split
        assert torch.equal(xr, torch.rot90(x, 1, dims=(2, 3)))
        assert torch.allclose(xi, 1.0 - x)
        assert torch.equal(xs[..., 1:, 1:], x[..., :-1, :-1])
        assert float(xs[..., 0, :].abs().sum()) == 0 and float(xs[..., :, 0].abs().sum()) == 0


def test_shapes_is_deterministic_from_its_seed():
    a, ya = make_shapes(per_class=20, seed=5)
    b, yb = make_shapes(per_class=20, seed=5)
    c, _ = make_shapes(per_class=20, seed=6)
    assert a.shape == (200, 1, 8, 8) and np.array_equal(a, b) and np.array_equal(ya, yb)
    assert not np.array_equal(a, c)
    assert np.bincount(ya).tolist() == [20] * len(SHAPE_CLASSES)
    t1, t2 = get_task("shapes"), get_task("shapes")
    assert torch.equal(t1.x_train, t2.x_train)
    assert (t1.describe()["n_train"], t1.describe()["n_val"], t1.describe()["n_test"]) == (1260, 270, 270)


def test_shape_classes_are_learnable_and_distinct():
    """Without noise, a nearest-class-mean classifier separates the classes far above chance,
    and no two classes have the same mean image."""
    x, y = make_shapes(per_class=60, seed=1, noise=0.0)
    flat = x.reshape(len(x), -1)
    means = np.stack([flat[y == k].mean(0) for k in range(10)])
    assert np.min([np.abs(means[i] - means[j]).sum() for i in range(10) for j in range(i)]) > 0.5
    pred = np.argmin(((flat[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == y).mean() > 0.35


def test_unknown_task_names_are_one_line_errors():
    with pytest.raises(HyperVizError, match="unknown.*bundled tasks: digits"):
        get_task("cifar")
    with pytest.raises(HyperVizError, match="no path"):
        get_task("idx:")


def test_task_for_zoo_reads_bundled_names_and_refuses_unrunnable_ones():
    assert task_for_zoo({"name": "shapes"}).name == "shapes"
    assert task_for_zoo({"name": "digits", "input_shape": [1, 8, 8]}).name == "digits"   # zoos written before
    with pytest.raises(HyperVizError, match="not a bundled task.*--task idx:FOLDER"):
        task_for_zoo({"name": "MNIST"}, "zoo.h5")


def test_a_task_that_does_not_fit_the_architecture_is_refused():
    with pytest.raises(HyperVizError, match="does not fit task"):
        check_task_fits(get_arch("modelzoo_cnn"), get_task("shapes"))
