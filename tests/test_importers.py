"""Importers: scikit-learn MLPs, ONNX graphs and safetensors files become σ_eps networks with the same layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from safetensors.numpy import save_file
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor

from crn2sbml.cli import main
from crn2sbml.errors import InputError, UnsupportedModelError
from crn2sbml.io import load_weights
from crn2sbml.nn.activations import smoothed_relu
from crn2sbml.nn.importers import (
    from_onnx,
    from_safetensors,
    from_sklearn,
    import_onnx,
    sklearn_accuracy_shift,
)
from crn2sbml.nn.network import FeedForwardNetwork

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

EXACT = {"rtol": 1e-12, "atol": 1e-12}
"""Pre-activations must be the source's own affine maps: only float rounding may differ."""


# ---------------------------------------------------------------- helpers
def check_pre_activations(network: FeedForwardNetwork, source: list[tuple[np.ndarray, np.ndarray]],
                          x: np.ndarray) -> None:
    """``source``: per layer ``(W, b)`` with ``W`` of shape ``(n_out, n_in)``; hidden values are σ_eps."""
    us = network.pre_activations(x)
    assert len(us) == len(source)
    h = np.asarray(x, dtype=float)
    for u, (w, b) in zip(us, source, strict=True):
        expected = h @ np.asarray(w, dtype=float).T + np.asarray(b, dtype=float)
        np.testing.assert_allclose(u, expected, **EXACT)
        h = smoothed_relu(expected, network.eps)


def relu_chain(network: FeedForwardNetwork, x: np.ndarray) -> np.ndarray:
    """The source model's function: ReLU between the network's layers, no activation on the last one."""
    h = np.asarray(x, dtype=float)
    for i, layer in enumerate(network.layers):
        h = h @ layer.weights.T + layer.bias
        if i < len(network.layers) - 1:
            h = np.maximum(h, 0.0)
    return h


def split(loader) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = loader(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    scale = x_train.max(axis=0)  # raw features are >= 0, so the scaled ones stay non-negative concentrations
    return x_train / scale, x_test / scale, y_train, y_test


@pytest.fixture(scope="module")
def iris():
    x_train, x_test, y_train, y_test = split(load_iris)
    model = MLPClassifier((8, 6), solver="lbfgs", max_iter=1000, random_state=0).fit(x_train, y_train)
    return model, x_test, y_test


@pytest.fixture(scope="module")
def cancer():
    x_train, x_test, y_train, y_test = split(load_breast_cancer)
    model = MLPClassifier((8,), solver="lbfgs", max_iter=1000, random_state=0).fit(x_train, y_train)
    return model, x_test, y_test


# ---------------------------------------------------------------- scikit-learn
def test_sklearn_multiclass_layers_are_the_fitted_ones(iris):
    model, x, _ = iris
    network = from_sklearn(model, eps=0.05)
    assert network.shape == (4, 8, 6, 3)
    assert network.eps == 0.05 and network.activation.is_smoothed_relu()
    check_pre_activations(network, [(c.T, b) for c, b in zip(model.coefs_, model.intercepts_, strict=True)], x)
    # With ReLU restored and softmax on top, the layers reproduce sklearn itself (checks the transpose).
    logits = relu_chain(network, x)
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(proba / proba.sum(axis=1, keepdims=True), model.predict_proba(x), rtol=1e-9, atol=1e-12)


def test_sklearn_multiclass_predictions_and_accuracy_shift(iris):
    model, x, y = iris
    network = from_sklearn(model, eps=0.05)
    predicted = model.classes_[network.forward(x).argmax(axis=1)]
    assert np.mean(predicted == model.predict(x)) >= 0.9
    report = sklearn_accuracy_shift(model, network, x, y)
    assert set(report) == {"n_samples", "sklearn_accuracy", "network_accuracy", "accuracy_shift", "agreement"}
    assert report["n_samples"] == len(y)
    assert report["sklearn_accuracy"] == pytest.approx(model.score(x, y))
    assert report["network_accuracy"] == pytest.approx(np.mean(predicted == y))
    assert report["accuracy_shift"] == pytest.approx(report["network_accuracy"] - report["sklearn_accuracy"])
    assert report["agreement"] >= 0.9
    # As eps -> 0, σ_eps -> ReLU and the argmax is exactly sklearn's.
    assert sklearn_accuracy_shift(model, from_sklearn(model, eps=1e-8), x, y)["agreement"] == 1.0


def test_sklearn_binary_becomes_two_outputs_with_the_right_argmax(cancer):
    model, x, y = cancer
    assert model.n_outputs_ == 1 and model.out_activation_ == "logistic"
    network = from_sklearn(model, eps=0.05)
    assert network.n_outputs == 2
    w, b = model.coefs_[-1].T, model.intercepts_[-1]
    np.testing.assert_array_equal(network.layers[-1].weights, np.vstack([-w, w]))
    np.testing.assert_array_equal(network.layers[-1].bias, np.concatenate([-b, b]))
    check_pre_activations(network, [(model.coefs_[0].T, model.intercepts_[0]), (np.vstack([-w, w]), [-b[0], b[0]])], x)
    # argmax picks class 1 exactly when the logistic unit's pre-activation is positive ...
    u = network.pre_activations(x)[-1][:, 1]
    np.testing.assert_array_equal(network.forward(x).argmax(axis=1), (u > 0).astype(int))
    # ... which is sklearn's rule: with ReLU restored the outputs give sklearn's probabilities and classes.
    logit = relu_chain(network, x)[:, 1]
    proba = np.exp(-np.logaddexp(0.0, -logit))  # logistic, without overflow
    np.testing.assert_allclose(proba, model.predict_proba(x)[:, 1], rtol=1e-9, atol=1e-12)
    exact = from_sklearn(model, eps=1e-10)
    np.testing.assert_array_equal(model.classes_[exact.forward(x).argmax(axis=1)], model.predict(x))
    report = sklearn_accuracy_shift(model, network, x, y)
    assert report["agreement"] >= 0.9 and abs(report["accuracy_shift"]) <= 0.05


def test_sklearn_regressor_output_is_smoothed_relu_of_prediction():
    x, _ = load_iris(return_X_y=True)
    x = x / x.max(axis=0)
    features, target = x[:, :3], x[:, 3]  # petal width (>= 0) from the other measurements
    model = MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=500, random_state=0).fit(features, target)
    network = from_sklearn(model, eps=0.05)
    assert network.shape == (3, 5, 1)
    check_pre_activations(network, [(c.T, b) for c, b in zip(model.coefs_, model.intercepts_, strict=True)], features)
    np.testing.assert_allclose(relu_chain(network, features)[:, 0], model.predict(features), rtol=1e-9, atol=1e-12)
    tiny = from_sklearn(model, eps=1e-12)
    np.testing.assert_allclose(tiny.forward(features)[:, 0], np.maximum(model.predict(features), 0), atol=1e-5)
    with pytest.raises(InputError, match="needs a classifier"):
        sklearn_accuracy_shift(model, network, features, target)


