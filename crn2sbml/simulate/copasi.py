"""COPASI backend: settle the elementary SBML model in COPASI's LSODA (``.cps`` files: crn2sbml.export.copasi).

The SBML text is imported *unchanged* with ``CDataModel.importSBMLFromString`` into a datamodel of COPASI's
global ``CRootContainer``; the input species are boundary species, which COPASI imports as *fixed* species
(``CModelEntity.Status_FIXED``), so clamping an input means setting its initial concentration.

Per sample :class:`CopasiSimulator` sets the initial concentrations of the inputs (and of the neurons), calls
``CModel.updateInitialValues(CCore.Framework_Concentration)`` so COPASI recomputes the initial particle numbers
from them, and runs the ``Time-Course`` task (deterministic LSODA, no time series) for each chunk of the shared
settling loop (:mod:`crn2sbml.simulate.base`): ``process(True)`` for the first chunk starts from the initial
values, ``process(False)`` continues from the state the previous chunk ended in. After each chunk the stopping
rule is evaluated with ``dy/dt`` taken from COPASI itself: ``CMetab.getConcentrationRate()`` is the
right-hand side of the ODE at the chunk's end state (mol/L/s; checked against the analytic right-hand side
to ~1e-15 relative).

Tolerances: relative 1e-12, absolute 1e-14. COPASI integrates particle numbers and scales the absolute
tolerance of a species by ``min(V·N_A, initial particle number)`` (or ``max(1, V·N_A)`` when that is zero), so
1e-14 acts as an absolute tolerance of about 1e-14 mol/L on concentrations in the 1 L compartment.

The datamodel lives in COPASI's global root container; :meth:`CopasiSimulator.close` (also run by ``with`` and,
as a last resort, when the simulator is garbage collected) removes it with ``CRootContainer.removeDatamodel``.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from crn2sbml.copasi_session import (  # COPASI session helpers, shared with export/ and validate/
    ABSOLUTE_TOLERANCE,
    RELATIVE_TOLERANCE,
    copasi_locale,
    copasi_module,
)
from crn2sbml.copasi_session import configure_time_course as _configure_time_course
from crn2sbml.copasi_session import import_sbml as _import_sbml
from crn2sbml.copasi_session import messages as _messages
from crn2sbml.copasi_session import metabolites as _metabolites
from crn2sbml.copasi_session import remove_datamodel as _remove_datamodel
from crn2sbml.errors import ModelMismatchError, SimulationError
from crn2sbml.simulate.base import (
    DEFAULT_TOLERANCE,
    AbstractSingleSampleSimulator,
    Capabilities,
    StoppingRule,
)

if TYPE_CHECKING:
    from crn2sbml.compiler import CompiledNetwork

log = logging.getLogger(__name__)

class CopasiSimulator(AbstractSingleSampleSimulator):
    """Settles a compiled SBML model in COPASI (LSODA), one sample at a time, with the shared settling loop.

    ``sbml``: SBML text as written by crn2sbml (imported unchanged); ``input_species``/``neuron_species``/
    ``output_species``: species ids in feature, layer and output order (from the manifest). The inputs must be
    boundary (fixed) species and the neurons reaction-driven species. ``rate_bound`` (the activation's
    ``rate_bound()``) and ``time_scale`` (1/s) set the relaxation time ``1 / (rate_bound · c)`` s that sizes
    the integration chunks; ``max_time`` s defaults to 2000 relaxation times. ``tolerance`` (1/s) bounds the
    relative rate of change ``max_i |dy_i/dt| / y_i`` at the stop.

    Holds a datamodel in COPASI's global root container: call :meth:`close` or use ``with``.
    """

    name = "copasi"
    capabilities = Capabilities(batch=False, gpu=False, stochastic=False, initial_states=True,
                                encodings=("elementary",), process_safe=True)

    def __init__(self, sbml: str, input_species: Sequence[str], neuron_species: Sequence[str],
                 output_species: Sequence[str], *, rate_bound: float,
                 time_scale: float = 1.0, encoding: str = "elementary", tolerance: float = DEFAULT_TOLERANCE,
                 max_time: float | None = None) -> None:
        self._datamodel = None  # close() is safe from here on, even if the import below fails
        self.stopping = StoppingRule.from_rate_bound(rate_bound, time_scale, tolerance=tolerance, max_time=max_time,
                                                     where="copasi simulator")
        self.encoding = encoding
        copasi = copasi_module()
        self._datamodel = _import_sbml(sbml)
        self._finalizer = weakref.finalize(self, _remove_datamodel, self._datamodel)
        try:
            self._model = self._datamodel.getModel()
            metabs = _metabolites(self._model)
            missing = [s for s in (*input_species, *neuron_species) if s not in metabs]
            if missing:
                raise ModelMismatchError(f"species {missing[:5]} named by the manifest are not in the SBML model")
            not_fixed = [s for s in input_species if metabs[s].getStatus() != copasi.CModelEntity.Status_FIXED]
            if not_fixed:
                raise ModelMismatchError(f"input species {not_fixed[:5]} are not boundary (fixed) species in COPASI")
            fixed = [s for s in neuron_species if metabs[s].getStatus() != copasi.CModelEntity.Status_REACTIONS]
            if fixed:
                raise ModelMismatchError(f"neuron species {fixed[:5]} are not changed by reactions in COPASI")
            unknown = [s for s in output_species if s not in neuron_species]
            if unknown:
                raise ModelMismatchError(f"output species {unknown[:5]} are not neuron species")
            self._inputs = [metabs[s] for s in input_species]
            self._neurons = [metabs[s] for s in neuron_species]
            self._default_y0 = np.array([m.getInitialConcentration() for m in self._neurons], dtype=float)
            self._output_cols = np.array([list(neuron_species).index(s) for s in output_species], dtype=int)
            self._task = _configure_time_course(self._datamodel, 2.0 * self.relax_time, 1, time_series=False)
            self._task.setScheduled(False)
            self._task.setUpdateModel(False)
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_compiled(cls, compiled: CompiledNetwork, *, sbml: str | None = None, encoding: str | None = None,
                      tolerance: float = DEFAULT_TOLERANCE, max_time: float | None = None,
                      **options: Any) -> CopasiSimulator:
        """COPASI on the elementary SBML of ``compiled`` (a :class:`~crn2sbml.compiler.CompiledNetwork`), or on
        ``sbml``."""
        from crn2sbml.export.sbml import to_sbml

        cls.refuse_options(options)
        encoding = cls.resolve_encoding(sbml, encoding) or cls.capabilities.encodings[0]
        return cls(to_sbml(compiled) if sbml is None else sbml, compiled.input_species, compiled.neuron_species,
                   compiled.output_species, rate_bound=compiled.network.activation.rate_bound(),
                   time_scale=compiled.time_scale, encoding=encoding, tolerance=tolerance, max_time=max_time)

    @property
    def closed(self) -> bool:
        return self._datamodel is None

    def close(self) -> None:
        """Remove the COPASI datamodel from the global root container (idempotent)."""
        if getattr(self, "_datamodel", None) is not None:
            self._finalizer()
        self._datamodel = None

    @property
    def n_inputs(self) -> int:
        return len(self._inputs)

    @property
    def n_neurons(self) -> int:
        return len(self._neurons)

    @property
    def output_columns(self) -> np.ndarray:
        return self._output_cols

    def _start_one(self, x: np.ndarray, y0: np.ndarray | None) -> None:
        """Set the initial concentrations (mol/L) of the inputs and neurons and let COPASI recompute the
        initial particle numbers from them."""
        if self.closed:
            raise SimulationError("copasi: the simulator is closed")
        copasi = copasi_module()
        for metab, value in zip(self._inputs, x, strict=True):
            metab.setInitialConcentration(float(value))
        for metab, value in zip(self._neurons, self._default_y0 if y0 is None else y0, strict=True):
            metab.setInitialConcentration(float(value))
        self._model.updateInitialValues(copasi.CCore.Framework_Concentration)

    def _advance_one(self, t0: float, t1: float) -> None:
        # process(True) starts from the initial values, process(False) continues from the last chunk's end
        copasi = copasi_module()
        self._task.getProblem().setDuration(t1 - t0)
        copasi.CCopasiMessage.clearDeque()
        try:
            ok = self._task.process(t0 == 0.0)
        except Exception as exc:
            raise SimulationError(f"COPASI integration failed at t = {t0:g} s: {exc} {_messages()}") from exc
        if not ok:
            detail = self._task.getProcessError() or _messages()
            raise SimulationError(f"COPASI integration failed at t = {t0:g} s: {detail}")

    def _read_one(self) -> tuple[np.ndarray, np.ndarray]:
        y = np.array([m.getConcentration() for m in self._neurons], dtype=float)
        dydt = np.array([m.getConcentrationRate() for m in self._neurons], dtype=float)
        return y, dydt


__all__ = ["CopasiSimulator", "copasi_module", "copasi_locale", "RELATIVE_TOLERANCE",
           "ABSOLUTE_TOLERANCE"]
