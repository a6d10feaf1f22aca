"""Fixtures shared by the generate-stage tests: one tiny workspace per session, and a copy per test."""
import pytest

from tests.core.generate.test_sampling import copy_workspace, tiny_workspace


@pytest.fixture(scope="session")
def pristine(tmp_path_factory):
    return tiny_workspace(tmp_path_factory)


@pytest.fixture
def ws(pristine, tmp_path):
    return copy_workspace(pristine, tmp_path)
