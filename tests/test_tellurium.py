"""What a Tellurium user does with our Antimony text: te.loada, set the inputs, simulate, read the outputs."""

import numpy as np

from crn2sbml.compiler import compile_network
from crn2sbml.export.antimony import to_antimony
from tests.conftest import STEADY_STATE_RTOL, random_network
from tests.tellurium_session import run_tellurium


def test_tellurium_loads_antimony_and_settles_to_forward_pass(rng):
    net = random_network(71, (3, 4, 2), 0.1)
    compiled = compile_network(net)
    x = rng.uniform(0, 1, size=3)
    result = run_tellurium(
        """
        r = te.loada(antimony)
        r.x1, r.x2, r.x3 = x  # Python dynamic properties, as Tellurium users write it
        r.integrator.relative_tolerance = 1e-12
        r.integrator.absolute_tolerance = 1e-16
        r.simulate(0, 400, 2)
        result = [r.y1, r.y2]
        """,
        antimony=to_antimony(compiled), x=x.tolist(),
    )
    np.testing.assert_allclose(result, net.forward(x)[0], rtol=STEADY_STATE_RTOL)
