"""libRoadRunner backend: compile an SBML model once, then settle many input vectors.

Inputs are set with ``reset()`` + ``setBoundarySpeciesConcentrations`` (``setValue('init(...)')`` would
recompile the model on every call). Loading uses the LLJIT backend, which compiles large models several
times faster than the default MCJIT.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crn2sbml.errors import ModelMismatchError, SimulationError
from crn2sbml.simulate.base import (
    DEFAULT_TOLERANCE,
    AbstractSingleSampleSimulator,
    Capabilities,
    SteadyStates,
    StoppingRule,
    initial_states,
)
from crn2sbml.validate.inputs import check_sbml_text

if TYPE_CHECKING:
    from crn2sbml.compiler import CompiledNetwork

log = logging.getLogger(__name__)

CACHE_STABLE_DATE = datetime(2021, 1, 1, tzinfo=UTC)
"""Created date written into SBML that crn2sbml builds only to simulate (never shipped)."""


@contextlib.contextmanager
def _fast_settings():
    """LLJIT and no Python dynamic properties while crn2sbml builds its own RoadRunner.

    LLJIT compiles large models several times faster than MCJIT. It is set for the whole process and left
    set: the full test suite crashed intermittently (segfault inside the RoadRunner constructor) when models
    compiled with both backends lived in one process. Python dynamic properties are switched off only around
    our own construction (a species called e.g. ``simulate`` would shadow a RoadRunner method) and the user's
    setting is restored, so ``r.x1 = 0.5`` keeps working in a Tellurium session in the same process.
    """
    import roadrunner

    cfg = roadrunner.Config
    cfg.setValue(cfg.LLVM_BACKEND, cfg.LLJIT)
    saved = cfg.getValue(cfg.ROADRUNNER_DISABLE_PYTHON_DYNAMIC_PROPERTIES)
    cfg.setValue(cfg.ROADRUNNER_DISABLE_PYTHON_DYNAMIC_PROPERTIES, True)
    try:
        yield
    finally:
        cfg.setValue(cfg.ROADRUNNER_DISABLE_PYTHON_DYNAMIC_PROPERTIES, saved)


def cache_dir() -> Path | None:
    """Where compiled models are cached: ``$CRN2SBML_CACHE``, else ``~/.cache/crn2sbml``; ``CRN2SBML_CACHE=off``
    disables the cache."""
    configured = os.environ.get("CRN2SBML_CACHE")
    if configured == "off":
        return None
    return Path(configured) if configured else Path.home() / ".cache" / "crn2sbml"


def _cache_path(sbml: str) -> Path | None:
    import roadrunner

    folder = cache_dir()
    if folder is None:
        return None
    key = hashlib.sha256(f"{roadrunner.__version__}\n{sbml}".encode()).hexdigest()
    return folder / f"roadrunner-{key}.rrstate"


def load_roadrunner(sbml: str):
    """A ``RoadRunner`` for SBML text, with CVODE (BDF) at rtol 1e-9, atol 1e-13.

    The text must pass :func:`~crn2sbml.validate.inputs.check_sbml_text` (ModelFileError otherwise):
    ``roadrunner.RoadRunner(text)`` reads any string that is not XML as a file path or URL, and expands
    entities (a 1 KB "billion laughs" file crashed the process), so nothing else is ever handed to it.

    The JIT-compiled model is cached on disk under the SHA-256 of the SBML text (and the libRoadRunner
    version): a second load of the same model restores it with ``loadState`` instead of recompiling
    (1.6 s instead of 12.7 s for a 784-64-10 lumped model on this project's 2-core machine).
    """
    checked = check_sbml_text(sbml, where="SBML model")
    with _fast_settings():
        return _load(checked)


def _load(sbml: str):
    import roadrunner

    cached = _cache_path(sbml)
    r = None
    if cached is not None and cached.is_file():
        try:
            r = roadrunner.RoadRunner()
            r.loadState(str(cached))
            log.info("loaded compiled model from cache %s", cached)
        except Exception as exc:  # a damaged cache entry is rebuilt, never trusted
            log.warning("ignoring unreadable cache entry %s (%s)", cached, exc)
            cached.unlink(missing_ok=True)
            r = None
    if r is None:
        try:
            r = roadrunner.RoadRunner(sbml)
        except Exception as exc:  # roadrunner raises RuntimeError with libSBML's message
            raise SimulationError(f"libRoadRunner could not load the model: {exc}") from exc
        if cached is not None:
            _save_state(r, cached)
    r.setIntegrator("cvode")
    # The stopping rule (relative rate of change) decides accuracy, not CVODE's tolerances: at 1e-9/1e-13 the
    # digits network settles to 1.8e-10 of the forward pass, as at 1e-12/1e-16, 2.5x faster. Much looser
    # tolerances make the state jitter above the stopping threshold; the non-stiff (Adams) method stalls.
    r.integrator.setValue("relative_tolerance", 1e-9)
    r.integrator.setValue("absolute_tolerance", 1e-13)
    r.integrator.setValue("stiff", True)
    r.integrator.setValue("maximum_num_steps", 100000)
    return r


def _save_state(r, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".rr-", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # caching is an optimisation: a read-only home must not fail a run
        log.warning("could not cache the compiled model in %s (%s)", path.parent, exc)
        return
    os.close(fd)
    try:
        r.saveState(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        log.warning("could not cache the compiled model in %s (%s)", path, exc)
    finally:
        Path(tmp).unlink(missing_ok=True)


class RoadRunnerSimulator(AbstractSingleSampleSimulator):
    """Settles a compiled SBML model in libRoadRunner (CVODE, BDF), one sample at a time.

    ``sbml``: SBML text (either encoding); ``input_species``/``neuron_species``/``output_species``:
    species ids in feature, layer and output order (from the manifest). ``rate_bound`` (the activation's
    ``rate_bound()``) and ``time_scale`` set the relaxation time ``1 / (rate_bound · c)`` that sizes the
    integration chunks (see :mod:`crn2sbml.simulate.base`).
    """

    name = "roadrunner"
    capabilities = Capabilities(batch=False, gpu=False, stochastic=False, initial_states=True,
                                encodings=("lumped", "elementary"), process_safe=True)

    def __init__(self, sbml: str, input_species, neuron_species, output_species, *,
                 rate_bound: float, time_scale: float = 1.0,
                 encoding: str = "elementary", tolerance: float = DEFAULT_TOLERANCE,
                 max_time: float | None = None) -> None:
        self.stopping = StoppingRule.from_rate_bound(rate_bound, time_scale, tolerance=tolerance, max_time=max_time,
                                                     where="roadrunner simulator")
        self.encoding = encoding
        # constructor arguments, so worker processes can rebuild this simulator (see settle_parallel)
        self._spec = (sbml, tuple(input_species), tuple(neuron_species), tuple(output_species),
                      {"rate_bound": rate_bound, "time_scale": time_scale, "encoding": encoding,
                       "tolerance": tolerance, "max_time": max_time})
        self.runner = load_roadrunner(sbml)
        model = self.runner.model
        floating = list(model.getFloatingSpeciesIds())
        boundary = list(model.getBoundarySpeciesIds())
        missing = [s for s in (*input_species, *neuron_species) if s not in floating + boundary]
        if missing:
            raise ModelMismatchError(f"species {missing[:5]} named by the manifest are not in the SBML model")
        not_boundary = [s for s in input_species if s not in boundary]
        if not_boundary:
            raise ModelMismatchError(f"input species {not_boundary[:5]} are not boundary species in the SBML model")
        not_floating = [s for s in neuron_species if s not in floating]
        if not_floating:
            raise ModelMismatchError(f"neuron species {not_floating[:5]} are boundary species in the SBML model; "
                                     "neurons must be changed by reactions")
        stray = [s for s in output_species if s not in neuron_species]
        if stray:
            raise ModelMismatchError(f"output species {stray[:5]} are not neuron species")
        self._input_pos = np.array([boundary.index(s) for s in input_species], dtype=int)
        self._n_boundary = len(boundary)
        self._neuron_pos = np.array([floating.index(s) for s in neuron_species], dtype=int)
        self._output_cols = np.array([list(neuron_species).index(s) for s in output_species], dtype=int)

    @classmethod
    def from_compiled(cls, compiled: CompiledNetwork, *, sbml: str | None = None, encoding: str | None = None,
                      tolerance: float = DEFAULT_TOLERANCE, max_time: float | None = None,
                      **options: Any) -> RoadRunnerSimulator:
        """libRoadRunner on the chosen SBML encoding of ``compiled`` (default lumped), or on ``sbml``."""
        from crn2sbml.export.sbml import to_lumped_sbml, to_sbml

        cls.refuse_options(options)
        encoding = cls.resolve_encoding(sbml, encoding) or cls.capabilities.encodings[0]
        if sbml is None:
            # a fixed history date keeps the text, and so the compiled-model cache key, the same from run to run
            writer = to_lumped_sbml if encoding == "lumped" else to_sbml
            sbml = writer(compiled, created=CACHE_STABLE_DATE)
        return cls(sbml, compiled.input_species, compiled.neuron_species, compiled.output_species,
                   rate_bound=compiled.network.activation.rate_bound(), time_scale=compiled.time_scale,
                   encoding=encoding, tolerance=tolerance, max_time=max_time)

    @property
    def n_inputs(self) -> int:
        return int(self._input_pos.size)

    @property
    def n_neurons(self) -> int:
        return int(self._neuron_pos.size)

    @property
    def output_columns(self) -> np.ndarray:
        return self._output_cols

    def settle_parallel(self, inputs: np.ndarray, workers: int | None = None, chunk: int = 16,
                        progress=None, min_samples: int = 200) -> SteadyStates:
        """Like :meth:`settle`, split over ``workers`` processes (default: every core).

        Each worker restores the compiled model from the on-disk cache this simulator filled (or compiles it
        once when the cache is off) and settles chunks of ``chunk`` samples; results come back in input
        order. Worth it from a few hundred samples: starting a worker costs about a second, so fewer than
        ``min_samples`` samples are settled in this process.
        """
        x = self.check_inputs(inputs)  # before any worker starts
        workers = workers or os.cpu_count() or 1
        if workers == 1 or len(x) <= max(chunk, min_samples - 1):
            return self.settle(x, progress=progress)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pieces = [x[i:i + chunk] for i in range(0, len(x), chunk)]
        # spawn, not fork: the parent may hold LLVM and JAX threads that fork would copy in a broken state
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(self._spec,)) as pool:
            futures = [pool.submit(_settle_in_worker, piece) for piece in pieces]
            parts = []
            for future, piece in zip(futures, pieces, strict=True):
                parts.append(future.result())
                if progress is not None:
                    progress(len(piece))
        return SteadyStates.stack(parts)

    def _start_one(self, x: np.ndarray, y0: np.ndarray | None) -> None:
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

    def _advance_one(self, t0: float, t1: float) -> None:
        try:
            self.runner.simulate(t0, t1, 2)
        except RuntimeError as exc:
            raise SimulationError(f"libRoadRunner integration failed at t = {t0:g}: {exc}") from exc

    def _read_one(self) -> tuple[np.ndarray, np.ndarray]:
        model = self.runner.model
        y = np.array(model.getFloatingSpeciesConcentrations(), dtype=float)[self._neuron_pos]
        dydt = np.array(model.getFloatingSpeciesConcentrationRates(), dtype=float)[self._neuron_pos]
        return y, dydt

    def trajectory(self, x: np.ndarray, y0: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Neuron concentrations ``(len(times), n_neurons)`` from ``y0`` with inputs ``x`` clamped.

        Integrated at rtol 1e-12 / atol 1e-16 (restored afterwards): trajectories are used to fit decay rates
        of perturbations down to 1e-7 of the state, which the settling tolerances would blur.
        """
        x = self.check_inputs(x)[0]
        if y0 is None:
            raise SimulationError("trajectory needs an initial state y0 of shape (n_neurons,)")
        start = initial_states(y0, 1, self.n_neurons)
        assert start is not None  # y0 was given
        y0 = start[0]
        r = self.runner
        model = r.model
        saved = (r.integrator.getValue("relative_tolerance"), r.integrator.getValue("absolute_tolerance"))
        r.integrator.setValue("relative_tolerance", 1e-12)
        r.integrator.setValue("absolute_tolerance", 1e-16)
        try:
            self._start_one(x, y0)
            out = np.empty((len(times), self._neuron_pos.size))
            out[0] = y0
            for i in range(1, len(times)):
                r.simulate(float(times[i - 1]), float(times[i]), 2)
                out[i] = np.array(model.getFloatingSpeciesConcentrations(), dtype=float)[self._neuron_pos]
        finally:
            r.integrator.setValue("relative_tolerance", saved[0])
            r.integrator.setValue("absolute_tolerance", saved[1])
        return out


_WORKER: RoadRunnerSimulator | None = None


def _init_worker(spec) -> None:
    global _WORKER
    sbml, inputs, neurons, outputs, options = spec
    _WORKER = RoadRunnerSimulator(sbml, inputs, neurons, outputs, **options)


def _settle_in_worker(x: np.ndarray) -> SteadyStates:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.settle(x)
