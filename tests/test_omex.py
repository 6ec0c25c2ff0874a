"""SED-ML and COMBINE archives: valid for libSEDML/libCombine, and Tellurium runs them to the forward pass."""

import libcombine
import libsedml
import numpy as np
import pytest

from crn2sbml.compiler import compile_network
from crn2sbml.errors import InputError
from crn2sbml.export.omex import to_omex, to_sedml
from crn2sbml.export.sbml import to_sbml
from tests.conftest import STEADY_STATE_RTOL, random_network
from tests.tellurium_session import run_tellurium


def test_sedml_is_valid_and_sets_inputs():
    compiled = compile_network(random_network(81, (3, 4, 2), 0.1))
    doc = libsedml.readSedMLFromString(to_sedml(compiled, [0.2, 0.5, 0.9]))
    assert doc.getNumErrors(libsedml.LIBSEDML_SEV_ERROR) == 0
    changes = doc.getModel(0).getListOfChanges()
    assert [c.getNewValue() for c in changes] == ["0.2", "0.5", "0.9"]
    assert doc.getNumDataGenerators() == 3  # time + two outputs
    with pytest.raises(InputError, match="expected 3 input values"):
        to_sedml(compiled, [1.0])


def test_tellurium_runs_the_archive_to_the_forward_pass(tmp_path):
    net = random_network(82, (3, 4, 2), 0.1)
    compiled = compile_network(net)
    x = [0.2, 0.5, 0.9]
    path = tmp_path / "model.omex"
    path.write_bytes(to_omex(compiled, to_sbml(compiled), x))
    archive = libcombine.CombineArchive()
    assert archive.initializeFromArchive(str(path))
    assert sorted(str(loc) for loc in archive.getAllLocations()) == ["./model.xml", "./simulation.sedml"]
    assert archive.getMasterFile().getLocation() == "./simulation.sedml"
    archive.cleanUp()
    final = run_tellurium(
        """
        results = te.executeCombineArchive(path, printPython=False, saveOutputs=False)
        generators = next(iter(results.values()))["dataGenerators"]
        result = [float(generators[f"dg_{s}"][-1, 0]) for s in outputs]
        """,
        path=str(path), outputs=list(compiled.output_species),
    )
    np.testing.assert_allclose(final, net.forward(np.array(x))[0], rtol=STEADY_STATE_RTOL)