@pytest.mark.parametrize("activation", ["tanh", "logistic", "identity"])
def test_sklearn_refuses_other_activations(iris, activation):
    x, y = load_iris(return_X_y=True)
    model = MLPClassifier((3,), activation=activation, max_iter=5, random_state=0).fit(x, y)
    with pytest.raises(UnsupportedModelError, match=repr(activation)):
        from_sklearn(model)


def test_sklearn_refuses_unfitted_multilabel_and_other_estimators(iris):
    with pytest.raises(InputError, match="not fitted"):
        from_sklearn(MLPClassifier((4,)))
    with pytest.raises(InputError, match="not fitted"):
        from_sklearn(MLPRegressor((4,)))
    x, y = load_iris(return_X_y=True)
    with pytest.raises(UnsupportedModelError, match="LogisticRegression"):
        from_sklearn(LogisticRegression(max_iter=5).fit(x, y))
    multilabel = MLPClassifier((3,), max_iter=5, random_state=0).fit(x, np.eye(3)[y].astype(int))
    with pytest.raises(UnsupportedModelError, match="multilabel"):
        from_sklearn(multilabel)
    model, x_test, y_test = iris
    with pytest.raises(InputError, match="outputs"):
        sklearn_accuracy_shift(model, FeedForwardNetwork.from_arrays([(np.ones((2, 4)), np.zeros(2))]), x_test, y_test)
    with pytest.raises(InputError, match="labels"):
        sklearn_accuracy_shift(model, from_sklearn(model), x_test, y_test[:-1])


# ---------------------------------------------------------------- ONNX
def tensor(name: str, arr: np.ndarray, dtype: type = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(arr, dtype=dtype), name)


