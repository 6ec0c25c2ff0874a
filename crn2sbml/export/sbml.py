"""SBML Level 3 Version 2, built directly with python-libsbml (no libantimony round trip, which is
superlinear in model size).

Two encodings of the same ODE:

* ``elementary`` — the artefact a lab builds from: one SBML reaction per CRN reaction, mass-action kinetic
  law ``cell * k * reactants`` with a local parameter ``k`` (the form COPASI recognises as mass action),
  units declared throughout so libSBML's unit checks pass with zero warnings.
* ``lumped`` — for simulation speed: one reaction per neuron whose kinetic law is the neuron's whole
  right-hand side ``c·f(y; u)`` with the weights written as numbers (each carrying its unit, so the unit
  checks pass here too) and the upstream species as modifiers. Identical ODE and fixed point, an order of
  magnitude fewer symbols for the JIT compiler.

Both are curated the way BioModels curates models: a model history (creator vCard, created and modified
dates), MIRIAM annotation linking the paper the construction comes from, a machine-readable crn2sbml
annotation with the weights' SHA-256, and SBO terms on the model, compartment, species, reactions, species
references, modifiers, kinetic laws and rate constants.

Concentrations are mol/L in a 1 L compartment and time is in seconds.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import libsbml

from crn2sbml import __version__
from crn2sbml.compiler import CompiledNetwork, Monomial
from crn2sbml.crn import Complex
from crn2sbml.errors import ExportError, InputError

_LEVEL, _VERSION = 3, 2

PAPER_DOI = "10.1098/rsif.2021.0031"
"""Anderson, Joshi & Deshpande, "On reaction network implementations of neural networks", J. R. Soc. Interface
18:20210031 (2021): the construction compiled here. The DOI is believed correct (Royal Society's ``rsif`` DOI
pattern for article 20210031); it was not resolved online when it was written down."""

PAPER_URI = f"https://identifiers.org/doi:{PAPER_DOI}"

ANNOTATION_NS = "urn:crn2sbml:annotation:1"
"""Namespace of crn2sbml's own model annotation. A name, not an address: nothing needs to resolve it."""

# ---- Systems Biology Ontology terms ---------------------------------------------------------------------------
# Ids and meanings checked against the SBO OBO release (github.com/EBI-BioModels/SBO, SBO_OBO.obo); each one
# also lies in the branch libSBML's SBO consistency rules require for the element that carries it.
SBO_NON_SPATIAL_CONTINUOUS = 293
"""Model: "non-spatial continuous framework" — ODEs on concentrations, no spatial distribution."""
SBO_PHYSICAL_COMPARTMENT = 290
"""Compartment ``cell``: "physical compartment"."""
SBO_PERTURBING_AGENT = 405
"""Input species: "material entity that is responsible for a perturbing effect" — a clamped (boundary) species
whose concentration the experimenter imposes from outside to drive the network."""
SBO_UNSPECIFIED_ENTITY = 285
"""Hidden neuron species: "material entity whose nature is unknown or irrelevant" — the construction is abstract
chemistry (it could be realised with DNA strand displacement or small molecules), so "simple chemical" (247)
would claim more than is known."""
SBO_OBSERVABLE = 406
"""Output neuron species: "an entity that can be measured quantitatively" — their steady state is the read-out."""
SBO_BIOCHEMICAL_REACTION = 176
"""Elementary reaction that creates a neuron molecule. "Conversion" (182) would claim covalent-bond changes, which
an abstract reaction network does not specify; "production" (393) is a control arc, not a reaction."""
SBO_DEGRADATION = 179
"""Elementary reaction whose products are a strict sub-multiset of its reactants (``2 Y -> Y``, ``X + Y -> X``):
"complete disappearance of a physical entity", a child of biochemical reaction."""
SBO_COMPOSITE_PROCESS = 205
"""Lumped reaction: "process ... composed of several elementary steps or reactions" — it is the sum of the
neuron's elementary reactions."""
SBO_RATE_LAW = 1
"""Lumped kinetic law: a signed sum of several mass-action rates is not itself a mass-action law."""
SBO_SIDE_SUBSTRATE, SBO_SIDE_PRODUCT = 604, 603
"""A catalyst's two species references (``X`` in ``X + Y -> X + 2 Y``): consumed and produced "but not itself the
primary substrate/product or focus of that reaction". "Catalyst" (13) would be the natural word, but it lies in
the modifier branch, and L3V2 (libSBML rule 10708) wants reactant references in the reactant branch and product
references in the product branch: 13 there costs one warning per reference."""
SBO_MODIFIER, SBO_STIMULATOR, SBO_INHIBITOR = 19, 459, 20
"""Lumped modifiers (upstream species): stimulator or inhibitor by the sign of their effect on the rate, plain
modifier when that sign is not fixed (see :func:`_modifier_sbo`)."""

