"""Exporters: a compiled network in, text or bytes out. ``export(compiled, format)`` is the one entry point.

| format          | what                                                                  | module   |
|-----------------|-----------------------------------------------------------------------|----------|
| ``sbml``        | SBML L3V2, one mass-action reaction per CRN reaction (the lab artefact) | sbml     |
| ``sbml-lumped`` | SBML L3V2, one reaction per neuron (fast to simulate, same ODE)        | sbml     |
| ``antimony``    | Antimony text equivalent to ``sbml``                                  | antimony |
| ``cps``         | COPASI file with a time course, per-sample parameter sets and a scan   | copasi   |
| ``omex``        | COMBINE archive: ``sbml`` + SED-ML settling the samples + metadata     | omex     |
| ``crn``         | plain-text reaction list                                              | (crn.py) |
| ``dsd``         | ``dsd.pil``: three-domain DNA strand-displacement design (peppercorn) | dsd      |

A new format is one more entry in :data:`FORMATS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crn2sbml.compiler import CompiledNetwork
from crn2sbml.errors import ExportError


class UnsupportedFormatError(ExportError, NotImplementedError):
    """The requested export format does not exist (or cannot represent this network)."""


def _sbml(compiled: CompiledNetwork, **_: Any) -> str:
    from crn2sbml.export.sbml import to_sbml

    return to_sbml(compiled)


def _lumped(compiled: CompiledNetwork, **_: Any) -> str:
    from crn2sbml.export.sbml import to_lumped_sbml

    return to_lumped_sbml(compiled)


def _antimony(compiled: CompiledNetwork, **_: Any) -> str:
    from crn2sbml.export.antimony import to_antimony

    return to_antimony(compiled)


def _cps(compiled: CompiledNetwork, samples: Any = None, sbml: str | None = None, **_: Any) -> bytes:
    from crn2sbml.export.copasi import to_cps

    return to_cps(compiled, sbml or _sbml(compiled), samples)


def _omex(compiled: CompiledNetwork, samples: Any = None, sbml: str | None = None, **_: Any) -> bytes:
    from crn2sbml.export.omex import to_omex

    return to_omex(compiled, sbml or _sbml(compiled), samples)


def _crn(compiled: CompiledNetwork, **_: Any) -> str:
    return compiled.crn.to_text()


def _dsd(compiled: CompiledNetwork, **_: Any) -> str:
    # the domain-level design alone; crn2sbml.dsd.dsd_files writes it with formal.crn, physical.crn, dsd.json
    from crn2sbml.dsd import design_pil

    return design_pil(compiled)


FORMATS: dict[str, Callable[..., str | bytes]] = {
    "sbml": _sbml, "sbml-lumped": _lumped, "antimony": _antimony, "cps": _cps, "omex": _omex,
    "crn": _crn, "dsd": _dsd,
}


def export(compiled: CompiledNetwork, format: str, *, samples: Any = None, sbml: str | None = None) -> str | bytes:
    """``compiled`` in ``format`` (see the module table). ``samples`` (``(n, n_inputs)`` concentrations) go
    go into ``cps``/``omex``; ``sbml`` reuses already written elementary SBML text."""
    try:
        writer = FORMATS[format]
    except KeyError:
        raise UnsupportedFormatError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}") from None
    return writer(compiled, samples=samples, sbml=sbml)


__all__ = ["FORMATS", "UnsupportedFormatError", "export"]