def onnx_model(nodes: list[onnx.NodeProto], weights: dict[str, np.ndarray], n_in: int, n_out: int,
               x_name: str = "x", y_name: str = "y", input_shape: list | None = None,
               double: bool = False) -> onnx.ModelProto:
    """``double``: float64 tensors, so that ReferenceEvaluator computes in float64 (1e-9 comparisons)."""
    elem, dtype = (TensorProto.DOUBLE, np.float64) if double else (TensorProto.FLOAT, np.float32)
    graph = helper.make_graph(
        nodes,
        "net",
        [helper.make_tensor_value_info(x_name, elem, input_shape or ["N", n_in])],
        [helper.make_tensor_value_info(y_name, elem, ["N", n_out])],
        initializer=[tensor(k, v, dtype) for k, v in weights.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def f32(arr: np.ndarray) -> np.ndarray:
    """The float32 values the ONNX file stores, as float64."""
    return np.asarray(arr, dtype=np.float32).astype(float)


@pytest.fixture(scope="module")
def mixed_onnx():
    """Gemm(transB=1, alpha, beta) -> Relu -> Gemm(transB=0) -> Relu -> MatMul -> Add: shape 3-5-4-2."""
    rng = np.random.default_rng(7)
    w = {
        "B1": rng.normal(size=(5, 3)), "C1": rng.normal(size=5),
        "B2": rng.normal(size=(5, 4)), "C2": rng.normal(size=(1, 4)),
        "B3": rng.normal(size=(4, 2)), "C3": rng.normal(size=2),
    }
    nodes = [
        helper.make_node("Gemm", ["x", "B1", "C1"], ["g1"], name="fc1", transB=1, alpha=0.5, beta=2.0),
        helper.make_node("Relu", ["g1"], ["r1"], name="relu1"),
        helper.make_node("Gemm", ["r1", "B2", "C2"], ["g2"], name="fc2", transB=0),
        helper.make_node("Relu", ["g2"], ["r2"], name="relu2"),
        helper.make_node("MatMul", ["r2", "B3"], ["m3"], name="fc3"),
        helper.make_node("Add", ["C3", "m3"], ["y"], name="bias3"),
    ]
    model = onnx_model(nodes, w, 3, 2)
    source = [
        (0.5 * f32(w["B1"]), 2.0 * f32(w["C1"])),
        (f32(w["B2"]).T, f32(w["C2"]).reshape(-1)),
        (f32(w["B3"]).T, f32(w["C3"])),
    ]
    x = np.random.default_rng(8).uniform(0, 2, size=(20, 3))
    return model, source, x


def test_onnx_gemm_matmul_add_relu_chain(mixed_onnx, tmp_path):
    model, source, x = mixed_onnx
    path = tmp_path / "net.onnx"
    onnx.save(model, path)
    for given in (path, str(path), model.SerializeToString(), model):
        network = from_onnx(given, eps=0.02)
        assert network.shape == (3, 5, 4, 2) and network.eps == 0.02
        check_pre_activations(network, source, x)
    # The layers reproduce ONNX's own semantics of Gemm/MatMul/Add/Relu (reference evaluator, float32).
    reference = ReferenceEvaluator(model).run(None, {"x": x.astype(np.float32)})[0]
    np.testing.assert_allclose(relu_chain(network, x), reference, rtol=1e-4, atol=1e-4)


def test_onnx_final_relu_and_noop_flatten_and_composed_linear_nodes():
    rng = np.random.default_rng(3)
    w = {"A": rng.normal(size=(4, 3)), "a": rng.normal(size=3), "B": rng.normal(size=(3, 2)), "c": rng.normal(size=2)}
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"], name="flat", axis=1),
        helper.make_node("MatMul", ["f", "A"], ["m1"], name="mm1"),
        helper.make_node("Add", ["m1", "a"], ["l1"], name="add1"),
        helper.make_node("Gemm", ["l1", "B", "c"], ["g"], name="gemm"),  # no Relu between: composed exactly
        helper.make_node("Relu", ["g"], ["y"], name="out_relu"),
    ]
    model = onnx_model(nodes, w, 4, 2)
    network = from_onnx(model)
    assert network.shape == (4, 2)
    a, bias_a, b, c = (f32(w[k]) for k in ("A", "a", "B", "c"))
    x = rng.uniform(0, 1, size=(6, 4))
    np.testing.assert_allclose(network.pre_activations(x)[0], (x @ a + bias_a) @ b + c, rtol=1e-12, atol=1e-12)
    reference = ReferenceEvaluator(model).run(None, {"x": x.astype(np.float32)})[0]
    np.testing.assert_allclose(np.maximum(network.pre_activations(x)[0], 0), reference, rtol=1e-4, atol=1e-4)


def _unsupported_graphs() -> dict[str, tuple[onnx.ModelProto, list[str]]]:
    rng = np.random.default_rng(0)
    w = {"W": rng.normal(size=(3, 3)), "b": rng.normal(size=3)}

    def chain(*middle: onnx.NodeProto, weights: dict | None = None, **kw) -> onnx.ModelProto:
        nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["h"], name="fc"), *middle]
        return onnx_model(nodes, weights or w, 3, 3, **kw)

    conv_w = {"K": rng.normal(size=(2, 1, 3, 3))}
    conv = onnx_model([helper.make_node("Conv", ["x", "K"], ["y"], name="conv0")], conv_w, 1, 2,
                      input_shape=["N", 1, 5, 5])
    return {
        "tanh": (chain(helper.make_node("Tanh", ["h"], ["y"], name="act_tanh")), ["act_tanh", "Tanh"]),
        "sigmoid": (chain(helper.make_node("Sigmoid", ["h"], ["y"], name="sig")), ["sig", "Sigmoid"]),
        "softmax": (chain(helper.make_node("Softmax", ["h"], ["y"], name="probs")),
                    ["probs", "Softmax", "drop_softmax=True", "--drop-softmax", "argmax"]),
        "logsoftmax": (chain(helper.make_node("LogSoftmax", ["h"], ["y"], name="logp")),
                       ["logp", "LogSoftmax", "drop_softmax=True"]),
        "conv": (conv, ["node 'conv0' (op_type Conv) is not supported"]),  # the op, not the 4-D input
        "conv_2d": (onnx_model([helper.make_node("Conv", ["x", "K"], ["y"], name="conv0")], conv_w, 3, 3),
                    ["conv0", "Conv"]),
        "skip": (chain(helper.make_node("Relu", ["h"], ["r"], name="relu"),
                       helper.make_node("Add", ["r", "h"], ["y"], name="residual")),
                 ["'h'", "relu", "residual", "Add"]),
        "add_computed": (chain(helper.make_node("Relu", ["x"], ["r0"], name="side"),
                               helper.make_node("Add", ["h", "r0"], ["y"], name="join")), ["x", "fc", "side"]),
        "flatten_axis0": (chain(helper.make_node("Flatten", ["h"], ["y"], name="flat0", axis=0)), ["flat0", "Flatten"]),
        "relu_first": (onnx_model([helper.make_node("Relu", ["x"], ["y"], name="r_in")], {}, 3, 3), ["r_in", "Relu"]),
        "bias_only": (onnx_model([helper.make_node("Add", ["x", "b"], ["y"], name="shift")], w, 3, 3),
                      ["shift", "Add"]),
        "computed_weight": (onnx_model([helper.make_node("Relu", ["W"], ["Wr"], name="wrelu"),
                                        helper.make_node("MatMul", ["x", "Wr"], ["y"], name="mm")], w, 3, 3),
                            ["'mm'", "MatMul", "'Wr'", "computed"]),
        "output_reused": (chain(helper.make_node("Relu", ["h"], ["y"], name="r"),
                                helper.make_node("Relu", ["y"], ["z"], name="again")), ["again", "Relu"]),
        "transA": (onnx_model([helper.make_node("Gemm", ["x", "W", "b"], ["y"], name="gt", transA=1)], w, 3, 3),
                   ["gt", "Gemm", "transA"]),
    }


