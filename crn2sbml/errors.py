"""Typed errors raised by crn2sbml.

Every stage raises one of these (never logs and carries on), so callers can catch the family
``Crn2SbmlError`` and the CLI can turn any of them into a one-line message with a non-zero exit.
"""

from __future__ import annotations


class Crn2SbmlError(Exception):
    """Base class of every error crn2sbml raises on purpose."""


class InputError(Crn2SbmlError, ValueError):
    """Bad user input: a malformed file, a wrong shape, a non-finite or out-of-range number."""


class NetworkError(InputError):
    """A neural network that cannot be built: mismatched layer shapes, NaN weights, eps <= 0."""


class ActivationError(InputError):
    """A polynomial activation that mass action cannot realise, or that has not exactly one positive root."""


class UnsupportedModelError(InputError, NotImplementedError):
    """An imported model uses something the construction cannot represent (a convolution, tanh, ...)."""


class ExportError(Crn2SbmlError):
    """libSBML or libantimony refused to build or serialise a model."""


class SimulationError(Crn2SbmlError):
    """A simulator failed to load a model or did not settle within its time budget."""


class LimitError(InputError):
    """An input over a size limit (file bytes, array elements): refused before it is read into memory."""


class ModelFileError(InputError, SimulationError):
    """SBML text refused before any simulator sees it: not XML, a DTD or entity declaration, not valid SBML
    Level 3, an SBML package that can pull in other files. Also a SimulationError: the model cannot be loaded."""


class ModelMismatchError(ModelFileError):
    """An SBML model that is not the one the manifest describes (species missing, inputs not boundary species)."""


class IntegrityError(InputError):
    """A file of a compiled model folder whose SHA-256 differs from the digest its manifest records."""


class SimulatorInputError(InputError, SimulationError):
    """Input concentrations a simulator refused (wrong shape, NaN or inf, negative); the same type from every
    backend. Also a SimulationError, which the COPASI backend raised for them before."""
