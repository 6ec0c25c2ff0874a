"""libRoadRunner backend: compile an SBML model once, then settle many input vectors.

Inputs are set with ``reset()`` + ``setBoundarySpeciesConcentrations`` (``setValue('init(...)')`` would
recompile the model on every call). Loading uses the LLJIT backend, which compiles large models several
times faster than the default MCJIT.
"""

from __future__ import annotations

import logging

import numpy as np

from crn2sbml.errors import SimulationError
from crn2sbml.simulate.base import (
    DEFAULT_TOLERANCE,
    AbstractSimulator,
    SteadyStates,
    initial_states,
    relative_rate,
)

log = logging.getLogger(__name__)


def _configure() -> None:
    import roadrunner

    roadrunner.Config.setValue(roadrunner.Config.LLVM_BACKEND, roadrunner.Config.LLJIT)
    # Python dynamic properties would let a species called e.g. `simulate` shadow a RoadRunner method.
    roadrunner.Config.setValue(roadrunner.Config.ROADRUNNER_DISABLE_PYTHON_DYNAMIC_PROPERTIES, True)


def load_roadrunner(sbml: str):
    """A ``RoadRunner`` for SBML text, with CVODE at tight tolerances."""
    import roadrunner

    _configure()
    try:
        r = roadrunner.RoadRunner(sbml)
    except Exception as exc:  # roadrunner raises RuntimeError with libSBML's message
        raise SimulationError(f"libRoadRunner could not load the model: {exc}") from exc
    r.integrator.setValue("relative_tolerance", 1e-12)
    r.integrator.setValue("absolute_tolerance", 1e-16)
    r.integrator.setValue("stiff", True)
    r.integrator.setValue("maximum_num_steps", 100000)
    return r


class RoadRunnerSimulator(AbstractSimulator):
    """Settles a compiled SBML model in libRoadRunner.

    ``sbml``: SBML text (either encoding); ``input_species``/``neuron_species``/``output_species``:
    species ids in feature, layer and output order (from the manifest). ``time_scale`` and ``eps`` set the
    first integration chunk (the slowest relaxation time is about ``1 / (2 sqrt(eps) c)``).
    """

    name = "roadrunner"

    def __init__(self, sbml: str, input_species, neuron_species, output_species, *, eps: float,
                 time_scale: float = 1.0, encoding: str = "elementary",
                 tolerance: float = DEFAULT_TOLERANCE, max_time: float | None = None) -> None:
        self.encoding = encoding
        self.tolerance = tolerance
        self.runner = load_roadrunner(sbml)
        model = self.runner.model
        floating = list(model.getFloatingSpeciesIds())
        boundary = list(model.getBoundarySpeciesIds())
        missing = [s for s in (*input_species, *neuron_species) if s not in floating + boundary]
        if missing:
            raise SimulationError(f"species {missing[:5]} named by the manifest are not in the SBML model")
        self._input_pos = np.array([boundary.index(s) for s in input_species])
        self._n_boundary = len(boundary)
        self._neuron_pos = np.array([floating.index(s) for s in neuron_species])
        self._output_cols = np.array([list(neuron_species).index(s) for s in output_species])
        self._n_floating = len(floating)
        self.relax_time = 1.0 / (2.0 * np.sqrt(eps) * time_scale)
        self.max_time = max_time if max_time is not None else 2000.0 * self.relax_time

    def settle(self, inputs: np.ndarray, initial_state: np.ndarray | None = None,
               progress=None) -> SteadyStates:
        x = np.atleast_2d(np.asarray(inputs, dtype=float))
        y0 = initial_states(initial_state, x.shape[0], self._neuron_pos.size)
        n = x.shape[0]
        states = np.empty((n, self._neuron_pos.size))
        residual = np.empty(n)
        times = np.empty(n)
        for i in range(n):
            states[i], residual[i], times[i] = self._settle_one(x[i], None if y0 is None else y0[i])
            if progress is not None:
                progress(1)
        outputs = states[:, self._output_cols]
        return SteadyStates(outputs, states, residual, times, self.name, self.encoding, self.tolerance)

    def _start(self, x: np.ndarray, y0: np.ndarray | None) -> None:
        """Reset to the model's initial state, clamp the inputs to ``x`` and optionally set the neurons."""
        model = self.runner.model
        self.runner.reset()
        values = np.zeros(self._n_boundary)
        values[self._input_pos] = x
        model.setBoundarySpeciesConcentrations(values)
        if y0 is not None:
            conc = np.array(model.getFloatingSpeciesConcentrations(), dtype=float)
            conc[self._neuron_pos] = y0
            model.setFloatingSpeciesConcentrations(conc)

    def _settle_one(self, x: np.ndarray, y0: np.ndarray | None) -> tuple[np.ndarray, float, float]:
        r = self.runner
        model = r.model
        self._start(x, y0)
        t, dt = 0.0, 2.0 * self.relax_time
        res = np.inf
        while True:
            try:
                r.simulate(t, t + dt, 2)
            except RuntimeError as exc:
                raise SimulationError(f"libRoadRunner integration failed at t = {t:g}: {exc}") from exc
            t += dt
            y = np.array(model.getFloatingSpeciesConcentrations(), dtype=float)[self._neuron_pos]
            dydt = np.array(model.getFloatingSpeciesConcentrationRates(), dtype=float)[self._neuron_pos]
            res = float(relative_rate(y, dydt))
            if res <= self.tolerance or t >= self.max_time:
                return y, res, t
            dt = min(dt * 1.5, self.max_time - t)

    def trajectory(self, x: np.ndarray, y0: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Neuron concentrations ``(len(times), n_neurons)`` from ``y0`` with inputs ``x`` clamped."""
        r = self.runner
        model = r.model
        self._start(x, y0)
        out = np.empty((len(times), self._neuron_pos.size))
        out[0] = y0
        for i in range(1, len(times)):
            r.simulate(float(times[i - 1]), float(times[i]), 2)
            out[i] = np.array(model.getFloatingSpeciesConcentrations(), dtype=float)[self._neuron_pos]
        return out