@pytest.mark.parametrize("case", list(_unsupported_graphs()))
def test_onnx_refuses_unsupported_nodes_naming_them(case):
    model, words = _unsupported_graphs()[case]
    with pytest.raises(UnsupportedModelError) as info:
        from_onnx(model)
    for word in words:
        assert word in str(info.value), (case, str(info.value))


def test_onnx_unreadable_or_missing_file_names_it(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"garbage\x00\xff\x12 not a protobuf")
    with pytest.raises(InputError, match="broken.onnx"):
        from_onnx(bad)
    with pytest.raises(InputError, match="missing.onnx"):
        from_onnx(tmp_path / "missing.onnx")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty.onnx"):
        from_onnx(empty)


def test_onnx_shape_mismatch_names_the_node():
    w = {"W": np.ones((4, 2)), "b": np.zeros(2)}
    model = onnx_model([helper.make_node("Gemm", ["x", "W", "b"], ["y"], name="wrong_width")], w, 3, 2)
    with pytest.raises(InputError, match="wrong_width"):
        from_onnx(model)


def test_onnx_conv_is_named_before_any_structural_complaint():
    """A dynamic ``view`` as exported by PyTorch: x feeds Shape and Reshape, which used to be reported as
    'tensor used by 2 nodes'; the Conv is what cannot be represented, and it must lead the message."""
    rng = np.random.default_rng(5)
    w = {"K": rng.normal(size=(2, 1, 3, 3)), "idx": np.array(0.0), "tail": np.array([1.0, 5.0, 5.0]),
         "W": rng.normal(size=(3, 18)), "b": rng.normal(size=3)}
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"], name="shape0"),
        helper.make_node("Gather", ["shp", "idx"], ["n"], name="gather0"),
        helper.make_node("Concat", ["n", "tail"], ["new_shape"], name="concat0", axis=0),
        helper.make_node("Reshape", ["x", "new_shape"], ["img"], name="view0"),
        helper.make_node("Conv", ["img", "K"], ["c"], name="conv1"),
        helper.make_node("Relu", ["c"], ["r"], name="relu1"),
        helper.make_node("Flatten", ["r"], ["f"], name="flat1", axis=1),
        helper.make_node("Gemm", ["f", "W", "b"], ["y"], name="fc", transB=1),
    ]
    with pytest.raises(UnsupportedModelError) as info:
        from_onnx(onnx_model(nodes, w, 25, 3))
    message = str(info.value)
    assert message.startswith("ONNX model: node 'conv1' (op_type Conv) is not supported"), message
    assert "used by" not in message
    for plumbing in ("'shape0' (op_type Shape)", "'view0' (op_type Reshape)"):  # listed too, after the Conv
        assert message.index(plumbing) > message.index("Conv")