_MASS_ACTION_SBO: dict[tuple[int, int], tuple[int, int]] = {
    # (reaction order, distinct reactant species) -> (kinetic law, rate constant), all "continuous scheme/case"
    (0, 0): (47, 48),  # zeroth order irreversible; forward zeroth order rate constant
    (1, 1): (49, 35),  # first order irreversible; forward unimolecular rate constant
    (2, 1): (52, 36),  # second order irreversible, one reactant (k R^2); forward bimolecular rate constant
    (2, 2): (54, 36),  # second order irreversible, two reactants (k R1 R2)
    (3, 1): (57, 37),  # third order irreversible, one reactant (k R^3); forward trimolecular rate constant
    (3, 2): (59, 37),  # third order irreversible, two reactants (k R1^2 R2)
    (3, 3): (61, 37),  # third order irreversible, three reactants (k R1 R2 R3)
}
_MASS_ACTION_ANY_ORDER = (163, 154)
"""Orders above 3 have no specific SBO term: "mass action rate law for irreversible reactions, continuous scheme"
and "forward rate constant, continuous case"."""

_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 cannot carry at all, escaped or not."""


@dataclass(frozen=True)
class Creator:
    """Who the model history names as creator (a vCard): a person (family and given name, optionally an
    organisation and email) or an organisation alone."""

    family_name: str = ""
    given_name: str = ""
    organisation: str = ""
    email: str = ""

    def __post_init__(self) -> None:
        for field_name in ("family_name", "given_name", "organisation", "email"):
            if _XML_INVALID.search(getattr(self, field_name)):
                raise InputError(f"creator {field_name} contains characters XML cannot carry")
        if bool(self.family_name) != bool(self.given_name):
            raise InputError("a creator needs both a family name and a given name, or neither")
        if not (self.family_name or self.organisation):
            raise InputError("a creator needs a family and given name, or an organisation")


DEFAULT_CREATOR = Creator(organisation="crn2sbml")
"""No personal data: the tool itself is the creator unless the caller names one."""


def _ok(code: int, what: str) -> None:
    if code != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise ExportError(f"libSBML failed to {what}: {libsbml.OperationReturnValue_toString(code)}")


def _xml_text(value: object) -> str:
    """``value`` as text safe to place inside XHTML: characters XML cannot carry replaced, markup escaped."""
    return html.escape(_XML_INVALID.sub("\ufffd", str(value)))


def created_timestamp(created: datetime | None = None) -> datetime:
    """The model's created date in UTC, to the second (the resolution of W3CDTF dates in SBML).

    ``None`` means ``$SOURCE_DATE_EPOCH`` when set (the reproducible-builds convention) and now otherwise. A
    naive datetime is taken as UTC: reading it as local time would make the output depend on the machine.
    """
    if created is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        if epoch is None:
            return datetime.now(UTC).replace(microsecond=0)
        try:
            return datetime.fromtimestamp(int(epoch), tz=UTC)
        except (ValueError, OverflowError, OSError):
            raise InputError(f"SOURCE_DATE_EPOCH={epoch!r} is not a Unix time in seconds") from None
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created.astimezone(UTC).replace(microsecond=0)


def _w3c_date(when: datetime) -> libsbml.Date:
    date = libsbml.Date(when.year, when.month, when.day, when.hour, when.minute, when.second, 0, 0, 0)
    if not date.representsValidDate():
        raise InputError(f"libSBML cannot represent the date {when.isoformat()} (years 1000 to 9999)")
    return date


def _model_creator(creator: Creator) -> libsbml.ModelCreator:
    vcard = libsbml.ModelCreator()
    if creator.family_name:
        _ok(vcard.setFamilyName(creator.family_name), "set the creator's family name")
        _ok(vcard.setGivenName(creator.given_name), "set the creator's given name")
    else:
        # vCard 4 requires a formatted name (fn); for an organisation's own vCard that is the organisation's name
        vcard.setUseSingleName(True)
        _ok(vcard.setName(creator.organisation), "set the creator's name")
    if creator.organisation:
        _ok(vcard.setOrganisation(creator.organisation), "set the creator's organisation")
    if creator.email:
        _ok(vcard.setEmail(creator.email), "set the creator's email")
    return vcard


def _set_history(model: libsbml.Model, creator: Creator, created: datetime) -> None:
    history = libsbml.ModelHistory()
    _ok(history.addCreator(_model_creator(creator)), "add the model creator")
    date = _w3c_date(created)
    _ok(history.setCreatedDate(date), "set the created date")
    # A generated model was last modified when it was created; BioModels and libSBML's
    # ModelHistory.hasRequiredAttributes() both expect a modified date.
    _ok(history.addModifiedDate(date), "set the modified date")
    _ok(model.setModelHistory(history), "set the model history")


def _annotate(model: libsbml.Model, compiled: CompiledNetwork, encoding: str) -> None:
    """MIRIAM link to the paper, plus crn2sbml's own machine-readable record of what was compiled."""
    term = libsbml.CVTerm(libsbml.MODEL_QUALIFIER)
    _ok(term.setModelQualifierType(libsbml.BQM_IS_DESCRIBED_BY), "set the isDescribedBy qualifier")
    _ok(term.addResource(PAPER_URI), "add the paper's DOI")
    _ok(model.addCVTerm(term), "annotate the model with the paper")
    net = compiled.network
    attrs = libsbml.XMLAttributes()
    # libSBML escapes attribute values when it writes them; only characters XML cannot carry need replacing
    for name, value in (("weightsSha256", compiled.weights_hash), ("crn2sbmlVersion", __version__),
                        ("encoding", encoding), ("shape", net.shape_text()), ("activation", net.activation.name),
                        ("eps", repr(net.eps)), ("timeScale", repr(compiled.time_scale))):
        _ok(attrs.add(name, _XML_INVALID.sub("\ufffd", str(value))), f"add annotation attribute {name}")
    namespaces = libsbml.XMLNamespaces()
    _ok(namespaces.add(ANNOTATION_NS, "crn2sbml"), "declare the crn2sbml annotation namespace")
    node = libsbml.XMLNode(libsbml.XMLTriple("network", ANNOTATION_NS, "crn2sbml"), attrs, namespaces)
    _ok(model.appendAnnotation(node), "add the crn2sbml annotation")


