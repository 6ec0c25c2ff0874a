"""The chemical Langevin equation (CLE): the fast stochastic path for large Ω, batched in JAX/diffrax.

For Ω molecules per unit concentration the neuron concentrations ``y`` follow, in the Itô sense,

    dy = S·a(y) dt + S·diag(sqrt(a(y)/Ω)) dW,

``S`` the net stoichiometry of the neurons and ``a`` the propensities per unit volume: the chemical master
equation's propensities (:mod:`crn2sbml.stochastic.ssa`) divided by Ω and written in concentrations, e.g.
``k·y_X·y_Y`` for ``X + Y -> ...`` and, in the ``"exact"`` convention, ``k·y·(y − 1/Ω)`` for ``2Y -> Y`` (the
falling factorial ``n(n−1)/Ω²``; ``"squared"``: ``k·y²``). The drift is thus the SSA's mean jump rate, not the
ODE's: at Ω = 100 the self-limitation of a neuron is ``1/Ω`` weaker per unit ``y`` than in the ODE, as in the
exact SSA. Every compiled reaction changes exactly one neuron (its target) by ``d = ±1`` and has at most one
catalyst, so ``S·diag(sqrt(a))·dW`` has, in law, the same increments as ``diag(sqrt(Σ_r d_r²·a_r))·dW'`` with
one Brownian motion per neuron instead of per reaction (a sum of independent Gaussians is a Gaussian with the
summed variance): the diffusion matrix is the LNA's ``D`` (:mod:`crn2sbml.stochastic.lna`) evaluated along the
path. Reactions are grouped by (target stoichiometry ``m``, change ``d``); per group the propensity of target
``i`` is ``ff_m(y_i)·(A_i + Σ_j K_ij·max(y_j, 0))`` with ``A`` the uncatalysed rate constants plus the
input-catalysed ones times the clamped inputs and ``K`` the neuron-catalysed ones, so a few vector operations
per step evaluate every reaction of the network (built from the reaction list, not from the weights).

Conventions shared with the SSA: inputs are clamped at ``round(Ω·x)/Ω``; the run starts with no neuron
molecules; the readout is the same :class:`~crn2sbml.stochastic.readout.Readout` (value on the same time grid,
window time-average). Negative concentrations: a Gaussian step can carry a nearly empty neuron below 0. The
propensities are clipped there, each falling-factorial factor ``max(y − i/Ω, 0)`` and each catalyst
``max(y_j, 0)``, so a reaction never runs with a negative rate and an empty neuron only receives its inflow; the
state itself is not clipped (that would bias the mean upwards). Where neurons hold only a few molecules the CLE is
an approximation (it is exact to leading orders in 1/Ω, not at Ω·y ≈ 1): the exact SSA is the reference there.

Numerics (one choice each, and why):

* **Euler–Maruyama** (``diffrax.Euler`` on a drift + control term): weak order 1, and the readout only needs
  distributions (means, variances, accuracies), not pathwise accuracy. The noise is multiplicative and not
  commutative (a neuron's noise depends on its upstream neurons), so Milstein-type strong order 1 would need
  Lévy areas; a higher order buys nothing for a weak quantity at the step used here.
* **Step per trajectory.** ``dt = h / m`` with ``h`` the readout's recording step and the integer ``m``
  the smallest with ``λ·dt ≤ theta``, ``λ`` the largest neuron relaxation rate ``|∂f_i/∂y_i|`` at the
  trajectory's deterministic fixed point (the Jacobian is triangular: these are its eigenvalues). For an
  Ornstein–Uhlenbeck process Euler–Maruyama inflates the stationary variance by ``1/(1 − λ·dt/2)``: with the
  default ``theta`` = 0.05 at most 2.6 % on the stiffest neuron, less on the others. The step depends only on the
  trajectory's own input (and rate factors), so results do not depend on how trajectories are batched.
* **Time in units of steps.** The SDE is integrated in ``s = t/dt`` (``dy = dt·F ds + sqrt(dt)·G dW_s``),
  so every step is ``[k, k+1]``, exactly representable, and records fall on steps ``k·m``.
* **UnsafeBrownianPath**, not VirtualBrownianTree: with a fixed step each increment is drawn once, from the
  trajectory's key folded with the step's (exact, integer) endpoints, so a run is reproducible bit for bit
  from its key; the tree would cost ~20 extra random draws per step to offer what only adaptive or
  step-refinement studies need (the same path at several step sizes).
* **Batched with jax.vmap**, compiled with jax.jit once per network structure and batch size (Ω, inputs,
  keys and steps are traced arguments, so a whole Ω grid reuses one compilation); batches are cut into chunks
  of :data:`DEFAULT_CHUNK` trajectories (power-of-two sizes, the last chunk padded). Runs on a GPU when JAX
  sees one, on the CPU otherwise, with no change. On the CPU about 85 % of the time goes to drawing the
  Gaussian increments (JAX's threefry; measured on the 2-core development machine), so a GPU helps most.
* **Float32.** The increments are ``sqrt(dt·D/Ω)``-sized and the readout averages ~50 records, so float32's
  1e-7 relative rounding is far below the noise being measured at every Ω this engine is meant for
  (``1/sqrt(Ω) ≥ 3e-4``); step counts are exact integers in float32 up to 2^24 (checked).
* **Batch independence.** A trajectory's result depends only on its input, seed, Ω and rate factors, bit for
  bit, whatever else is in its batch: the kernel writes every sum out term by term (XLA chooses the kernel
  of a dot or axis reduction by batch size, which moved the last bits), and ``A`` is summed column by column
  in numpy.
* **Keys.** ``seed`` (an integer in ``[0, 2^63)``, e.g. the SSA seed of
  :func:`~crn2sbml.stochastic.readout.task_seeds`) becomes the threefry key ``(seed >> 32, seed & 0xffffffff)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from crn2sbml.errors import InputError, SimulationError
from crn2sbml.stochastic.ssa import (
    Trajectory,
    check_convention,
    check_grid,
    check_omega,
    check_seed,
    input_counts,
)

if TYPE_CHECKING:
    from crn2sbml.compiler import CompiledNetwork
    from crn2sbml.stochastic.readout import Readout

DEFAULT_THETA = 0.05
"""Largest ``λ·dt`` per Euler–Maruyama step (module docstring)."""

DEFAULT_CHUNK = {"cpu": 128}
"""Trajectories integrated together per platform; any other platform (GPU/TPU) uses 65,536. On the CPU a
chunk gains nothing from more trajectories once its vectors fill the SIMD lanes, while smaller chunks let
trajectories that need few steps finish early (measured: 128 ran digits 2x faster than 512)."""

BLOCK = 256
"""Rows whose rate arrays are built at once when every trajectory has its own rate factors (memory bound)."""


@dataclass(frozen=True, eq=False)
class ReactionGroups:
    """The compiled reactions as arrays. Group ``g`` holds the reactions that take ``orders[g]`` molecules of
    their target neuron and change it by ``changes[g]``; ``rates(...)[g, i, j]`` is the summed rate constant of
    those that target neuron ``i`` with catalyst column ``j`` of ``[1, inputs…, neurons…]`` (0: no catalyst).
    ``catalysed``: the groups with a neuron catalyst; ``catalysts``: the neurons that catalyse anything."""

    orders: tuple[int, ...]
    changes: tuple[int, ...]
    n_inputs: int
    n_neurons: int
    catalysed: tuple[int, ...]
    catalysts: tuple[int, ...]
    scatter: Any  # scipy.sparse (n_reactions, G·N·M): rate constants -> rates
    constants: np.ndarray  # (n_reactions,)

    def rates(self, factors: np.ndarray | None = None) -> np.ndarray:
        """``(G, N, M)``, or ``(B, G, N, M)`` for rate factors of shape ``(B, n_reactions)``; ``M = 1 + n_in + N``."""
        shape = (len(self.orders), self.n_neurons, 1 + self.n_inputs + self.n_neurons)
        if factors is None:
            return np.asarray(self.scatter.T @ self.constants).reshape(shape)
        flat = np.asarray((self.scatter.T @ (factors * self.constants).T).T)
        return flat.reshape((factors.shape[0], *shape))

    def split(self, rates: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(const (B, G, N), coupling)`` for inputs ``x`` ``(B, n_in)``: the uncatalysed rates plus the
        input-catalysed ones times the inputs, and the neuron-catalysed rates of the ``catalysed`` groups
        (``(Gc, N, N)``, or ``(B, Gc, N, N)`` for per-row rates). The sum over inputs runs column by column,
        so a row's result does not depend on the other rows."""
        z = np.concatenate([np.ones((x.shape[0], 1)), x], axis=1)
        const = np.zeros((x.shape[0], len(self.orders), self.n_neurons))
        for j in range(z.shape[1]):
            const += rates[..., j] * z[:, j, None, None]
        return const, rates[..., list(self.catalysed), :, 1 + self.n_inputs:]


