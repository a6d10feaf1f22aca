"""Test-wide settings: CPU only, one torch thread (2-core CI), Qt offscreen; ``gpu`` tests skipped without CUDA."""
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch

torch.set_num_threads(1)

#: Names the device the ``gpu`` tests run on instead of CUDA: ``cpu`` is the dry run of
#: scripts/gpu-check.sh (the tests' own checks, on the CPU).
GPU_TEST_DEVICE = "HYPERVIZ_GPU_TEST_DEVICE"


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available() or os.environ.get(GPU_TEST_DEVICE):
        return
    skip = pytest.mark.skip(reason=f"needs a CUDA device (or {GPU_TEST_DEVICE}=cpu for a dry run on the CPU)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