@pytest.mark.parametrize("case", ["batchnorm_training", "softmax_inside", "foreign_domain"])
def test_onnx_operator_problems_come_before_branch_complaints(case):
    """``x`` feeds two nodes (a branch); the operator's own problem is reported, not the branch."""
    rng = np.random.default_rng(9)
    w = {"W": rng.normal(size=(3, 3)), "b": rng.normal(size=3), "s": np.ones(3), "m": np.zeros(3), "v": np.ones(3)}
    culprit = {
        "batchnorm_training": (helper.make_node("BatchNormalization", ["h", "s", "b", "m", "v"], ["z"], name="bn_t",
                                                training_mode=1), ["bn_t", "training mode"]),
        "softmax_inside": (helper.make_node("Softmax", ["h"], ["z"], name="sm_mid", axis=1),
                           ["sm_mid", "only a trailing Softmax"]),
        "foreign_domain": (helper.make_node("FusedGemm", ["h", "W"], ["z"], name="fused", domain="com.microsoft"),
                           ["fused", "com.microsoft"]),
    }[case]
    nodes = [
        helper.make_node("Gemm", ["x", "W", "b"], ["h"], name="fc"),
        culprit[0],
        helper.make_node("Relu", ["x"], ["side"], name="branch"),
        helper.make_node("Add", ["z", "side"], ["y"], name="join"),
    ]
    model = onnx_model(nodes, w, 3, 3)
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(UnsupportedModelError) as info:
        from_onnx(model, drop_softmax=True)
    for word in culprit[1]:
        assert word in str(info.value), str(info.value)
    assert "used by" not in str(info.value)


# ---------------------------------------------------------------- ONNX BatchNormalization
BN_EPSILON = float(np.float32(1e-3))
"""ONNX stores float attributes as float32: the fold must use the stored value."""