def reaction_groups(compiled: CompiledNetwork) -> ReactionGroups:
    """Group ``compiled``'s reactions (module docstring); InputError for a reaction outside that form."""
    import scipy.sparse

    neurons = {s: i for i, s in enumerate(compiled.neuron_species)}
    inputs = {s: i for i, s in enumerate(compiled.input_species)}
    n_in, n = len(inputs), len(neurons)
    columns = 1 + n_in + n
    keys: dict[tuple[int, int], int] = {}
    entries = []
    for reaction in compiled.crn.reactions:
        change = reaction.net_change()
        if len(change) != 1 or next(iter(change)) not in neurons:
            raise InputError(f"CLE: reaction {reaction.id!r} must change exactly one neuron, changes {change}")
        ((target, d),) = change.items()
        m = dict(reaction.reactants).get(target, 0)
        others = [(s, k) for s, k in reaction.reactants if s != target]
        if len(others) > 1 or (others and others[0][1] != 1):
            raise InputError(f"CLE: reaction {reaction.id!r} must have at most one catalyst, of stoichiometry 1")
        column = 0
        if others:
            species = others[0][0]
            column = 1 + inputs[species] if species in inputs else 1 + n_in + neurons[species]
        g = keys.setdefault((m, d), len(keys))
        entries.append((g, neurons[target], column))
    flat = np.array([(g * n + i) * columns + j for g, i, j in entries], dtype=np.int64)
    scatter = scipy.sparse.csr_matrix((np.ones(len(entries)), (np.arange(len(entries)), flat)),
                                      shape=(len(entries), len(keys) * n * columns))
    by_neuron = [(g, j - 1 - n_in) for g, _, j in entries if j > n_in]
    return ReactionGroups(tuple(m for m, _ in keys), tuple(d for _, d in keys), n_in, n,
                          tuple(sorted({g for g, _ in by_neuron})), tuple(sorted({j for _, j in by_neuron})),
                          scatter, np.array([r.rate_constant for r in compiled.crn.reactions], dtype=float))