def _notes(compiled: CompiledNetwork, encoding: str) -> str:
    net = compiled.network
    # every interpolated value is escaped: the activation name, for one, comes from a user's weights file
    e = _xml_text
    return (
        '<body xmlns="http://www.w3.org/1999/xhtml">'
        f"<p>Generated by crn2sbml {e(__version__)} ({e(encoding)} encoding).</p>"
        f"<p>Feed-forward network {e(net.shape_text())}; activation dy/dt = {e(net.activation.describe())}"
        f" ({e(net.activation.name)}), eps = {e(repr(net.eps))}, time scale c = {e(repr(compiled.time_scale))}.</p>"
        f"<p>Weights SHA-256: {e(compiled.weights_hash)}</p>"
        f"<p>Inputs (boundary species, feature order): {e(' '.join(compiled.input_species))}</p>"
        f"<p>Outputs (output order): {e(' '.join(compiled.output_species))}</p>"
        "<p>The unique positive steady state of the output species equals the network's forward pass "
        f"(Anderson, Joshi and Deshpande, J. R. Soc. Interface 18:20210031, 2021, doi:{e(PAPER_DOI)}).</p>"
        "</body>"
    )


def _unit_definition(model: libsbml.Model, uid: str, units: list[tuple[int, float]]) -> None:
    ud = model.createUnitDefinition()
    _ok(ud.setId(uid), f"set unit id {uid}")
    for kind, exponent in units:
        unit = ud.createUnit()
        _ok(unit.setKind(kind), "set unit kind")
        _ok(unit.setExponent(exponent), "set unit exponent")
        _ok(unit.setScale(0), "set unit scale")
        _ok(unit.setMultiplier(1.0), "set unit multiplier")