def bn_params(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Scales of both signs, and variances down to 1e-4 where ``epsilon`` = 1e-3 dominates ``sqrt(var + eps)``."""
    return {"scale": rng.uniform(0.5, 2.0, size=n) * rng.choice([-1.0, 1.0], size=n),
            "shift": rng.normal(size=n), "mean": rng.normal(scale=2.0, size=n),
            "var": 10.0 ** rng.uniform(-4, 1, size=n)}


def batchnorm_graph(first: str, rng: np.random.Generator) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """float64 ``first`` (Gemm, or MatMul + Add) -> BatchNormalization -> Relu -> Gemm, shape 4-6-3."""
    w = {"W1": rng.normal(size=(6, 4)), "b1": rng.normal(size=6), **bn_params(rng, 6),
         "W2": rng.normal(size=(6, 3)), "b2": rng.normal(size=3)}
    if first == "gemm":
        linear = [helper.make_node("Gemm", ["x", "W1", "b1"], ["lin"], name="fc1", transB=1)]
    else:
        w["W1"] = w["W1"].T.copy()  # MatMul takes (n_in, n_out)
        linear = [helper.make_node("MatMul", ["x", "W1"], ["mm"], name="fc1"),
                  helper.make_node("Add", ["mm", "b1"], ["lin"], name="bias1")]
    nodes = [*linear,
             helper.make_node("BatchNormalization", ["lin", "scale", "shift", "mean", "var"], ["bn"], name="bn1",
                              epsilon=BN_EPSILON),
             helper.make_node("Relu", ["bn"], ["r"], name="relu1"),
             helper.make_node("Gemm", ["r", "W2", "b2"], ["y"], name="fc2")]
    return onnx_model(nodes, w, 4, 3, double=True), w


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


@pytest.mark.parametrize("first", ["gemm", "matmul_add"])
def test_onnx_batchnorm_folds_exactly_against_reference_evaluator(first):
    rng = np.random.default_rng(21)
    model, w = batchnorm_graph(first, rng)
    imported = import_onnx(model, eps=1e-10)
    network = imported.network
    assert network.shape == (4, 6, 3)
    assert imported.folded_batchnorm == ("node 'bn1' (op_type BatchNormalization)",)
    # The folded layer is exactly diag(s)·W, s·(b - mean) + B.
    s = w["scale"] / np.sqrt(w["var"] + BN_EPSILON)
    w1 = w["W1"] if first == "gemm" else w["W1"].T
    np.testing.assert_allclose(network.layers[0].weights, s[:, None] * w1, rtol=1e-14, atol=0)
    np.testing.assert_allclose(network.layers[0].bias, s * (w["b1"] - w["mean"]) + w["shift"], rtol=1e-14, atol=1e-15)

    x = rng.uniform(0, 2, size=(50, 4))
    bn_out, y = ReferenceEvaluator(model).run(["bn", "y"], {"x": x})
    hidden, logits = network.pre_activations(x)
    assert np.mean(bn_out > 0) > 0.2 and np.mean(bn_out < 0) > 0.2  # the Relu really cuts
    assert relative_error(hidden, bn_out) < 1e-9
    assert relative_error(relu_chain(network, x), y) < 1e-9
    # With a tiny eps σ_eps is ReLU up to sqrt(eps) = 1e-5 per hidden unit: the folded layer feeds on correctly.
    np.testing.assert_allclose(logits, y, rtol=0, atol=2e-4)
    np.testing.assert_allclose(network.forward(x), np.maximum(y, 0), rtol=0, atol=2e-4)


def test_onnx_batchnorm_default_epsilon_and_float32_weights():
    """No ``epsilon`` attribute means ONNX's 1e-5; float32 parameters are folded in float64."""
    rng = np.random.default_rng(4)
    p = bn_params(rng, 3)
    w = {"W": rng.normal(size=(3, 2)), **p}
    nodes = [helper.make_node("Gemm", ["x", "W"], ["g"], name="fc", transB=1),
             helper.make_node("BatchNormalization", ["g", "scale", "shift", "mean", "var"], ["y"], name="bn")]
    model = onnx_model(nodes, w, 2, 3)
    network = from_onnx(model)
    s = f32(p["scale"]) / np.sqrt(f32(p["var"]) + 1e-5)
    np.testing.assert_allclose(network.layers[0].weights, s[:, None] * f32(w["W"]), rtol=1e-14)
    np.testing.assert_allclose(network.layers[0].bias, s * -f32(p["mean"]) + f32(p["shift"]), rtol=1e-14, atol=1e-15)
    x = rng.uniform(0, 1, size=(10, 2))
    reference = ReferenceEvaluator(model).run(None, {"x": x.astype(np.float32)})[0]
    np.testing.assert_allclose(network.pre_activations(x)[0], reference, rtol=1e-4, atol=1e-4)


def _bad_batchnorm_graphs() -> dict[str, tuple[onnx.ModelProto, type, list[str]]]:
    rng = np.random.default_rng(1)
    w = {"W": rng.normal(size=(3, 3)), "b": rng.normal(size=3), **bn_params(rng, 3), "short": np.ones(2)}
    bn_in = ["scale", "shift", "mean", "var"]

    def graph(*nodes: onnx.NodeProto) -> onnx.ModelProto:
        return onnx_model([helper.make_node("Gemm", ["x", "W", "b"], ["h"], name="fc"), *nodes], w, 3, 3)

    def bn(inputs: list[str], outputs: list[str] | None = None, **attrs) -> onnx.NodeProto:
        return helper.make_node("BatchNormalization", inputs, outputs or ["y"], name="bn_bad", **attrs)

    return {
        "training_mode": (graph(bn(["h", *bn_in], training_mode=1)), UnsupportedModelError,
                          ["bn_bad", "BatchNormalization", "training mode"]),
        "running_stat_outputs": (graph(bn(["h", *bn_in], ["y", "rm", "rv"])), UnsupportedModelError,
                                 ["bn_bad", "training mode"]),
        "after_relu": (graph(helper.make_node("Relu", ["h"], ["r"], name="relu"), bn(["r", *bn_in])),
                       UnsupportedModelError, ["bn_bad", "right after a linear layer"]),
        "first_node": (onnx_model([bn(["x", *bn_in])], w, 3, 3), UnsupportedModelError,
                       ["bn_bad", "right after a linear layer"]),
        "wrong_shape": (graph(bn(["h", "scale", "shift", "short", "var"])), InputError, ["bn_bad", "'short'", "(3,)"]),
        "computed_param": (graph(helper.make_node("Relu", ["scale"], ["rs"], name="rs"), bn(["h", "rs", *bn_in[1:]])),
                           UnsupportedModelError, ["bn_bad", "'rs'", "computed"]),
        "unknown_attribute": (graph(bn(["h", *bn_in], fancy=1)), UnsupportedModelError, ["bn_bad", "fancy"]),
    }


@pytest.mark.parametrize("case", list(_bad_batchnorm_graphs()))
def test_onnx_refuses_unfoldable_batchnorm_naming_it(case):
    model, error, words = _bad_batchnorm_graphs()[case]
    with pytest.raises(error) as info:
        from_onnx(model)
    for word in words:
        assert word in str(info.value), (case, str(info.value))


# ---------------------------------------------------------------- ONNX trailing Softmax
def softmax_graph(op: str, axis: int | None = -1) -> tuple[onnx.ModelProto, list[tuple[np.ndarray, np.ndarray]]]:
    """float64 Gemm -> Relu -> Gemm -> ``op`` (Softmax or LogSoftmax), shape 4-5-3."""
    rng = np.random.default_rng(16)  # all three classes win on the test inputs
    w = {"W1": rng.normal(size=(5, 4)), "b1": rng.normal(size=5),
         "W2": rng.normal(size=(3, 5)), "b2": rng.normal(size=3)}
    extra = {} if axis is None else {"axis": axis}
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["g1"], name="fc1", transB=1),
             helper.make_node("Relu", ["g1"], ["r1"], name="relu1"),
             helper.make_node("Gemm", ["r1", "W2", "b2"], ["logits"], name="fc2", transB=1),
             helper.make_node(op, ["logits"], ["y"], name="probs", **extra)]
    return onnx_model(nodes, w, 4, 3, double=True), [(w["W1"], w["b1"]), (w["W2"], w["b2"])]


