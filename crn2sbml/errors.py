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
