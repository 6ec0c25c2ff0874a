"""SED-ML and COMBINE archive construction: valid for libSEDML, one model file and task per sample, a report
beside the expected outputs, clear errors for bad samples. (Execution by Tellurium and COPASI:
tests/test_artefacts.py.)"""

import libsbml
import libsedml
import numpy as np
import pytest

from crn2sbml.compiler import compile_network
from crn2sbml.errors import InputError
from crn2sbml.export.omex import MAX_ARCHIVE_SAMPLES, sample_sbml, settle_duration, to_sedml
from crn2sbml.export.sbml import to_sbml
from crn2sbml.nn.activations import power_activation
from crn2sbml.nn.network import FeedForwardNetwork
from tests.conftest import random_network


def test_sedml_has_one_model_and_task_per_sample_and_a_report():
    compiled = compile_network(random_network(81, (3, 4, 2), 0.1))
    x = np.array([[0.2, 0.5, 0.9], [1.0, 0.0, 2.0]])
    doc = libsedml.readSedMLFromString(to_sedml(compiled, x))
    assert doc.getNumErrors(libsedml.LIBSEDML_SEV_ERROR) == 0
    assert [doc.getModel(i).getSource() for i in range(2)] == ["samples/sample_1.xml", "samples/sample_2.xml"]
    assert [doc.getTask(i).getModelReference() for i in range(2)] == ["sample_1", "sample_2"]
    report = doc.getOutput(0)
    labels = [report.getDataSet(i).getLabel() for i in range(report.getNumDataSets())]
    assert labels == ["time", "s1_y1", "s1_y1_expected", "s1_y2", "s1_y2_expected",
                      "s2_y1", "s2_y1_expected", "s2_y2", "s2_y2_expected"]
    expected = compiled.network.forward(x)
    math = libsedml.formulaToL3String(doc.getDataGenerator("dg_s2_y1_expected").getMath())
    assert float(math.rsplit("+", 1)[1]) == pytest.approx(expected[1, 0], rel=1e-15)


def test_sample_files_set_exactly_the_inputs():
    compiled = compile_network(random_network(82, (3, 2), 0.1))
    model = libsbml.readSBMLFromString(sample_sbml(to_sbml(compiled), compiled.input_species,
                                                   [0.25, 1.5, 3.0])).getModel()
    assert [model.getSpecies(s).getInitialConcentration() for s in ("x1", "x2", "x3")] == [0.25, 1.5, 3.0]
    assert model.getNumReactions() == len(compiled.crn.reactions)


def test_duration_follows_the_activations_own_slowest_rate():
    layers = [(np.ones((1, 2)), np.zeros(1))]
    relu = compile_network(FeedForwardNetwork.from_arrays(layers, eps=0.04))
    cubic = compile_network(FeedForwardNetwork.from_arrays(layers, activation=power_activation(0.04, 3)))
    assert settle_duration(relu) == pytest.approx(40 / (2 * np.sqrt(0.04)))
    # eps + u·y - y³ relaxes more slowly than the smoothed ReLU's 2·sqrt(eps): its archive settles for longer
    assert settle_duration(cubic) == pytest.approx(40 / cubic.network.activation.rate_bound())
    assert settle_duration(cubic) > settle_duration(relu)


def test_bad_samples_are_refused():
    compiled = compile_network(random_network(83, (3, 2), 0.1))
    with pytest.raises(InputError, match="expected 3 features"):
        to_sedml(compiled, [[1.0]])
    with pytest.raises(InputError, match=">= 0"):
        to_sedml(compiled, [[1.0, -1.0, 0.0]])
    with pytest.raises(InputError, match=f"at most {MAX_ARCHIVE_SAMPLES}"):
        to_sedml(compiled, np.ones((MAX_ARCHIVE_SAMPLES + 1, 3)))