def group_rates(groups: ReactionGroups, const: np.ndarray, coupling: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(B, G, N)``: each group's rate constants times its catalysts at state ``y`` ``(B, N)`` (catalysts
    clipped at 0), i.e. the propensities per unit volume divided by the target's own factor ``y^m``."""
    base = const.copy()
    yc = np.clip(y, 0.0, None)
    for c, g in enumerate(groups.catalysed):
        for j in groups.catalysts:
            base[:, g] += coupling[..., c, :, j] * yc[:, j, None]
    return base


def stiffness(groups: ReactionGroups, const: np.ndarray, coupling: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Largest ``|∂(drift_i)/∂y_i|`` over neurons at state ``y`` ``(B, N)``, per row: the fastest relaxation rate
    there (the Jacobian is triangular; catalysts are upstream, so only the target's own factor counts)."""
    base = group_rates(groups, const, coupling, y)
    yc = np.clip(y, 0.0, None)
    slope = np.zeros_like(y)
    for g, (m, d) in enumerate(zip(groups.orders, groups.changes, strict=True)):
        if m:
            slope += d * m * yc ** (m - 1) * base[:, g]
    return np.abs(slope).max(axis=1)


def total_propensity(compiled: CompiledNetwork, x: np.ndarray) -> np.ndarray:
    """Per row of ``x``, the summed propensity per unit volume of every reaction at the fixed point (ODE
    propensities): an SSA at Ω fires about ``Ω·t·total_propensity`` reactions in time ``t``."""
    groups = reaction_groups(compiled)
    x = compiled.network.check_inputs(x)
    const, coupling = groups.split(groups.rates(), x)
    y = np.concatenate(compiled.network.activations(x), axis=1)
    base = group_rates(groups, const, coupling, y)
    yc = np.clip(y, 0.0, None)
    return sum((yc ** m * base[:, g]).sum(axis=1) for g, m in enumerate(groups.orders))


class ChemicalLangevin:
    """The CLE of ``compiled`` at Ω (module docstring): batched over trajectories, same readout as the SSA.

    ``rate_factors`` (one positive factor per reaction) makes a perturbed implementation, as for
    :class:`~crn2sbml.stochastic.ssa.RebopSSA`; the batched methods also take one row of factors per trajectory.
    ``theta``: largest ``λ·dt`` per step; ``chunk``: trajectories per compiled call.
    """

    engine = "cle"

    def __init__(self, compiled: CompiledNetwork, omega: float, convention: str = "exact",
                 rate_factors: np.ndarray | None = None, theta: float = DEFAULT_THETA,
                 chunk: int | None = None) -> None:
        self.compiled = compiled
        self.omega = check_omega(omega)
        self.convention = check_convention(convention)
        if not (isinstance(theta, (int, float)) and 0 < theta <= 0.5):
            raise InputError(f"theta (largest λ·dt per step) must be in (0, 0.5], got {theta!r}")
        self.theta = float(theta)
        self.groups = reaction_groups(compiled)
        self.rate_factors = None if rate_factors is None else self._factors(rate_factors, 1)[0]
        if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
            raise InputError(f"chunk must be a positive integer, got {chunk!r}")
        self._chunk = chunk

    # ---- checks ----
    def _factors(self, factors: np.ndarray, n: int) -> np.ndarray:
        n_reactions = len(self.groups.constants)
        f = np.asarray(factors, dtype=float)
        if f.ndim == 1:
            f = np.broadcast_to(f, (n, f.shape[0]))
        if f.shape != (n, n_reactions) or not np.all(np.isfinite(f) & (f > 0)):
            raise InputError(f"rate_factors must be {n_reactions} finite positive numbers per trajectory "
                             f"(shape ({n}, {n_reactions}))")
        return f

    def _inputs(self, x: np.ndarray) -> np.ndarray:
        x = self.compiled.network.check_inputs(x)
        return input_counts(x, self.omega) / self.omega

    # ---- public ----
    def run(self, x: np.ndarray, t_end: float, n_points: int, seed: int,
            initial_counts: np.ndarray | None = None) -> Trajectory:
        """One trajectory, as :meth:`RebopSSA.run <crn2sbml.stochastic.ssa.RebopSSA.run>`; ``counts`` are the
        real-valued ``Ω·y``. Starts with no neuron molecules (``initial_counts`` is not supported)."""
        if initial_counts is not None:
            raise InputError("the CLE starts with no neuron molecules; initial_counts is not supported")
        x = self.compiled.network.check_inputs(x)
        if x.shape[0] != 1:
            raise InputError(f"run() takes one input vector, got {x.shape[0]}")
        times, y = self.run_batch(x, t_end, n_points, [seed])
        return Trajectory(times, self.omega * y[0], self.compiled.neuron_species, self.omega, int(seed),
                          self.engine)

    def run_batch(self, x: np.ndarray, t_end: float, n_points: int, seeds: Any,
                  rate_factors: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(times (n_points,), y (B, n_points, N))`` for input rows ``x`` ``(B, n_in)`` and one seed each."""
        t_end, n_points = check_grid(t_end, n_points)
        return np.linspace(0.0, t_end, n_points), self._solve(x, t_end, n_points, 0, seeds, rate_factors)

    def readouts(self, x: np.ndarray, seeds: Any, readout: Readout,
                 rate_factors: np.ndarray | None = None) -> np.ndarray:
        """Window time-averages ``(B, N)`` of every neuron: the readout of
        :func:`~crn2sbml.stochastic.readout.run_task` (same grid and window) for each row of ``x``."""
        t_end, n_points = check_grid(readout.t_end, readout.n_points)
        times = np.linspace(0.0, t_end, n_points)
        start = int(np.argmax(times >= readout.burn_in - 1e-12))
        if times[-1] < readout.burn_in - 1e-12:
            raise InputError("the readout window lies after the end of the run")
        return self._solve(x, t_end, n_points, start, seeds, rate_factors).mean(axis=1)

    # ---- the work ----
    def _solve(self, x: np.ndarray, t_end: float, n_points: int, start: int, seeds: Any,
               rate_factors: np.ndarray | None) -> np.ndarray:
        """Records ``start..n_points-1`` of every trajectory: ``(B, n_points − start, N)``."""
        x_eff = self._inputs(x)
        n = x_eff.shape[0]
        seeds = [check_seed(s) for s in np.asarray(seeds, dtype=object).ravel()]
        if len(seeds) != n:
            raise InputError(f"need one seed per input row: {n} rows, {len(seeds)} seeds")
        factors = rate_factors if rate_factors is not None else self.rate_factors
        factors = None if factors is None else self._factors(factors, n)
        groups = self.groups
        out = np.empty((n, n_points - start, groups.n_neurons))
        if n == 0:
            return out
        keys = np.array(seeds, dtype=np.uint64)
        key_data = np.stack([keys >> np.uint64(32), keys & np.uint64(0xFFFFFFFF)], axis=1).astype(np.uint32)
        # A and K per row (K shared without rate factors); rate arrays of BLOCK rows at a time
        shared = groups.rates()
        parts = [groups.split(shared if factors is None else groups.rates(factors[lo:lo + BLOCK]),
                              x_eff[lo:lo + BLOCK]) for lo in range(0, n, BLOCK)]
        const = np.concatenate([c for c, _ in parts])
        coupling = parts[0][1] if factors is None else np.concatenate([k for _, k in parts])
        # each trajectory's step from its own fixed point (module docstring); trajectories of similar step then
        # share a chunk, since a chunk runs as many steps as its slowest member needs
        record = t_end / (n_points - 1)
        y_star = np.concatenate(self.compiled.network.activations(x_eff), axis=1)
        substeps = np.maximum(1, np.ceil(record * stiffness(groups, const, coupling, y_star) / self.theta))
        substeps = substeps.astype(np.int64)
        if int(substeps.max()) * (n_points - 1) >= 2**24:
            raise InputError(f"CLE: this network needs {int(substeps.max()) * (n_points - 1):,} steps per run, "
                             "more than float32 step counts hold exactly (2^24)")
        import jax  # here, after the checks: a bad argument is reported without starting XLA

        from crn2sbml.stochastic import cle_kernels

        chunk = self._chunk or DEFAULT_CHUNK.get(jax.default_backend(), 65536)
        size = min(chunk, 1 << (n - 1).bit_length())  # power-of-two batches: few shapes to compile
        kernel = cle_kernels.cle_solver(groups.orders, groups.changes, groups.catalysed, groups.catalysts,
                                        groups.n_neurons, n_points - start, factors is not None)
        h = 1.0 / self.omega if self.convention == "exact" else 0.0
        order = np.argsort(substeps, kind="stable")
        f32 = np.float32
        for lo in range(0, n, size):
            idx = order[lo:lo + size]
            pad = np.concatenate([idx, np.full(size - len(idx), idx[0])])
            ys = kernel(const[pad].astype(f32), (coupling if factors is None else coupling[pad]).astype(f32),
                        key_data[pad], (record / substeps[pad]).astype(f32), substeps[pad].astype(np.int32),
                        start, f32(h), f32(1.0 / self.omega))
            out[idx] = np.asarray(ys, dtype=float)[: len(idx)]
        if not np.all(np.isfinite(out)):  # the propensities are clipped, so this would be a bug, not noise
            raise SimulationError("CLE: a trajectory became non-finite")
        return out
