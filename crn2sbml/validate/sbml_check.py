"""libSBML's full consistency check (units included) as a small result object."""

from __future__ import annotations

from dataclasses import dataclass

import libsbml


@dataclass(frozen=True)
class SbmlCheck:
    """Problems libSBML reported: ``errors`` (error or fatal) and ``warnings``, as ``(id, message)``."""

    errors: tuple[tuple[int, str], ...]
    warnings: tuple[tuple[int, str], ...]

    def is_valid(self) -> bool:
        return not self.errors

    def is_perfect(self) -> bool:
        return not self.errors and not self.warnings

    def summary(self) -> str:
        return f"{len(self.errors)} errors, {len(self.warnings)} warnings"


def check_sbml(sbml: str, units: bool = True) -> SbmlCheck:
    """Read SBML text and run every consistency check (identifiers, MathML, units, modelling practice)."""
    doc = libsbml.readSBMLFromString(sbml)
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, units)
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_MODELING_PRACTICE, True)
    doc.checkConsistency()
    errors: list[tuple[int, str]] = []
    warnings: list[tuple[int, str]] = []
    for i in range(doc.getNumErrors()):
        err = doc.getError(i)
        item = (err.getErrorId(), err.getMessage().strip())
        (errors if err.getSeverity() >= libsbml.LIBSBML_SEV_ERROR else warnings).append(item)
    return SbmlCheck(tuple(errors), tuple(warnings))