def _rate_unit(order: int) -> str:
    """Unit of a mass-action rate constant of total reaction order ``order``: (mol/L)^(1-order) / s."""
    return f"rate_order_{order}"


def _rate_units(orders: Iterable[int]) -> dict[str, list[tuple[int, float]]]:
    return {_rate_unit(n): [(libsbml.UNIT_KIND_MOLE, 1 - n), (libsbml.UNIT_KIND_LITRE, n - 1),
                            (libsbml.UNIT_KIND_SECOND, -1)] for n in sorted(orders)}


def _molar_unit(power: int) -> str:
    """Unit id of (mol/L)^power."""
    if power == 0:
        return "dimensionless"
    return "molar" if power == 1 else f"molar_pow_{power}".replace("-", "m")


def _molar_units(powers: Iterable[int]) -> dict[str, list[tuple[int, float]]]:
    return {_molar_unit(n): [(libsbml.UNIT_KIND_MOLE, n), (libsbml.UNIT_KIND_LITRE, -n)]
            for n in sorted(set(powers) - {0, 1})}


def _species_sbo(compiled: CompiledNetwork) -> dict[str, int]:
    sbo = {s: SBO_PERTURBING_AGENT for s in compiled.input_species}
    sbo.update((s, SBO_UNSPECIFIED_ENTITY) for s in compiled.neuron_species)
    sbo.update((s, SBO_OBSERVABLE) for s in compiled.output_species)
    return sbo


def _new_model(
    compiled: CompiledNetwork, encoding: str, units: dict[str, list[tuple[int, float]]], creator: Creator,
    created: datetime | None,
) -> tuple[libsbml.SBMLDocument, libsbml.Model]:
    doc = libsbml.SBMLDocument(_LEVEL, _VERSION)
    model = doc.createModel()
    _ok(model.setId(compiled.crn.name), "set model id")
    # history and MIRIAM annotations hang off the model's metaid
    _ok(model.setMetaId(f"meta_{compiled.crn.name}"), "set model metaid")
    _ok(model.setSBOTerm(SBO_NON_SPATIAL_CONTINUOUS), "set model SBO term")
    _ok(model.setName(f"crn2sbml {compiled.network.shape_text()} network ({encoding})"), "set model name")
    _unit_definition(model, "per_second", [(libsbml.UNIT_KIND_SECOND, -1)])
    _unit_definition(model, "molar", [(libsbml.UNIT_KIND_MOLE, 1), (libsbml.UNIT_KIND_LITRE, -1)])
    for uid, parts in units.items():
        _unit_definition(model, uid, parts)
    _ok(model.setTimeUnits("second"), "set time units")
    _ok(model.setSubstanceUnits("mole"), "set substance units")
    _ok(model.setExtentUnits("mole"), "set extent units")
    _ok(model.setVolumeUnits("litre"), "set volume units")
    _ok(model.setNotes(_notes(compiled, encoding)), "set model notes")
    _set_history(model, creator, created_timestamp(created))
    _annotate(model, compiled, encoding)
    comp = model.createCompartment()
    _ok(comp.setId("cell"), "set compartment id")
    _ok(comp.setSBOTerm(SBO_PHYSICAL_COMPARTMENT), "set compartment SBO term")
    _ok(comp.setSize(1.0), "set compartment size")
    _ok(comp.setSpatialDimensions(3), "set compartment dimensions")
    _ok(comp.setUnits("litre"), "set compartment units")
    _ok(comp.setConstant(True), "set compartment constant")
    species_sbo = _species_sbo(compiled)
    for species in compiled.crn.species:
        s = model.createSpecies()
        _ok(s.setId(species.id), f"set species id {species.id}")
        # COPASI and Tellurium show names: lead with the id, so it matches manifest.json ("x3 (input feature 3)")
        _ok(s.setName(f"{species.id} ({species.role})" if species.role else species.id), "set species name")
        _ok(s.setSBOTerm(species_sbo.get(species.id, SBO_UNSPECIFIED_ENTITY)), "set species SBO term")
        _ok(s.setCompartment("cell"), "set species compartment")
        _ok(s.setInitialConcentration(float(species.initial_concentration)), "set initial concentration")
        _ok(s.setSubstanceUnits("mole"), "set species units")
        _ok(s.setHasOnlySubstanceUnits(False), "set hasOnlySubstanceUnits")
        _ok(s.setBoundaryCondition(species.boundary), "set boundary condition")
        _ok(s.setConstant(False), "set species constant")
    return doc, model


