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

from crn2sbml.errors import InputError, UnsupportedModelError
from crn2sbml.nn.activations import smoothed_relu
from crn2sbml.nn.importers import from_onnx, from_safetensors, from_sklearn, sklearn_accuracy_shift
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
def tensor(name: str, arr: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)


def onnx_model(nodes: list[onnx.NodeProto], weights: dict[str, np.ndarray], n_in: int, n_out: int,
               x_name: str = "x", y_name: str = "y", input_shape: list | None = None) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "net",
        [helper.make_tensor_value_info(x_name, TensorProto.FLOAT, input_shape or ["N", n_in])],
        [helper.make_tensor_value_info(y_name, TensorProto.FLOAT, ["N", n_out])],
        initializer=[tensor(k, v) for k, v in weights.items()],
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
        "softmax": (chain(helper.make_node("Softmax", ["h"], ["y"], name="probs")), ["probs", "Softmax"]),
        "conv": (conv, ["x"]),  # refused at the 4-D input, before the Conv itself is reached
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
