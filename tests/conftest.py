"""Shared fixtures: random networks with positive/negative/zero weights, and named tolerances."""

from __future__ import annotations

import numpy as np
import pytest

from crn2sbml.nn.random import random_network

__all__ = ["ENCODING_RTOL", "RANDOM_CASES", "STEADY_STATE_RTOL", "random_network"]

STEADY_STATE_RTOL = 1e-6
"""CRN steady state vs numpy forward pass (issue 2)."""

ENCODING_RTOL = 1e-8
"""Two encodings / simulators of the same ODE vs each other."""


RANDOM_CASES = [
    # (seed, shape, eps)
    (1, (2, 1), 1.0),
    (2, (3, 4, 2), 0.1),
    (3, (5, 6, 4, 3), 0.01),
    (4, (4, 5, 5, 4, 2), 1e-3),
    (5, (8, 3), 0.05),
]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True, scope="session")
def _private_model_cache(tmp_path_factory):
    """Compiled-model cache in a temporary folder, so tests neither read nor fill the user's cache."""
    import os

    os.environ["CRN2SBML_CACHE"] = str(tmp_path_factory.mktemp("rrcache"))
    yield
