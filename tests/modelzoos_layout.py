"""Writers of a Model Zoos (Ray Tune) folder for tests: one folder per model with params.json,
result.json (JSON lines) and checkpoint_<N>/checkpoints state_dicts, as docs/zoo-format.md reads them."""
import json
from collections import OrderedDict

import torch

from core.zoo.arch import KNOWN_ARCHS

MZ = KNOWN_ARCHS["modelzoo_cnn"]
# module_list indices of the parametric layers in the Model Zoos CNN, without / with dropout layers
INDICES_PLAIN = (0, 3, 6, 9, 11)
INDICES_DROPOUT = (0, 4, 8, 11, 14)


def mz_state(gen, indices, extra_buffer=False):
    """A Model Zoos-style state_dict: keys module_list.<i>.weight/bias, random weights."""
    state = OrderedDict()
    shapes = MZ.param_shapes()
    for n, i in enumerate(indices):
        state[f"module_list.{i}.weight"] = torch.randn(shapes[2 * n], generator=gen)
        state[f"module_list.{i}.bias"] = torch.randn(shapes[2 * n + 1], generator=gen)
        if extra_buffer and n == 0:
            state[f"module_list.{i}.num_batches_tracked"] = torch.tensor(7)  # integer buffer: skipped
    return state


def write_model(root, name, params, checkpoints, result_lines):
    """checkpoints: {folder name: state_dict}; result_lines: list of dicts or raw strings."""
    d = root / name
    d.mkdir(parents=True)
    (d / "params.json").write_text(json.dumps(params))
    (d / "result.json").write_text("\n".join(l if isinstance(l, str) else json.dumps(l) for l in result_lines) + "\n")
    for folder, state in checkpoints.items():
        (d / folder).mkdir()
        torch.save(state, d / folder / "checkpoints")
    return d


def mz_params(nlin, dropout, seed):
    return {"model::type": "CNN", "model::nlin": nlin, "model::init_type": "uniform", "model::dropout": dropout,
            "model::channels_in": 1, "optim::optimizer": "adam", "optim::lr": 3e-4, "optim::wd": 0.0,
            "optim::momentum": 0.9, "seed": seed, "training::epochs_train": 3, "cuda": False,
            "dataset::dump": "/data/zoos/MNIST/dataset.pt", "scheduler": {"nested": 1}}


def result_line(t, train_acc, test_acc, train_loss=1.0, test_loss=1.1, val_acc=None, val_loss=None):
    row = {"train_acc": train_acc, "test_acc": test_acc, "train_loss": train_loss, "test_loss": test_loss,
           "time_this_iter_s": 0.5, "config": {"seed": 1}}
    if t is not None:
        row["training_iteration"] = t
    if val_acc is not None:
        row.update(val_acc=val_acc, val_loss=val_loss)
    return row
