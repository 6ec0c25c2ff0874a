"""Compile a feed-forward network into a mass-action reaction network (docs/theory.md §1, §3, §5).

One species per neuron. For neuron ``Y`` with activation ``f(y; u) = sum_p (a_p + b_p u) y^p`` and
``u = sum_i w_i x_i + b``, the right-hand side ``dy/dt = f(y; u)`` expands into monomials, each of which
becomes one reaction whose net effect on ``Y`` is ±1:

* ``a_p y^p`` (a_p != 0):   ``p Y -> (p ± 1) Y`` with rate constant ``|a_p|``
* ``b_p w_i x_i y^p``:      ``X_i + p Y -> X_i + (p ± 1) Y`` with rate constant ``|b_p w_i|`` (X_i a catalyst)
* ``b_p b y^p``:            ``p Y -> (p ± 1) Y`` with rate constant ``|b_p b|``

For the smoothed ReLU ``eps + u y - y²`` these are the inflow ``-> Y`` (eps), the self-limitation
``2 Y -> Y`` (1), one bias reaction and one reaction per non-zero weight. Every rate constant is multiplied
by the time scale ``c``, which leaves the fixed point unchanged and makes the dynamics ``c`` times faster.

:func:`neuron_monomials` is the one place that expands a layer and an activation into these monomials;
:func:`compile_network` turns them into reactions and the lumped SBML export
(:func:`crn2sbml.export.sbml.to_lumped_sbml`) into one kinetic law per neuron, so both encodings are the same
ODE by construction.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from crn2sbml import defaults
from crn2sbml.crn import Reaction, ReactionNetwork, Species, make_complex
from crn2sbml.errors import NetworkError
from crn2sbml.nn.network import FeedForwardNetwork

MonomialSource = Literal["constant", "bias", "weight"]


@dataclass(frozen=True)
class Monomial:
    """One term ``coefficient · y^power · [catalyst]`` of a neuron's ``dy/dt`` at time scale 1.

    ``catalyst`` is the upstream species whose concentration multiplies the term (``None`` for the constant
    and bias terms). ``source`` and ``parameter`` say where the coefficient comes from: the activation's
    ``a_p`` (``"constant"``), the neuron's bias or the weight from ``catalyst``; they name and annotate the
    reaction, the coefficient alone defines the ODE.
    """

    coefficient: float
    power: int
    catalyst: str | None
    source: MonomialSource
    parameter: float


def neuron_monomials(network: FeedForwardNetwork, input_species: Sequence[str],
                     layer_species: Sequence[Sequence[str]]) -> dict[str, tuple[Monomial, ...]]:
    """Per neuron species (in layer order), the non-zero monomials of its ``dy/dt`` at time scale 1.

    Per neuron the order is fixed: the ``a_p`` terms by increasing power, then per power with ``b_p != 0``
    the bias term and the weight terms in input order. The compiler's reaction order (and so every exported
    file) follows it.
    """
    if len(layer_species) != len(network.layers):
        raise NetworkError(f"{len(layer_species)} layers of species for a network of {len(network.layers)} layers")
    terms = network.activation.terms
    out: dict[str, tuple[Monomial, ...]] = {}
    previous = tuple(input_species)
    for layer, ids in zip(network.layers, layer_species, strict=True):
        if len(previous) != layer.n_in or len(ids) != layer.n_out:
            raise NetworkError(f"layer of shape {layer.weights.shape} given {len(ids)} species for "
                               f"{len(previous)} upstream species")
        for j, sp in enumerate(ids):
            monos = [Monomial(float(a), p, None, "constant", float(a)) for p, a, _ in terms if a != 0]
            bias = float(layer.bias[j])
            for p, _, b_p in terms:
                if b_p == 0:
                    continue
                if bias != 0:
                    monos.append(Monomial(float(b_p * layer.bias[j]), p, None, "bias", bias))
                for i, src in enumerate(previous):
                    w = layer.weights[j, i]
                    if w != 0:
                        monos.append(Monomial(float(b_p * w), p, src, "weight", float(w)))
            out[sp] = tuple(monos)
        previous = tuple(ids)
    return out


@dataclass(frozen=True, eq=False)
class CompiledNetwork:
    """A reaction network together with what its species mean; checked on construction.

    ``input_species[i]`` carries feature ``i``; ``output_species[j]`` carries output ``j``;
    ``layer_species[l][j]`` carries neuron ``j`` of layer ``l + 1``. Every one of them is a species of
    ``crn`` (inputs clamped, neurons not), their counts match ``network.shape``, and ``time_scale`` is finite
    and > 0; anything else is a :class:`NetworkError`.
    """

    crn: ReactionNetwork
    network: FeedForwardNetwork
    input_species: tuple[str, ...]
    layer_species: tuple[tuple[str, ...], ...]
    time_scale: float

    def __post_init__(self) -> None:
        if not isinstance(self.crn, ReactionNetwork):
            raise NetworkError(f"crn must be a ReactionNetwork, got {type(self.crn).__name__}")
        if not isinstance(self.network, FeedForwardNetwork):
            raise NetworkError(f"network must be a FeedForwardNetwork, got {type(self.network).__name__}")
        # tuples, so a caller's list cannot change the mapping afterwards
        object.__setattr__(self, "input_species", tuple(self.input_species))
        object.__setattr__(self, "layer_species", tuple(tuple(layer) for layer in self.layer_species))
        _check_time_scale(self.time_scale)
        object.__setattr__(self, "time_scale", float(self.time_scale))
        shape = (len(self.input_species), *(len(layer) for layer in self.layer_species))
        if shape != self.network.shape:
            raise NetworkError(f"species per layer {shape} do not match the network's shape {self.network.shape}")
        ids = (*self.input_species, *self.neuron_species)
        if len(set(ids)) != len(ids):
            raise NetworkError("a species is named for more than one input or neuron")
        boundary = {s.id: s.boundary for s in self.crn.species}
        missing = [s for s in ids if s not in boundary]
        if missing:
            raise NetworkError(f"species {missing[:5]} are not in the reaction network {self.crn.name!r}")
        if not all(boundary[s] for s in self.input_species):
            raise NetworkError("input species must be clamped (boundary) species")
        if any(boundary[s] for s in self.neuron_species):
            raise NetworkError("neuron species must not be clamped (boundary) species")

    @property
    def output_species(self) -> tuple[str, ...]:
        return self.layer_species[-1]

    @property
    def neuron_species(self) -> tuple[str, ...]:
        """Every neuron species in layer order (the simulators' state order)."""
        return tuple(s for layer in self.layer_species for s in layer)

    @property
    def eps(self) -> float:
        return self.network.eps

    @property
    def weights_hash(self) -> str:
        return self.network.weights_hash()

    def monomials(self) -> dict[str, tuple[Monomial, ...]]:
        """:func:`neuron_monomials` of this network's species: per neuron, its ``dy/dt`` at time scale 1."""
        return neuron_monomials(self.network, self.input_species, self.layer_species)

    def manifest(self) -> dict:
        """The JSON-able description written next to every exported model."""
        from crn2sbml import __version__

        return {
            "format": "crn2sbml-manifest",
            "version": 1,
            "crn2sbml_version": __version__,
            "shape": list(self.network.shape),
            "input_species": list(self.input_species),
            "output_species": list(self.output_species),
            "layer_species": [list(layer) for layer in self.layer_species],
            "eps": self.eps,
            "activation": {"name": self.network.activation.name, "f": self.network.activation.describe(),
                           "terms": [list(t) for t in self.network.activation.terms]},
            "time_scale": self.time_scale,
            "weights_sha256": self.weights_hash,
            "n_species": len(self.crn.species),
            "n_reactions": len(self.crn.reactions),
        }


def _check_time_scale(time_scale: object) -> None:
    if isinstance(time_scale, bool) or not isinstance(time_scale, numbers.Real):
        raise NetworkError(f"time scale must be a number, got {time_scale!r}")
    if not (math.isfinite(float(time_scale)) and float(time_scale) > 0):
        raise NetworkError(f"time scale must be finite and > 0, got {time_scale}")


def species_ids(network: FeedForwardNetwork) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Input ids ``x1..``, hidden ids ``h{layer}_{neuron}``, output ids ``y1..`` (1-based)."""
    inputs = tuple(f"x{i + 1}" for i in range(network.n_inputs))
    layers = []
    for depth, layer in enumerate(network.layers, start=1):
        if depth == len(network.layers):
            layers.append(tuple(f"y{j + 1}" for j in range(layer.n_out)))
        else:
            layers.append(tuple(f"h{depth}_{j + 1}" for j in range(layer.n_out)))
    return inputs, tuple(layers)


def _reaction(sp: str, mono: Monomial, rid: str, note: str, time_scale: float) -> Reaction:
    """The reaction contributing ``mono`` to ``d[sp]/dt``: ``p Y (+ X) -> (p ± 1) Y (+ X)``."""
    change = 1 if mono.coefficient > 0 else -1
    reactants = {sp: mono.power}
    products = {sp: mono.power + change}
    if mono.catalyst is not None:
        reactants[mono.catalyst] = 1
        products[mono.catalyst] = 1
    return Reaction(rid, make_complex(reactants), make_complex(products), abs(mono.coefficient) * time_scale,
                    note=note)


def compile_network(network: FeedForwardNetwork, time_scale: float = defaults.TIME_SCALE) -> CompiledNetwork:
    """Build the reaction network whose unique positive steady state is ``network.forward``."""
    _check_time_scale(time_scale)
    input_ids, layer_ids = species_ids(network)
    species = [Species(s, 0.0, boundary=True, role=f"input feature {i + 1}") for i, s in enumerate(input_ids)]
    roles: dict[str, str] = {}
    for depth, ids in enumerate(layer_ids, start=1):
        for j, sp in enumerate(ids):
            roles[sp] = f"layer {depth} neuron {j + 1}" + (" (output)" if depth == len(layer_ids) else "")
            species.append(Species(sp, 0.0, role=roles[sp]))
    # with a single u-power (every shipped activation) the bias/weight reaction ids need no power suffix
    several_u_powers = sum(1 for _, _, b in network.activation.terms if b != 0) > 1
    reactions: list[Reaction] = []
    for sp, monos in neuron_monomials(network, input_ids, layer_ids).items():
        role = roles[sp]
        for mono in monos:
            suffix = f"_y{mono.power}" if several_u_powers else ""
            if mono.source == "constant":
                tag = {0: "inflow", 2: "limit"}.get(mono.power, f"y{mono.power}")
                rid, note = f"{sp}_{tag}", f"{role}: {mono.parameter:+g}·y^{mono.power}"
            elif mono.source == "bias":
                rid, note = f"{sp}_bias{suffix}", f"{role}: bias {mono.parameter:+g}"
            else:
                rid = f"{sp}_w_{mono.catalyst}{suffix}"
                note = f"{role}: weight {mono.parameter:+g} from {mono.catalyst}"
            reactions.append(_reaction(sp, mono, rid, note, time_scale))
    crn = ReactionNetwork(tuple(species), tuple(reactions), name=f"nn_{network.shape_text().replace('-', '_')}")
    return CompiledNetwork(crn, network, input_ids, layer_ids, float(time_scale))