@pytest.mark.parametrize("op, axis", [("Softmax", -1), ("Softmax", 1), ("Softmax", None), ("LogSoftmax", -1)])
def test_onnx_drop_softmax_keeps_the_argmax(op, axis):
    model, source = softmax_graph(op, axis)
    with pytest.raises(UnsupportedModelError, match="drop_softmax=True"):
        from_onnx(model)
    imported = import_onnx(model, eps=0.05, drop_softmax=True)
    network = imported.network
    assert imported.dropped_softmax == f"node 'probs' (op_type {op})" and imported.folded_batchnorm == ()
    x = np.random.default_rng(14).uniform(0, 2, size=(200, 4))
    check_pre_activations(network, source, x)  # the layers before the Softmax, unchanged
    reference = ReferenceEvaluator(model).run(None, {"x": x})[0]
    logits = relu_chain(network, x)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    expected = log_softmax if op == "LogSoftmax" else np.exp(log_softmax)
    assert relative_error(expected, reference) < 1e-9  # what was dropped is exactly the final (log-)softmax
    predicted = reference.argmax(axis=1)
    assert len(set(predicted)) == 3  # all classes occur: the argmax checks below are not vacuous
    np.testing.assert_array_equal(logits.argmax(axis=1), predicted)  # dropping it keeps the source's class
    # σ_eps on the output layer is increasing too, so the network's argmax is that of its own last pre-activations
    # (its hidden σ_eps values differ from ReLU by up to sqrt(eps), which may move the class near a tie) ...
    np.testing.assert_array_equal(network.forward(x).argmax(axis=1), network.pre_activations(x)[-1].argmax(axis=1))
    # ... and as eps -> 0 it is the source model's class.
    tiny = from_onnx(model, eps=1e-10, drop_softmax=True)
    np.testing.assert_array_equal(tiny.forward(x).argmax(axis=1), predicted)
    values = "log-probabilities" if op == "LogSoftmax" else "probabilities"
    (note,) = imported.notes()
    assert "argmax" in note and "unchanged" in note and "monotone" in note and f"no longer {values}" in note


def test_onnx_drop_softmax_refuses_a_softmax_that_is_not_trailing_or_mixes_samples():
    rng = np.random.default_rng(2)
    w = {"W": rng.normal(size=(3, 3)), "b": rng.normal(size=3)}
    inner = onnx_model([helper.make_node("Softmax", ["x"], ["p"], name="early"),
                        helper.make_node("Gemm", ["p", "W", "b"], ["y"], name="fc")], w, 3, 3)
    with pytest.raises(UnsupportedModelError, match="'early'.*only a trailing Softmax"):
        from_onnx(inner, drop_softmax=True)
    batch_axis = onnx_model([helper.make_node("Gemm", ["x", "W", "b"], ["h"], name="fc"),
                             helper.make_node("Softmax", ["h"], ["y"], name="over_batch", axis=0)], w, 3, 3)
    with pytest.raises(UnsupportedModelError, match="'over_batch'.*axis=0"):
        from_onnx(batch_axis, drop_softmax=True)


def test_cli_import_drop_softmax_and_batchnorm(tmp_path, capsys):
    rng = np.random.default_rng(17)
    bn_model, _ = batchnorm_graph("gemm", rng)
    graph = bn_model.graph
    graph.node[-1].output[0] = "logits"  # append a trailing Softmax to Gemm -> BN -> Relu -> Gemm
    graph.node.append(helper.make_node("Softmax", ["logits"], ["y"], name="probs"))
    path = tmp_path / "bn_softmax.onnx"
    onnx.save(bn_model, path)
    out = tmp_path / "w.npz"

    assert main(["import", str(path), "--out", str(out)]) == 1
    assert "--drop-softmax" in capsys.readouterr().err and not out.exists()

    assert main(["import", str(path), "--out", str(out), "--drop-softmax", "--eps", "0.01"]) == 0
    printed = capsys.readouterr().out
    assert "folded node 'bn1' (op_type BatchNormalization)" in printed
    assert "node 'probs' (op_type Softmax)" in printed
    assert "predicted class (argmax) is unchanged because softmax is monotone" in printed
    assert "no longer probabilities" in printed
    saved = load_weights(out)
    direct = from_onnx(path, eps=0.01, drop_softmax=True)
    assert saved.shape == (4, 6, 3) and saved.eps == 0.01
    for a, b in zip(saved.layers, direct.layers, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)
    x = rng.uniform(0, 2, size=(40, 4))
    reference = ReferenceEvaluator(bn_model).run(None, {"x": x})[0]
    np.testing.assert_array_equal(relu_chain(saved, x).argmax(axis=1), reference.argmax(axis=1))


