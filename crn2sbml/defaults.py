"""Every user-facing default in one place, so the API, the CLI, the importers and weights files agree.

Before this module eps was 0.1 in some places and 0.05 in others, training ran 300 or 400 epochs with
batches of 64 or 32. The values below are the ones the CLI used; the model zoo's per-model specs
(:mod:`crn2sbml.zoo`) set their own values explicitly and do not read these.
"""

from __future__ import annotations

from typing import Final

EPS: Final[float] = 0.05
"""Smoothing ``eps`` of σ_eps (the inflow rate ``f(0; u)``): ReLU within ``sqrt(eps)`` ≈ 0.22, slowest
relaxation rate ``2 sqrt(eps)`` ≈ 0.45 /s (docs/theory.md §2). Also the eps of a weights file that has none."""

ACTIVATION: Final[str] = "smoothed_relu"
"""Activation name for :func:`crn2sbml.nn.activations.make_activation`."""

HIDDEN: Final[tuple[int, ...]] = (16,)
"""Hidden layer sizes of a trained classifier."""

LEARNING_RATE: Final[float] = 1e-2
"""AdamW learning rate."""

EPOCHS: Final[int] = 400
"""Upper bound on training epochs (early stopping usually ends training sooner)."""

BATCH_SIZE: Final[int] = 32
"""Training mini-batch size."""

SEED: Final[int] = 0
"""Seed of every random choice in training and dataset splits."""

WEIGHT_DECAY: Final[float] = 1e-4
"""AdamW weight decay."""

VALIDATION_FRACTION: Final[float] = 0.15
"""Share of the training split held out for early stopping."""

PATIENCE: Final[int] = 40
"""Epochs without a better validation loss before training stops."""

TOLERANCE: Final[float] = 1e-10
"""Settling stops when every neuron's relative rate ``max |dy/dt| / y`` is below this (1/s)."""

TIME_SCALE: Final[float] = 1.0
"""Factor ``c`` on every rate constant: the fixed point is unchanged, the dynamics ``c`` times faster."""
