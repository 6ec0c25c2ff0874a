"""crn2sbml: neural networks with smoothed-ReLU activations compiled into mass-action reaction networks."""

__version__ = "0.1.0"
