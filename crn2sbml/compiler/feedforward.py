"""Compile a feed-forward network into a mass-action reaction network (SPEC §2, §3, §5).

One species per neuron. For neuron ``Y`` with activation ``f(y; u) = sum_p (a_p + b_p u) y^p`` and
``u = sum_i w_i x_i + b``, each monomial becomes one reaction whose net effect on ``Y`` is ±1:

* ``a_p y^p`` (a_p != 0):   ``p Y -> (p ± 1) Y`` with rate constant ``|a_p|``
* ``b_p w_i x_i y^p``:      ``X_i + p Y -> X_i + (p ± 1) Y`` with rate constant ``|b_p w_i|`` (X_i a catalyst)
* ``b_p b y^p``:            ``p Y -> (p ± 1) Y`` with rate constant ``|b_p b|``

For the smoothed ReLU ``eps + u y - y²`` these are the inflow ``-> Y`` (eps), the self-limitation
``2 Y -> Y`` (1), one bias reaction and one reaction per non-zero weight. Every rate constant is multiplied
by the time scale ``c``, which leaves the fixed point unchanged and makes the dynamics ``c`` times faster.
"""

from __future__ import annotations

from dataclasses import dataclass

from crn2sbml.crn import Reaction, ReactionNetwork, Species, make_complex
from crn2sbml.errors import NetworkError
from crn2sbml.nn.network import FeedForwardNetwork


@dataclass(frozen=True, eq=False)
class CompiledNetwork:
    """A reaction network together with what its species mean.

    ``input_species[i]`` carries feature ``i``; ``output_species[j]`` carries output ``j``;
    ``layer_species[l][j]`` carries neuron ``j`` of layer ``l + 1``.
    """

    crn: ReactionNetwork
    network: FeedForwardNetwork
    input_species: tuple[str, ...]
    layer_species: tuple[tuple[str, ...], ...]
    time_scale: float

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


def _species_ids(network: FeedForwardNetwork) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    inputs = tuple(f"x{i + 1}" for i in range(network.n_inputs))
    layers = []
    for depth, layer in enumerate(network.layers, start=1):
        if depth == len(network.layers):
            layers.append(tuple(f"y{j + 1}" for j in range(layer.n_out)))
        else:
            layers.append(tuple(f"h{depth}_{j + 1}" for j in range(layer.n_out)))
    return inputs, tuple(layers)


def _self_term(species: str, power: int, coefficient: float) -> tuple[dict, dict]:
    """Reactant and product complexes of a reaction contributing ``coefficient · y^power`` to dy/dt."""
    reactants = {species: power}
    products = {species: power + (1 if coefficient > 0 else -1)}
    return reactants, products


def compile_network(network: FeedForwardNetwork, time_scale: float = 1.0) -> CompiledNetwork:
    """Build the reaction network whose unique positive steady state is ``network.forward``."""
    if not (time_scale > 0 and time_scale < float("inf")):
        raise NetworkError(f"time scale must be finite and > 0, got {time_scale}")
    input_ids, layer_ids = _species_ids(network)
    species = [Species(s, 0.0, boundary=True, role=f"input feature {i + 1}") for i, s in enumerate(input_ids)]
    reactions: list[Reaction] = []
    previous = input_ids
    terms = network.activation.terms
    u_powers = [p for p, _, b in terms if b != 0]
    for depth, (layer, ids) in enumerate(zip(network.layers, layer_ids, strict=True), start=1):
        for j, sp in enumerate(ids):
            role = f"layer {depth} neuron {j + 1}" + (" (output)" if depth == len(network.layers) else "")
            species.append(Species(sp, 0.0, role=role))
            for p, a, _ in terms:
                if a != 0:
                    tag = {0: "inflow", 2: "limit"}.get(p, f"y{p}") if p != 1 else "y1"
                    r, q = _self_term(sp, p, a)
                    reactions.append(Reaction(f"{sp}_{tag}", make_complex(r), make_complex(q), abs(a) * time_scale,
                                              note=f"{role}: {a:+g}·y^{p}"))
            for p, _, b_p in terms:
                if b_p == 0:
                    continue
                suffix = "" if len(u_powers) == 1 else f"_y{p}"
                if layer.bias[j] != 0:
                    coef = b_p * layer.bias[j]
                    r, q = _self_term(sp, p, coef)
                    reactions.append(Reaction(f"{sp}_bias{suffix}", make_complex(r), make_complex(q),
                                              abs(coef) * time_scale, note=f"{role}: bias {layer.bias[j]:+g}"))
                for i, src in enumerate(previous):
                    w = layer.weights[j, i]
                    if w == 0:
                        continue
                    coef = b_p * w
                    r, q = _self_term(sp, p, coef)
                    r[src] = r.get(src, 0) + 1
                    q[src] = q.get(src, 0) + 1
                    reactions.append(Reaction(f"{sp}_w_{src}{suffix}", make_complex(r), make_complex(q),
                                              abs(coef) * time_scale, note=f"{role}: weight {w:+g} from {src}"))
        previous = ids
    crn = ReactionNetwork(tuple(species), tuple(reactions), name=f"nn_{network.shape_text().replace('-', '_')}")
    return CompiledNetwork(crn, network, input_ids, layer_ids, float(time_scale))
