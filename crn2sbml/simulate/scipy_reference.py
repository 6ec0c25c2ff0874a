"""Reference backend: scipy's BDF on the generic mass-action ODE of :mod:`crn2sbml.kinetics`.

Independent of SBML and of libRoadRunner: it reads the reaction list of the compiled network, so it checks
both the compiler and the exporters. Slow; meant for tests and small networks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.integrate import solve_ivp

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.errors import SimulationError
from crn2sbml.kinetics import MassActionODE
from crn2sbml.simulate.base import (
    DEFAULT_TOLERANCE,
    AbstractSingleSampleSimulator,
    Capabilities,
    StoppingRule,
)

ENCODING = "mass-action"
"""What the results are labelled with: the compiled reaction list's mass-action ODE, no SBML."""


class ScipySimulator(AbstractSingleSampleSimulator):
    """scipy ``solve_ivp`` (BDF, rtol 1e-12, atol 1e-16, analytic Jacobian) on ``compiled``'s reaction list.

    ``tolerance`` (1/s) and ``max_time`` (s, default 2000 relaxation times) as for every backend.
    """

    name = "scipy"
    capabilities = Capabilities(batch=False, gpu=False, stochastic=False, initial_states=True, encodings=(),
                                process_safe=True)

    def __init__(self, compiled: CompiledNetwork, tolerance: float = DEFAULT_TOLERANCE,
                 max_time: float | None = None) -> None:
        self.stopping = StoppingRule.for_compiled(compiled, tolerance=tolerance, max_time=max_time,
                                                  where="scipy simulator")
        self.encoding = ENCODING
        self.compiled = compiled
        self.ode = MassActionODE.from_crn(compiled.crn)
        index = compiled.crn.index()
        self._inputs = np.array([index[s] for s in compiled.input_species], dtype=int)
        neurons = list(compiled.neuron_species)
        self._neurons = np.array([index[s] for s in neurons], dtype=int)
        self._outputs = np.array([neurons.index(s) for s in compiled.output_species], dtype=int)
        self._initial = np.array([s.initial_concentration for s in compiled.crn.species], dtype=float)
        self._state = self._initial.copy()

    @classmethod
    def from_compiled(cls, compiled: CompiledNetwork, *, sbml: str | None = None, encoding: str | None = None,
                      tolerance: float = DEFAULT_TOLERANCE, max_time: float | None = None,
                      **options: Any) -> ScipySimulator:
        cls.refuse_options(options)
        cls.resolve_encoding(sbml, encoding)
        return cls(compiled, tolerance=tolerance, max_time=max_time)

    @property
    def n_inputs(self) -> int:
        return int(self._inputs.size)

    @property
    def n_neurons(self) -> int:
        return int(self._neurons.size)

    @property
    def output_columns(self) -> np.ndarray:
        return self._outputs

    def _start_one(self, x: np.ndarray, y0: np.ndarray | None) -> None:
        state = self._initial.copy()
        state[self._inputs] = x
        if y0 is not None:
            state[self._neurons] = y0
        self._state = state

    def _advance_one(self, t0: float, t1: float) -> None:
        sol = solve_ivp(lambda _t, s: self.ode.rhs(s), (t0, t1), self._state, method="BDF",
                        jac=lambda _t, s: self.ode.jacobian(s), rtol=1e-12, atol=1e-16)
        if not sol.success:
            raise SimulationError(f"scipy BDF failed between t = {t0:g} and {t1:g} s: {sol.message}")
        self._state = sol.y[:, -1]

    def _read_one(self) -> tuple[np.ndarray, np.ndarray]:
        return self._state[self._neurons], self.ode.rhs(self._state)[self._neurons]