def _species_ref(reaction: libsbml.Reaction, species: str, count: int, product: bool, sbo: int = 0) -> None:
    """A reactant or product reference; ``sbo`` 0 leaves the role to the list it sits in (no SBO term)."""
    ref = reaction.createProduct() if product else reaction.createReactant()
    # libSBML returns 0 on success and a negative code on failure: OR-ing the codes checks them all at once
    # (this runs ~10^5 times for an MNIST-size network, so per-call checks through _ok() are measurable).
    if (ref.setSpecies(species) | ref.setStoichiometry(float(count)) | ref.setConstant(True)
            | (ref.setSBOTerm(sbo) if sbo else 0)):
        raise ExportError(f"libSBML refused species reference {species!r} in reaction {reaction.getId()!r}")


def _kinetic_law(reaction: libsbml.Reaction, formula: str, sbo: int) -> libsbml.KineticLaw:
    ast = libsbml.parseL3Formula(formula)
    if ast is None:
        raise ExportError(f"libSBML could not parse kinetic law {formula!r}: {libsbml.getLastParseL3Error()}")
    law = reaction.createKineticLaw()
    if law.setMath(ast) | law.setSBOTerm(sbo):
        raise ExportError(f"libSBML refused the kinetic law of {reaction.getId()!r}")
    return law


def _finish(doc: libsbml.SBMLDocument) -> str:
    text = libsbml.writeSBMLToString(doc)
    if not text:
        raise ExportError("libSBML could not serialise the document")
    return text


def _add_elementary_reaction(model: libsbml.Model, rid: str, note: str, reactants: Complex, products: Complex,
                             rate_constant: float) -> None:
    produced = dict(products)
    consumed = dict(reactants)
    order = sum(consumed.values())
    degrades = sum(produced.values()) < order and all(n <= consumed.get(s, 0) for s, n in products)
    reaction = model.createReaction()
    if (reaction.setId(rid) | reaction.setReversible(False) | reaction.setName(f"{rid}: {note}" if note else rid)
            | reaction.setSBOTerm(SBO_DEGRADATION if degrades else SBO_BIOCHEMICAL_REACTION)):
        raise ExportError(f"libSBML refused reaction {rid!r}")
    # Catalysts appear as both reactant and product, as mass action requires, unchanged in number; only their
    # references carry an SBO term. A plain reactant's or product's role is already said by the list it is in;
    # tagging it too would add ~10^5 attributes to an MNIST-size model and no information.
    for s, n in reactants:
        _species_ref(reaction, s, n, False, SBO_SIDE_SUBSTRATE if produced.get(s) == n else 0)
    for s, n in products:
        _species_ref(reaction, s, n, True, SBO_SIDE_PRODUCT if consumed.get(s) == n else 0)
    law_sbo, k_sbo = _MASS_ACTION_SBO.get((order, len(consumed)), _MASS_ACTION_ANY_ORDER)
    factors = ["cell", "k"] + [s if n == 1 else f"{s}^{n}" for s, n in reactants]
    k = _kinetic_law(reaction, " * ".join(factors), law_sbo).createLocalParameter()
    if k.setId("k") | k.setValue(float(rate_constant)) | k.setUnits(_rate_unit(order)) | k.setSBOTerm(k_sbo):
        raise ExportError(f"libSBML refused the rate constant of reaction {rid!r}")