# ---------------------------------------------------------------- safetensors
def save(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, str(path))
    return path


def layer_arrays(rng: np.random.Generator, shape: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(rng.normal(size=(m, n)), rng.normal(size=m)) for n, m in zip(shape, shape[1:], strict=False)]


@pytest.mark.parametrize("names", [
    ["0", "2", "10"],  # nn.Sequential: numeric, not lexicographic, order
    ["fc1", "fc2", "fc3"],
    ["net.layers.0", "net.layers.1", "net.layers.2"],
    ["block1.fc2", "block2.fc1", "block2.fc3"],
    ["W", None, None],  # our naming W1, b1, ...
    ["a_in", "b_hidden", "c_out"],  # no numbers: file order
])
def test_safetensors_naming_schemes_and_order(tmp_path, names):
    rng = np.random.default_rng(11)
    arrays = layer_arrays(rng, (4, 6, 5, 3))
    tensors = {}
    for i, (w, b) in enumerate(arrays, start=1):
        if names[0] == "W":
            tensors[f"W{i}"], tensors[f"b{i}"] = w, b
        else:
            tensors[f"{names[i - 1]}.weight"], tensors[f"{names[i - 1]}.bias"] = w, b
    # insert in reverse so that the order must come from the names (or the file layout), not the dict
    path = save(tmp_path / "m.safetensors", dict(reversed(tensors.items())))
    network = from_safetensors(path, eps=0.03)
    assert network.shape == (4, 6, 5, 3) and network.eps == 0.03
    x = rng.uniform(0, 1, size=(7, 4))
    check_pre_activations(network, [(f32(w), f32(b)) for w, b in arrays], x)


def test_safetensors_missing_bias_is_zero(tmp_path):
    rng = np.random.default_rng(2)
    w1, w2, b2 = rng.normal(size=(3, 2)), rng.normal(size=(1, 3)), rng.normal(size=1)
    network = from_safetensors(save(tmp_path / "nb.safetensors", {"0.weight": w1, "1.weight": w2, "1.bias": b2}))
    np.testing.assert_array_equal(network.layers[0].bias, np.zeros(3))
    check_pre_activations(network, [(f32(w1), np.zeros(3)), (f32(w2), f32(b2))], rng.uniform(0, 1, size=(4, 2)))


@pytest.mark.parametrize("tensors, culprit", [
    ({"0.weight": np.ones((3, 2)), "0.bias": np.ones(3), "1.running_mean": np.ones(3)}, "1.running_mean"),
    ({"0.weight": np.ones((3, 2)), "0.bias": np.ones(4)}, "0.bias"),
    ({"0.weight": np.ones((3, 2)), "1.weight": np.ones((2, 4))}, "1.weight"),
    ({"conv.0.weight": np.ones((2, 1, 3, 3))}, "conv.0.weight"),
    ({"0.weight": np.ones((3, 2)), "1.bias": np.ones(3)}, "1.bias"),
    ({"fc1.weight": np.ones((3, 2)), "out.weight": np.ones((1, 3))}, "out.weight"),
    ({"W1": np.ones((3, 2)), "b1": np.ones(3), "2.weight": np.ones((1, 3))}, "2.weight"),
    ({"W1": np.ones((3, 2)), "b1": np.ones(2)}, "b1"),
    ({"eps": np.ones(1)}, "eps"),
])
def test_safetensors_errors_name_the_tensor(tmp_path, tensors, culprit):
    path = save(tmp_path / "bad.safetensors", tensors)
    with pytest.raises(InputError) as info:
        from_safetensors(path)
    assert repr(culprit) in str(info.value) and "bad.safetensors" in str(info.value)


def test_safetensors_unreadable_or_missing_file_names_it(tmp_path):
    bad = tmp_path / "junk.safetensors"
    bad.write_bytes(b"this is not a safetensors file")
    with pytest.raises(InputError, match="junk.safetensors"):
        from_safetensors(bad)
    with pytest.raises(InputError, match="absent.safetensors"):
        from_safetensors(tmp_path / "absent.safetensors")
