"""Network vs CRN on whole test sets: the evidence that the chemistry computes what the network computes."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from crn2sbml.nn.network import FeedForwardNetwork
from crn2sbml.simulate.base import SteadyStates


@dataclass(frozen=True)
class ClassificationAgreement:
    """Per test set: accuracies of both, how many predicted classes agree, and output differences."""

    n_samples: int
    network_accuracy: float
    crn_accuracy: float
    agreeing_samples: int
    max_abs_difference: float
    max_rel_difference: float
    max_residual: float
    all_converged: bool
    backend: str
    encoding: str

    @property
    def all_agree(self) -> bool:
        return self.agreeing_samples == self.n_samples

    def to_dict(self) -> dict:
        return asdict(self) | {"all_agree": self.all_agree}


def compare_classification(network: FeedForwardNetwork, x: np.ndarray, labels: np.ndarray,
                           crn: SteadyStates) -> ClassificationAgreement:
    """Compare ``crn.outputs`` ``(n, n_out)`` with ``network.forward(x)`` and both with ``labels``."""
    reference = network.forward(x)
    net_class = reference.argmax(axis=1)
    crn_class = crn.outputs.argmax(axis=1)
    diff = np.abs(crn.outputs - reference)
    return ClassificationAgreement(
        n_samples=int(len(x)),
        network_accuracy=float(np.mean(net_class == labels)),
        crn_accuracy=float(np.mean(crn_class == labels)),
        agreeing_samples=int(np.sum(net_class == crn_class)),
        max_abs_difference=float(diff.max()),
        max_rel_difference=float((diff / reference).max()),
        max_residual=float(crn.residual.max()),
        all_converged=bool(crn.converged.all()),
        backend=crn.backend,
        encoding=crn.encoding,
    )