def to_sbml(compiled: CompiledNetwork, *, creator: Creator | None = None, created: datetime | None = None) -> str:
    """Elementary SBML: one mass-action reaction per CRN reaction (the lab artefact).

    ``creator`` (default :data:`DEFAULT_CREATOR`) and ``created`` (default: see :func:`created_timestamp`) go
    into the model history; pass a fixed ``created`` for byte-identical output.
    """
    units = _rate_units({r.order for r in compiled.crn.reactions})
    doc, model = _new_model(compiled, "elementary", units, creator or DEFAULT_CREATOR, created)
    for r in compiled.crn.reactions:
        _add_elementary_reaction(model, r.id, r.note, r.reactants, r.products, r.rate_constant)
    return _finish(doc)


def _modifier_sbo(coefficients: Iterable[float]) -> int:
    """SBO role of an upstream species from the signs of the monomial coefficients it multiplies.

    The rate's derivative with respect to upstream ``x`` is ``c · sum_p (b_p w) y^p`` with ``y > 0``: when every
    coefficient ``b_p w`` has one sign, ``x`` always speeds the reaction up (stimulator) or slows it down
    (inhibitor); otherwise the sign is not fixed (plain modifier).
    """
    signs = {c > 0 for c in coefficients}
    if signs == {True}:
        return SBO_STIMULATOR
    if signs == {False}:
        return SBO_INHIBITOR
    return SBO_MODIFIER


def _lumped_unit_power(mono: Monomial) -> int:
    """Exponent of mol/L in the unit of ``mono.coefficient``: the term ``coef · [catalyst] · y^p`` is in mol/L."""
    return -mono.power if mono.catalyst is not None else 1 - mono.power


def _lumped_law(sp: str, monomials: Iterable[Monomial], c: float) -> str:
    """``cell · c · sum_p (sum of the monomials of power p) · y^p``, every number carrying its unit.

    Grouping by power writes each upstream species once per power, as ``(a_p + b_p u) y^p`` did: the
    expression stays linear in the number of weights.
    """
    groups: dict[int, list[str]] = {}
    for mono in monomials:
        term = f"{float(mono.coefficient)!r} {_molar_unit(_lumped_unit_power(mono))}"
        groups.setdefault(mono.power, []).append(term if mono.catalyst is None else f"{term} * {mono.catalyst}")
    poly = []
    for p in sorted(groups):
        y_factor = "" if p == 0 else (f" * {sp}" if p == 1 else f" * {sp}^{p}")
        poly.append(f"({' + '.join(groups[p])}){y_factor}")
    return f"cell * {float(c)!r} per_second * (" + " + ".join(poly) + ")"


def to_lumped_sbml(compiled: CompiledNetwork, *, creator: Creator | None = None,
                   created: datetime | None = None) -> str:
    """Simulation SBML: one reaction ``-> Y`` per neuron with kinetic law ``cell · c · f(Y; u)``.

    The rate may be negative (the reaction is flagged reversible); the ODE is identical to the
    elementary model's: both are built from :meth:`CompiledNetwork.monomials`. Parameters are inlined as
    numbers so the JIT compiles a few large expressions. ``creator`` and ``created`` as for :func:`to_sbml`.
    """
    neurons = compiled.monomials()
    powers = {_lumped_unit_power(m) for monos in neurons.values() for m in monos}
    doc, model = _new_model(compiled, "lumped", _molar_units(powers), creator or DEFAULT_CREATOR, created)
    for sp, monos in neurons.items():
        reaction = model.createReaction()
        _ok(reaction.setId(f"{sp}_net"), "set reaction id")
        _ok(reaction.setReversible(True), "set reversible")
        _ok(reaction.setSBOTerm(SBO_COMPOSITE_PROCESS), "set reaction SBO term")
        _species_ref(reaction, sp, 1, True)
        upstream: dict[str, list[float]] = {}  # insertion order: input order, as in the network
        for mono in monos:
            if mono.catalyst is not None:
                upstream.setdefault(mono.catalyst, []).append(mono.coefficient)
        for src, coefficients in upstream.items():
            mod = reaction.createModifier()
            if mod.setSpecies(src) | mod.setSBOTerm(_modifier_sbo(coefficients)):
                raise ExportError(f"libSBML refused modifier {src!r} of reaction {sp}_net")
        _kinetic_law(reaction, _lumped_law(sp, monos, compiled.time_scale), SBO_RATE_LAW)
    return _finish(doc)
