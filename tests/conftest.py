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


@pytest.fixture(scope="module")
def cluster():
    """One single-CPU local Ray cluster per test module that asks for it (skipped without ray);
    builds and sampling runs with ``--ray`` use it instead of starting their own."""
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
