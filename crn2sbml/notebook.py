"""Tellurium and libRoadRunner sessions: a compiled model with a sample's inputs set, settled the right way.

``r.steadyState()`` is the first call a Tellurium user makes, and on these models it is wrong: from the model's
initial values libRoadRunner's default solver lands on the *negative* root of ``eps + u·y - y²`` (a state with
negative concentrations) and reports success; after a presimulation it finds the right state but needs 10-58 s
on a 1,262-reaction model (the Jacobian). Integrating forward in time reaches the unique positive fixed point
from any non-negative start (docs/theory.md), which is what :func:`settle` does::

    r = load_runner("models/iris", sample=[5.1, 3.5, 1.4, 0.2])
    state = settle(r)          # {species id: concentration}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from crn2sbml.errors import InputError, SimulationError
from crn2sbml.simulate.base import DEFAULT_TOLERANCE, relative_rate

MAX_SETTLE_TIME = 1e6
"""Simulated seconds after which :func:`settle` gives up (far beyond any shipped model's settling time)."""


def load_runner(model_dir: str | Path, sample: Sequence[float] | None = None, *,
                trust_modified: bool = False) -> Any:
    """A ``roadrunner.RoadRunner`` of ``model_dir/model.xml`` with the input species' initial (clamped)
    concentrations set to ``sample`` (feature order, as in ``manifest.json``; default all zero).

    The folder is read through :func:`crn2sbml.modelfolder.open_model_folder` (digests, species, SBML checks)
    and libRoadRunner gets the checked SBML text. ``r.reset()`` keeps the sample's inputs; change them with
    :func:`set_inputs`.
    """
    from crn2sbml.modelfolder import open_model_folder
    from crn2sbml.simulate.roadrunner import load_roadrunner

    opened = open_model_folder(model_dir, trust_modified=trust_modified)
    inputs = opened.compiled.input_species
    r = load_roadrunner(opened.sbml)
    set_inputs(r, inputs, np.zeros(len(inputs)) if sample is None else sample)
    return r


def set_inputs(r: Any, input_species: Sequence[str], values: Sequence[float] | np.ndarray) -> None:
    """Set the clamped input concentrations (mol/L) of ``r`` and reset it to its initial state with them."""
    x = np.asarray(values, dtype=float).ravel()
    if x.shape != (len(input_species),):
        raise InputError(f"expected {len(input_species)} input values ({', '.join(input_species[:5])}…), "
                         f"got {x.size}")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise InputError("input concentrations must be finite and >= 0")
    boundary = list(r.model.getBoundarySpeciesIds())
    missing = [s for s in input_species if s not in boundary]
    if missing:
        raise InputError(f"{missing[:5]} are not boundary (input) species of this model")
    # ExecutableModel.setValue on init(...) is immediate and survives reset(); RoadRunner.setValue on init(...)
    # recompiles the whole model (seconds on a 1,262-reaction network) and drops earlier such changes.
    for species, value in zip(input_species, x, strict=True):
        r.model.setValue(f"init({species})", float(value))
    r.reset()


def settle(r: Any, *, tolerance: float = DEFAULT_TOLERANCE, first_step: float = 1.0,
           max_time: float = MAX_SETTLE_TIME) -> dict[str, float]:
    """Integrate ``r`` from its current state until ``max |dy/dt| / y`` over the floating species is at most
    ``tolerance`` (1/s); return ``{species id: concentration}`` there. Chunks start at ``first_step`` s and grow
    by 1.5x. Raises SimulationError if the state has not settled by ``max_time`` s."""
    if not (np.isfinite(tolerance) and tolerance > 0 and first_step > 0 and max_time > 0):
        raise InputError("tolerance, first_step and max_time must be finite and > 0")
    ids = list(r.model.getFloatingSpeciesIds())
    t, dt = 0.0, float(first_step)
    while True:
        r.simulate(t, t + dt, 2)
        t += dt
        y = np.array(r.model.getFloatingSpeciesConcentrations(), dtype=float)
        residual = float(relative_rate(y, np.array(r.model.getFloatingSpeciesConcentrationRates(), dtype=float)))
        if residual <= tolerance:
            return dict(zip(ids, y.tolist(), strict=True))
        if t >= max_time:
            raise SimulationError(f"not settled after {t:g} s: max |dy/dt|/y = {residual:.3g} > {tolerance:.3g}")
        dt = min(dt * 1.5, max_time - t)
