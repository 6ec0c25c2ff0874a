"""Reference backend: scipy's BDF on the generic mass-action ODE of :mod:`crn2sbml.kinetics`.

Independent of SBML and of libRoadRunner: it reads the reaction list of the compiled network, so it checks
both the compiler and the exporters. Slow; meant for tests and small networks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.integrate import solve_ivp

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.errors import SimulationError
from crn2sbml.kinetics import MassActionODE
from crn2sbml.simulate.base import (
    DEFAULT_TOLERANCE,
    AbstractSimulator,
    SteadyStates,
    relative_rate,
    relaxation_time,
)
from crn2sbml.validate.inputs import check_options


class ScipySimulator(AbstractSimulator):
    name = "scipy"

    def __init__(self, compiled: CompiledNetwork, tolerance: float = DEFAULT_TOLERANCE) -> None:
        check_options(tolerance=tolerance, time_scale=compiled.time_scale, where="scipy simulator")
        self.compiled = compiled
        self.tolerance = tolerance
        self.ode = MassActionODE.from_network(compiled.crn)
        index = compiled.crn.index()
        self._inputs = np.array([index[s] for s in compiled.input_species])
        neurons = list(compiled.neuron_species)
        self._neurons = np.array([index[s] for s in neurons])
        self._outputs = np.array([neurons.index(s) for s in compiled.output_species])
        self.relax_time = relaxation_time(compiled.eps, compiled.time_scale)

    @property
    def n_inputs(self) -> int:
        return int(self._inputs.size)

    @property
    def n_neurons(self) -> int:
        return int(self._neurons.size)

    def _settle(self, x: np.ndarray, y0: np.ndarray | None,
                progress: Callable[[int], object] | None) -> SteadyStates:
        n = x.shape[0]
        states, residual, times = np.empty((n, self._neurons.size)), np.empty(n), np.empty(n)
        for i in range(n):
            state = np.array([s.initial_concentration for s in self.compiled.crn.species])
            state[self._inputs] = x[i]
            if y0 is not None:
                state[self._neurons] = y0[i]
            t, dt = 0.0, 2.0 * self.relax_time
            while True:
                sol = solve_ivp(lambda _t, s: self.ode.rhs(s), (t, t + dt), state, method="BDF",
                                jac=lambda _t, s: self.ode.jacobian(s), rtol=1e-12, atol=1e-16)
                if not sol.success:
                    raise SimulationError(f"scipy BDF failed: {sol.message}")
                t, state = t + dt, sol.y[:, -1]
                res = float(relative_rate(state[self._neurons], self.ode.rhs(state)[self._neurons]))
                if res <= self.tolerance or t > 2000 * self.relax_time:
                    break
                dt *= 1.5
            states[i], residual[i], times[i] = state[self._neurons], res, t
            if progress is not None:
                progress(1)
        return SteadyStates(states[:, self._outputs], states, residual, times, self.name, "mass-action", self.tolerance)
