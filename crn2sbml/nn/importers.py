"""Import trained feed-forward ReLU networks from scikit-learn, ONNX and safetensors.

Every importer returns a :class:`~crn2sbml.nn.network.FeedForwardNetwork` whose layers hold the source
model's affine maps unchanged (``W`` of shape ``(n_out, n_in)``, ``b`` of shape ``(n_out,)``), and whose
activation is the smoothed ReLU ``σ_eps`` on *every* layer, the output layer included (docs/theory.md §3).
The source ReLU is therefore replaced by ``σ_eps`` (``σ_eps(u) > max(0, u)``, the gap is at most ``sqrt(eps)`` at
``u = 0``), and an output that had no activation in the source model (a regressor's identity output, the
logits of a classifier) gets one too. ``σ_eps`` is strictly increasing, so the argmax of an output layer
is the argmax of its pre-activations: classifiers keep their decision rule, only the hidden values move.
:func:`sklearn_accuracy_shift` measures how much that moves a classifier's accuracy.

Nothing here executes code from the imported file: ONNX graphs are parsed with the ``onnx`` protobuf
reader and inspected node by node, safetensors files are plain tensors. scikit-learn, onnx and safetensors
are imported on first use so that importing :mod:`crn2sbml` stays fast.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crn2sbml import defaults
from crn2sbml.errors import InputError, UnsupportedModelError
from crn2sbml.nn.network import FeedForwardNetwork

if TYPE_CHECKING:
    import onnx

__all__ = ["OnnxImport", "from_onnx", "from_safetensors", "from_sklearn", "import_onnx", "sklearn_accuracy_shift"]

Affine = tuple[np.ndarray, np.ndarray]
"""``(W, b)``: ``W`` of shape ``(n_out, n_in)``, ``b`` of shape ``(n_out,)``."""

OnnxSource = str | os.PathLike | bytes | bytearray | memoryview
"""A path to an ``.onnx`` file or its bytes."""


def _build(layers: list[Affine], eps: float, where: str) -> FeedForwardNetwork:
    try:
        return FeedForwardNetwork.from_arrays(layers, eps=eps)
    except InputError as exc:
        raise type(exc)(f"{where}: {exc}") from exc


# ================================================================ scikit-learn
def _mlp_classes() -> tuple[type, type]:
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    return MLPClassifier, MLPRegressor


def _check_sklearn_mlp(model: Any) -> bool:
    """Validate a fitted ReLU ``MLPClassifier`` / ``MLPRegressor``; return True for a classifier."""
    mlp_classifier, mlp_regressor = _mlp_classes()
    # a bool, not an isinstance() in the if: sklearn is untyped, and mypy would narrow ``model`` to ``object``
    supported = isinstance(model, mlp_classifier | mlp_regressor)
    if not supported:
        raise UnsupportedModelError(
            f"from_sklearn supports MLPClassifier and MLPRegressor, got {type(model).__name__}"
        )
    name = type(model).__name__
    if not (hasattr(model, "coefs_") and hasattr(model, "intercepts_")):
        raise InputError(f"this {name} is not fitted (no coefs_): call fit(x, y) before converting it")
    if model.activation != "relu":
        raise UnsupportedModelError(
            f"{name} uses activation={model.activation!r}; only 'relu' hidden layers can be mapped to the "
            "smoothed ReLU σ_eps (retrain with activation='relu')"
        )
    is_classifier = isinstance(model, mlp_classifier)
    if is_classifier and model.out_activation_ == "logistic" and model.n_outputs_ > 1:
        raise UnsupportedModelError(
            f"{name} was fitted on multilabel targets ({model.n_outputs_} independent logistic outputs); "
            "only single-label classification (argmax of the outputs) is supported"
        )
    return is_classifier


def from_sklearn(model: Any, eps: float = defaults.EPS) -> FeedForwardNetwork:
    """Convert a fitted scikit-learn ``MLPClassifier`` or ``MLPRegressor`` with ``activation='relu'``.

    Layer ``l`` gets ``W_l = model.coefs_[l].T`` (sklearn stores ``(n_in, n_out)``, we use ``(n_out, n_in)``)
    and ``b_l = model.intercepts_[l]`` (shape ``(n_out,)``), unchanged. The hidden ReLUs become ``σ_eps``
    and so does the output layer:

    * multiclass ``MLPClassifier`` (softmax output, ``n_classes`` outputs): ``σ_eps`` is strictly
      increasing, so ``argmax`` of the network's outputs is ``argmax`` of the logits; output ``i`` stands for
      ``model.classes_[i]``.
    * binary ``MLPClassifier`` (one logistic output ``u = w·h + b``): becomes two outputs with weights
      ``(-w, +w)`` and biases ``(-b, +b)``, so ``y1 > y0`` iff ``u > 0`` iff sklearn predicts
      ``classes_[1]``, and ``argmax`` is the class index as in the multiclass case.
    * ``MLPRegressor`` (identity output): outputs become ``σ_eps(u) ≈ max(0, u)``, so targets should be
      non-negative.

    Inputs of the returned network are the features ``model`` was fitted on, shape ``(n_features,)``; they
    must be non-negative concentrations (see :meth:`FeedForwardNetwork.check_inputs`).

    Raises UnsupportedModelError for other estimators, other activations (``'tanh'``, ``'logistic'``,
    ``'identity'``) or multilabel classifiers, and InputError for an unfitted model.
    """
    is_classifier = _check_sklearn_mlp(model)
    layers = [
        (np.asarray(coef, dtype=float).T, np.asarray(intercept, dtype=float).reshape(-1))
        for coef, intercept in zip(model.coefs_, model.intercepts_, strict=True)
    ]
    if is_classifier and model.out_activation_ == "logistic":
        w, b = layers[-1]
        layers[-1] = (np.vstack([-w, w]), np.concatenate([-b, b]))
    return _build(layers, eps, type(model).__name__)


def sklearn_accuracy_shift(model: Any, network: FeedForwardNetwork, x: np.ndarray, y: np.ndarray) -> dict:
    """Compare a fitted ``MLPClassifier`` with its converted network on labelled samples.

    ``x``: ``(n_samples, n_features)`` non-negative features; ``y``: ``(n_samples,)`` labels from
    ``model.classes_``. The network predicts ``model.classes_[argmax(network.forward(x))]``.

    Returns ``{"n_samples", "sklearn_accuracy", "network_accuracy", "accuracy_shift", "agreement"}`` where
    ``accuracy_shift = network_accuracy - sklearn_accuracy`` (negative: the conversion lost accuracy) and
    ``agreement`` is the fraction of samples on which both predict the same class.
    """
    if not _check_sklearn_mlp(model):
        raise InputError(
            f"sklearn_accuracy_shift needs a classifier, got {type(model).__name__} (accuracy is undefined)"
        )
    classes = np.asarray(model.classes_)
    if network.n_outputs != len(classes):
        raise InputError(
            f"network has {network.n_outputs} outputs but the classifier has {len(classes)} classes "
            "(was the network converted from this model with from_sklearn?)"
        )
    x = network.check_inputs(x, where="x")
    y = np.asarray(y).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise InputError(f"x has {x.shape[0]} samples but y has {y.shape[0]} labels")
    if x.shape[0] == 0:
        raise InputError("no samples to compare")
    sk_pred = np.asarray(model.predict(x)).reshape(-1)
    net_pred = classes[np.argmax(network.forward(x), axis=1)]
    sk_acc = float(np.mean(sk_pred == y))
    net_acc = float(np.mean(net_pred == y))
    return {
        "n_samples": int(x.shape[0]),
        "sklearn_accuracy": sk_acc,
        "network_accuracy": net_acc,
        "accuracy_shift": net_acc - sk_acc,
        "agreement": float(np.mean(sk_pred == net_pred)),
    }


# ================================================================ ONNX
_ONNX_SUPPORTED = ("Gemm, MatMul, Add (bias after MatMul/Gemm), Relu, no-op Flatten, inference-mode "
                   "BatchNormalization after a linear layer, and a trailing Softmax/LogSoftmax with drop_softmax=True")
_ONNX_OPS = frozenset({"Gemm", "MatMul", "Add", "Relu", "Flatten", "BatchNormalization", "Softmax", "LogSoftmax",
                       "Constant"})
_SOFTMAX_OPS = frozenset({"Softmax", "LogSoftmax"})
_BN_ATTRIBUTES = frozenset({"epsilon", "momentum", "training_mode", "spatial", "is_test"})
# Shape plumbing that exporters emit around real layers (dynamic flatten/view): listed after the layer ops, so
# that "Conv" leads the message rather than the "Shape" that feeds a Reshape.
_PLUMBING_OPS = frozenset({"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Reshape", "Slice", "Cast",
                           "Identity", "ConstantOfShape", "Transpose"})
_MAX_LISTED = 8


@dataclass(frozen=True)
class OnnxImport:
    """What :func:`import_onnx` built, and what it changed on the way.

    ``folded_batchnorm``: labels (``node 'bn1' (op_type BatchNormalization)``) of the BatchNormalization nodes
    folded into the linear layer before them; ``dropped_softmax``: label of the dropped trailing
    Softmax/LogSoftmax, or ``None``.
    """

    network: FeedForwardNetwork
    folded_batchnorm: tuple[str, ...] = ()
    dropped_softmax: str | None = None

    def notes(self) -> list[str]:
        """One human-readable sentence per change (the CLI prints them)."""
        lines = [f"folded {label} exactly into the linear layer before it (running mean/variance)"
                 for label in self.folded_batchnorm]
        if self.dropped_softmax is not None:
            log = "LogSoftmax" in self.dropped_softmax
            kind, values = ("log-softmax", "log-probabilities") if log else ("softmax", "probabilities")
            lines.append(
                f"dropped the trailing {self.dropped_softmax}: the predicted class (argmax) is unchanged because "
                f"{kind} is monotone, but the output values are no longer {values} (they are σ_eps of the logits)"
            )
        return lines


@dataclass
class _Chain:
    """Walk state: finished layers, the affine map since the last Relu, and what was folded or dropped."""

    width: int | None
    layers: list[Affine] = field(default_factory=list)
    pending: Affine | None = None
    folded: list[str] = field(default_factory=list)
    dropped: str | None = None


def _node_label(node: onnx.NodeProto, index: int) -> str:
    name = node.name or f"#{index}"
    return f"node {name!r} (op_type {node.op_type})"


def _load_onnx(source: OnnxSource | onnx.ModelProto) -> tuple[Any, str]:
    import onnx
    from google.protobuf.message import DecodeError

    if isinstance(source, onnx.ModelProto):
        return source, "ONNX model"
    if isinstance(source, bytes | bytearray | memoryview):
        where = "ONNX bytes"
        try:
            model = onnx.load_model_from_string(bytes(source))
        except (DecodeError, ValueError, RuntimeError) as exc:
            raise InputError(f"{where}: not a readable ONNX model ({exc})") from exc
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise InputError(f"ONNX file not found: {path}")
        try:
            model = onnx.load(str(path))  # also reads external weight data stored next to the file
        except (DecodeError, OSError, ValueError, RuntimeError, onnx.checker.ValidationError) as exc:
            raise InputError(f"{path}: not a readable ONNX model ({exc})") from exc
    else:
        raise InputError(f"from_onnx expects a path, bytes or onnx.ModelProto, got {type(source).__name__}")
    if not model.graph.node:
        raise InputError(f"{where}: not a readable ONNX model (the graph has no nodes)")
    return model, where


def _onnx_constants(graph: Any) -> tuple[dict[str, np.ndarray], set[int]]:
    """Initializers and ``Constant`` nodes (``value`` attribute) as float arrays; also the Constant node ids."""
    from onnx import numpy_helper
    from onnx.external_data_helper import uses_external_data

    def to_array(tensor: Any, what: str) -> np.ndarray:
        if uses_external_data(tensor):
            raise InputError(f"{what}: stored as external data that was not loaded (pass the .onnx file path)")
        try:
            arr = numpy_helper.to_array(tensor)
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"{what}: unreadable tensor ({exc})") from exc
        if arr.dtype.kind not in "fiu":
            raise InputError(f"{what}: weights must be numeric, got dtype {arr.dtype}")
        return np.asarray(arr, dtype=float)

    constants = {t.name: to_array(t, f"initializer {t.name!r}") for t in graph.initializer}
    constant_nodes: set[int] = set()
    for index, node in enumerate(graph.node):
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            attrs = {a.name: a for a in node.attribute}
            if set(attrs) != {"value"} or len(node.output) != 1:
                raise UnsupportedModelError(f"{_node_label(node, index)}: only Constant nodes with a 'value' "
                                            "tensor are supported")
            constants[node.output[0]] = to_array(attrs["value"].t, _node_label(node, index))
            constant_nodes.add(index)
    return constants, constant_nodes


def _bias_vector(c: np.ndarray, n_out: int, what: str) -> np.ndarray:
    try:
        return np.broadcast_to(c, (1, n_out)).reshape(n_out).astype(float)
    except ValueError:
        raise InputError(f"{what}: bias of shape {c.shape} does not broadcast to one row of {n_out}") from None



def import_onnx(path_or_bytes: OnnxSource | onnx.ModelProto, eps: float = defaults.EPS,
                drop_softmax: bool = False) -> OnnxImport:
    """:func:`from_onnx`, also reporting the BatchNormalization nodes folded and the Softmax dropped."""
    model, where = _load_onnx(path_or_bytes)
    try:
        chain = _onnx_chain(model.graph, drop_softmax)
    except InputError as exc:
        raise type(exc)(f"{where}: {exc}") from exc
    return OnnxImport(_build(chain.layers, eps, where), tuple(chain.folded), chain.dropped)


def from_onnx(path_or_bytes: OnnxSource | onnx.ModelProto, eps: float = defaults.EPS,
              drop_softmax: bool = False) -> FeedForwardNetwork:
    """Convert an ONNX graph that is a single chain of fully connected ReLU layers.

    Supported nodes (default ONNX domain), in one chain from the graph input (shape ``(batch, n_in)``) to the
    single graph output:

    * ``Gemm(A, B, C)`` with ``transA = 0``, any ``transB``, ``alpha``, ``beta``: ``Y = alpha·A·B' + beta·C``
      where ``B' = B`` (shape ``(n_in, n_out)``) or ``B.T`` when ``transB = 1`` (``B`` of shape
      ``(n_out, n_in)``); gives ``W = alpha·B'.T`` and ``b = beta·C`` (``C`` broadcast to ``(n_out,)``).
    * ``MatMul(A, B)`` with ``B`` of shape ``(n_in, n_out)``, usually followed by ``Add(·, c)`` (the bias, in
      either operand order): ``W = B.T``, ``b = c``.
    * ``BatchNormalization(X, scale, B, mean, var)`` in inference mode (``training_mode`` absent or 0) right
      after a linear layer ``(W, b)``: folded exactly, with ``s = scale / sqrt(var + epsilon)``, into
      ``W' = diag(s)·W`` and ``b' = s·(b - mean) + B``.
    * ``Relu``: closes the current linear layer; every Relu becomes ``σ_eps``.
    * ``Flatten`` with ``axis = 1`` (or ``-1``): a no-op on the 2-D tensors of such a chain.
    * ``Softmax`` / ``LogSoftmax`` over the features (``axis`` 1 or -1), producing the graph output: only with
      ``drop_softmax=True``, and then dropped. Both are monotone, so the argmax (the predicted class) is
      unchanged, but the outputs are ``σ_eps`` of the logits, no longer (log-)probabilities.

    ``B``, ``C``, biases and BatchNormalization parameters must be initializers (read with
    ``onnx.numpy_helper.to_array``) or ``Constant`` nodes. Consecutive linear nodes with no Relu between them
    are composed exactly into one layer. A linear layer that is not followed by a Relu (typically the final
    layer, producing logits) is still given the activation ``σ_eps``, because every layer of a
    :class:`FeedForwardNetwork` has one (argmax is preserved).

    Every node's operator is checked before the graph's structure, so a model with, e.g., a ``Conv`` is
    refused with an UnsupportedModelError naming that node (its name and op_type), not with a complaint about
    the way the graph is wired. UnsupportedModelError is also raised, naming the node, for a Softmax without
    ``drop_softmax=True``, a BatchNormalization in training mode, a tensor used twice (skip connections,
    branches), nodes off the chain and computed weights. Raises InputError naming the file if it cannot be
    read. ``path_or_bytes`` may also be an already loaded ``onnx.ModelProto``; :func:`import_onnx` also says
    what was folded and dropped.
    """
    return import_onnx(path_or_bytes, eps=eps, drop_softmax=drop_softmax).network


def _operator_problem(node: Any, label: str, drop_softmax: bool, output_name: str) -> str | None:
    """Why this node's operator cannot be imported wherever it sits, or None."""
    if node.domain not in ("", "ai.onnx"):
        return f"{label}: operator domain {node.domain!r} is not supported"
    if node.op_type not in _ONNX_OPS:
        return f"{label} is not supported"
    attrs = {a.name: _attribute_value(a) for a in node.attribute}
    if node.op_type in _SOFTMAX_OPS:
        return _softmax_problem(node, label, attrs, drop_softmax, output_name)
    if node.op_type == "BatchNormalization":
        return _batchnorm_problem(node, label, attrs)
    return None


def _softmax_problem(node: Any, label: str, attrs: dict[str, Any], drop_softmax: bool,
                     output_name: str) -> str | None:
    if not drop_softmax:
        return (f"{label}: the network cannot compute {node.op_type}; pass drop_softmax=True (CLI: --drop-softmax) "
                "to drop a trailing one: the predicted class (argmax) is unchanged because it is monotone, but "
                "the outputs are then no longer probabilities")
    if list(node.output) != [output_name]:
        return f"{label}: only a trailing {node.op_type}, producing the graph output {output_name!r}, can be dropped"
    # Over the batch axis (0) it would mix samples and the per-sample argmax would change.
    if attrs.get("axis", -1) not in (1, -1):
        return f"{label}: axis={attrs['axis']}; only a {node.op_type} over the features (axis 1 or -1) can be dropped"
    return None


def _batchnorm_problem(node: Any, label: str, attrs: dict[str, Any]) -> str | None:
    unknown = set(attrs) - _BN_ATTRIBUTES
    if unknown:
        return f"{label}: unknown BatchNormalization attributes {sorted(unknown)}"
    # Training mode normalises by the batch's own statistics, which is not a fixed affine map.
    training = attrs.get("training_mode", 0) != 0 or attrs.get("is_test", 1) == 0 or any(node.output[1:])
    if training:
        return (f"{label}: BatchNormalization in training mode (training_mode=1, is_test=0 or running-statistics "
                "outputs) is not supported; export the model in inference mode (model.eval())")
    return None


def _check_operators(graph: Any, drop_softmax: bool) -> None:
    """Refuse unsupported operators, all named, before any structural complaint about the graph."""
    output_name = graph.output[0].name if len(graph.output) == 1 else ""
    problems = []
    for index, node in enumerate(graph.node):
        problem = _operator_problem(node, _node_label(node, index), drop_softmax, output_name)
        if problem is not None:
            problems.append((node.op_type in _PLUMBING_OPS, index, problem))
    if not problems:
        return
    problems.sort()
    messages = [p for _, _, p in problems]
    text = messages[0]
    if len(messages) > 1:
        more = f", and {len(messages) - _MAX_LISTED} more" if len(messages) > _MAX_LISTED else ""
        text += "; also: " + "; ".join(messages[1:_MAX_LISTED]) + more
    if any(node.op_type not in _ONNX_OPS for node in graph.node):
        text += f" (supported: {_ONNX_SUPPORTED})"
    raise UnsupportedModelError(text)


def _graph_endpoints(graph: Any, constants: dict[str, np.ndarray]) -> tuple[str, str, int | None]:
    """``(input name, output name, input width or None)`` of a graph with one (batch, features) input."""
    inputs = [v for v in graph.input if v.name not in constants]
    if len(inputs) != 1:
        raise UnsupportedModelError(f"expected exactly one graph input, found {[v.name for v in inputs]}")
    if len(graph.output) != 1:
        raise UnsupportedModelError(f"expected exactly one graph output, found {[v.name for v in graph.output]}")
    input_value = inputs[0]
    width: int | None = None
    if input_value.type.HasField("tensor_type") and input_value.type.tensor_type.HasField("shape"):
        dims = input_value.type.tensor_type.shape.dim
        if len(dims) != 2:
            raise UnsupportedModelError(
                f"graph input {input_value.name!r} has rank {len(dims)}; only (batch, features) inputs are supported"
            )
        width = dims[1].dim_value if dims[1].HasField("dim_value") else None
    return input_value.name, graph.output[0].name, width


def _onnx_chain(graph: Any, drop_softmax: bool) -> _Chain:
    _check_operators(graph, drop_softmax)
    constants, constant_nodes = _onnx_constants(graph)
    input_name, output_name, width = _graph_endpoints(graph, constants)

    consumers: dict[str, list[int]] = {}
    for index, node in enumerate(graph.node):
        for name in node.input:
            if name and name not in constants:
                consumers.setdefault(name, []).append(index)

    chain = _Chain(width)
    visited: set[int] = set()
    current = input_name
    while current != output_name:
        index = _single_consumer(graph, consumers, current)
        if index in visited:
            raise UnsupportedModelError(f"{_node_label(graph.node[index], index)}: the graph has a cycle")
        visited.add(index)
        current = _apply_node(chain, graph.node[index], _node_label(graph.node[index], index), current, constants)
    if consumers.get(output_name):
        labels = ", ".join(_node_label(graph.node[i], i) for i in consumers[output_name])
        raise UnsupportedModelError(f"graph output {output_name!r} is also used by {labels}")

    if chain.pending is not None:
        chain.layers.append(chain.pending)  # a final linear layer without Relu still gets σ_eps
    for index, node in enumerate(graph.node):
        if index not in visited and index not in constant_nodes:
            raise UnsupportedModelError(f"{_node_label(node, index)} is not on the chain from input to output")
    if not chain.layers:
        raise UnsupportedModelError(f"no linear layer (Gemm or MatMul) between {input_name!r} and the output")
    return chain


def _single_consumer(graph: Any, consumers: dict[str, list[int]], current: str) -> int:
    users = consumers.get(current, [])
    if not users:
        raise UnsupportedModelError(f"tensor {current!r} is not used by any node and is not the graph output")
    if len(users) > 1:
        labels = ", ".join(_node_label(graph.node[i], i) for i in users)
        raise UnsupportedModelError(
            f"tensor {current!r} is used by {len(users)} nodes ({labels}): skip connections and branches "
            "are not supported"
        )
    return users[0]


def _apply_node(chain: _Chain, node: Any, label: str, current: str, constants: dict[str, np.ndarray]) -> str:
    """Fold one node of the chain into ``chain``; return the tensor it produces."""
    if not node.output or not node.output[0] or any(node.output[1:]):
        raise UnsupportedModelError(f"{label}: has outputs {list(node.output)}, supported nodes have one")
    data_inputs = [name for name in node.input if name == current]
    if len(data_inputs) != 1:
        raise UnsupportedModelError(f"{label}: uses tensor {current!r} {len(data_inputs)} times")
    attrs = {a.name: _attribute_value(a) for a in node.attribute}
    op = node.op_type
    if op in ("Gemm", "MatMul"):
        w, b = _linear_node(node, label, attrs, current, constants)
        n_in = chain.pending[0].shape[0] if chain.pending is not None else chain.width
        if n_in is not None and w.shape[1] != n_in:
            raise InputError(f"{label}: weights expect {w.shape[1]} inputs but the incoming tensor has {n_in}")
        pending = chain.pending
        chain.pending = (w, b) if pending is None else (w @ pending[0], w @ pending[1] + b)
    elif op == "Add":
        chain.pending = _add_bias(chain.pending, node, label, current, constants)
    elif op == "BatchNormalization":
        if chain.pending is None:
            raise UnsupportedModelError(
                f"{label}: BatchNormalization is only supported right after a linear layer (Gemm, or MatMul + Add), "
                "where it folds into the weights and bias"
            )
        chain.pending = _fold_batchnorm(chain.pending, node, label, attrs, current, constants)
        chain.folded.append(label)
    elif op == "Relu":
        if chain.pending is None:
            raise UnsupportedModelError(f"{label}: Relu must follow a linear layer (MatMul/Gemm)")
        chain.layers.append(chain.pending)
        chain.width, chain.pending = chain.pending[0].shape[0], None
    elif op == "Flatten":
        if attrs.get("axis", 1) not in (1, -1):
            raise UnsupportedModelError(f"{label}: only Flatten with axis=1 (a no-op on 2-D input) is supported")
    elif op in _SOFTMAX_OPS:
        chain.dropped = label  # _check_operators let it through: drop_softmax is set and it is trailing
    else:  # pragma: no cover - _check_operators refused every other operator
        raise UnsupportedModelError(f"{label} is not supported (supported: {_ONNX_SUPPORTED})")
    return node.output[0]


def _add_bias(pending: Affine | None, node: Any, label: str, current: str,
              constants: dict[str, np.ndarray]) -> Affine:
    if pending is None:
        raise UnsupportedModelError(f"{label}: Add is only supported as the bias of a MatMul or Gemm")
    other = [name for name in node.input if name != current]
    if len(other) != 1 or other[0] not in constants:
        raise UnsupportedModelError(
            f"{label}: adds a computed tensor {other!r}; only a constant bias can be added "
            "(skip connections are not supported)"
        )
    return pending[0], pending[1] + _bias_vector(constants[other[0]], pending[0].shape[0], label)


def _fold_batchnorm(pending: Affine, node: Any, label: str, attrs: dict[str, Any], current: str,
                    constants: dict[str, np.ndarray]) -> Affine:
    """``diag(s)·(W x + b - mean) + B`` with ``s = scale / sqrt(var + epsilon)``: an exact affine map."""
    if len(node.input) != 5 or node.input[0] != current:
        raise UnsupportedModelError(f"{label}: expected inputs (X, scale, B, mean, var) with X = {current!r}")
    w, b = pending
    n_out = w.shape[0]
    params = []
    for name in node.input[1:]:
        if name not in constants:
            raise UnsupportedModelError(f"{label}: input {name!r} is computed, not a constant initializer")
        value = constants[name].reshape(-1)
        if value.shape != (n_out,):
            raise InputError(f"{label}: input {name!r} has shape {constants[name].shape}, need ({n_out},)")
        params.append(value)
    scale, shift, mean, var = params
    denominator = var + float(attrs.get("epsilon", 1e-5))
    if np.any(denominator <= 0):
        raise InputError(f"{label}: var + epsilon must be positive, got {denominator.min():g}")
    s = scale / np.sqrt(denominator)
    return s[:, None] * w, s * (b - mean) + shift


def _attribute_value(attr: Any) -> Any:
    from onnx import helper

    return helper.get_attribute_value(attr)


def _linear_node(node: Any, label: str, attrs: dict[str, Any], current: str,
                 constants: dict[str, np.ndarray]) -> Affine:
    """``(W, b)`` of a Gemm or MatMul node whose first input is ``current``."""
    if not node.input or node.input[0] != current:
        raise UnsupportedModelError(f"{label}: the incoming tensor {current!r} must be the first input (x·W)")
    args = list(node.input[1:])
    for name in args:
        if name and name not in constants:
            raise UnsupportedModelError(f"{label}: input {name!r} is computed, not a constant initializer")
    if node.op_type == "MatMul":
        if len(args) != 1:
            raise UnsupportedModelError(f"{label}: expected 2 inputs, got {len(node.input)}")
        b_mat = constants[args[0]]
        if b_mat.ndim != 2:
            raise UnsupportedModelError(f"{label}: weight {args[0]!r} has shape {b_mat.shape}, need 2-D")
        return b_mat.T.copy(), np.zeros(b_mat.shape[1])
    unknown = set(attrs) - {"alpha", "beta", "transA", "transB"}
    if unknown:
        raise UnsupportedModelError(f"{label}: unknown Gemm attributes {sorted(unknown)}")
    if attrs.get("transA", 0) != 0:
        raise UnsupportedModelError(f"{label}: transA=1 is not supported (the input must be (batch, features))")
    if len(args) not in (1, 2) or not args[0]:
        raise UnsupportedModelError(f"{label}: expected inputs (A, B[, C]), got {list(node.input)}")
    b_mat = constants[args[0]]
    if b_mat.ndim != 2:
        raise UnsupportedModelError(f"{label}: weight {args[0]!r} has shape {b_mat.shape}, need 2-D")
    trans_b = attrs.get("transB", 0)
    if trans_b not in (0, 1):
        raise UnsupportedModelError(f"{label}: transB={trans_b} (need 0 or 1)")
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    w = alpha * (b_mat if trans_b else b_mat.T)
    bias = np.zeros(w.shape[0])
    if len(args) == 2 and args[1]:
        bias = beta * _bias_vector(constants[args[1]], w.shape[0], f"{label} input {args[1]!r}")
    return w, bias


# ================================================================ safetensors
_OUR_KEY = re.compile(r"^([Wb])(\d+)$")
_NUMBER = re.compile(r"\d+")


def _safetensors_file_order(path: Path) -> list[str]:
    """Tensor names in the order their data lies in the file (the header's ``data_offsets``)."""
    with open(path, "rb") as handle:
        (n,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(n))
    entries = [(info["data_offsets"][0], name) for name, info in header.items() if name != "__metadata__"]
    return [name for _, name in sorted(entries)]


def from_safetensors(path: str | os.PathLike, eps: float = defaults.EPS) -> FeedForwardNetwork:
    """Read fully connected layers from a ``.safetensors`` file (``safetensors.numpy.load_file``).

    Two naming schemes are accepted (not mixed in one file):

    * ours: ``W1, b1, ..., WL, bL`` with ``W_l`` of shape ``(n_l, n_{l-1})`` and ``b_l`` of shape ``(n_l,)``;
    * PyTorch ``nn.Linear`` state dicts: ``<prefix>.weight`` of shape ``(n_out, n_in)`` and optional
      ``<prefix>.bias`` of shape ``(n_out,)``, e.g. ``0.weight, 0.bias, 2.weight, 2.bias`` from an
      ``nn.Sequential`` or ``fc1.weight, fc1.bias, fc2.weight, ...``.

    Layers are ordered by the numbers found in the prefix (compared as a tuple, so ``block1.fc2`` comes
    before ``block2.fc1``), or, when no name has a number, by the position of the weights in the file (note
    that safetensors writers lay tensors out by dtype then name, not in the order the dict was built). A
    missing bias means zero. Between layers the file says nothing about activations: ReLU is assumed and
    every layer, the last included, gets ``σ_eps``.

    Raises InputError naming the tensor for tensors that are neither weight nor bias (e.g. BatchNorm's
    ``running_mean``), weights that are not 2-D, biases that do not match their weight, consecutive layers
    whose shapes do not chain, or names that cannot be ordered; InputError naming the file if it is unreadable.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise InputError(f"safetensors file not found: {path}")
    try:
        tensors = load_file(str(path))
        file_order = _safetensors_file_order(path)
    except (SafetensorError, OSError, ValueError, TypeError, KeyError, struct.error) as exc:
        raise InputError(f"{path}: not a readable safetensors file ({exc})") from exc
    try:
        layers = _safetensors_layers(tensors, file_order)
    except InputError as exc:
        raise type(exc)(f"{path}: {exc}") from exc
    return _build(layers, eps, str(path))


def _safetensors_layers(tensors: dict[str, np.ndarray], file_order: list[str]) -> list[Affine]:
    if not tensors:
        raise InputError("the file holds no tensors")
    names = [n for n in file_order if n in tensors] + [n for n in tensors if n not in file_order]
    groups: dict[str, dict[str, str]] = {}  # layer key -> {"weight": name, "bias": name}
    ours = [n for n in names if _OUR_KEY.match(n)]
    if ours and len(ours) != len(names):
        other = next(n for n in names if not _OUR_KEY.match(n))
        raise InputError(f"tensor {other!r} mixes naming schemes with {ours[0]!r} (use W1, b1, ... or <prefix>.weight)")
    for name in names:
        match = _OUR_KEY.match(name)
        if match:
            key, kind = match.group(2), "weight" if match.group(1) == "W" else "bias"
        else:
            prefix, _, kind = name.rpartition(".")
            if kind not in ("weight", "bias"):
                raise InputError(
                    f"tensor {name!r} is not a layer weight or bias (expected W1, b1, ... or <prefix>.weight / "
                    "<prefix>.bias of fully connected layers; normalisation, embeddings etc. are not supported)"
                )
            key = prefix
        groups.setdefault(key, {})[kind] = name

    numbers = {key: tuple(int(n) for n in _NUMBER.findall(key)) for key in groups}
    numbered = [key for key in groups if numbers[key]]
    if numbered and len(numbered) != len(groups):
        plain = next(key for key in groups if not numbers[key])
        raise InputError(
            f"tensor {groups[plain].get('weight', groups[plain].get('bias'))!r} has no layer number in its name "
            f"while {groups[numbered[0]].get('weight', groups[numbered[0]].get('bias'))!r} has one: cannot order "
            "the layers (rename them, e.g. fc1, fc2, fc3)"
        )
    keys = list(groups)  # file order of each layer's first tensor
    if numbered:
        keys.sort(key=lambda k: numbers[k])
        for first, second in zip(keys, keys[1:], strict=False):
            if numbers[first] == numbers[second]:
                raise InputError(f"tensors {groups[first]!r} and {groups[second]!r} have the same layer number "
                                 f"{numbers[first]}")

    layers: list[Affine] = []
    previous: str | None = None
    for key in keys:
        group = groups[key]
        if "weight" not in group:
            raise InputError(f"tensor {group['bias']!r} is a bias without a matching weight")
        w_name = group["weight"]
        w = tensors[w_name]
        if w.dtype.kind not in "fiu":
            raise InputError(f"tensor {w_name!r} must be numeric, got dtype {w.dtype}")
        if w.ndim != 2:
            raise InputError(
                f"tensor {w_name!r} has shape {w.shape}; fully connected weights are 2-D (n_out, n_in) "
                "(convolutions and normalisation layers are not supported)"
            )
        if "bias" in group:
            b_name = group["bias"]
            b = tensors[b_name]
            if b.dtype.kind not in "fiu":
                raise InputError(f"tensor {b_name!r} must be numeric, got dtype {b.dtype}")
            if b.shape != (w.shape[0],):
                raise InputError(
                    f"tensor {b_name!r} has shape {b.shape}, but {w_name!r} {w.shape} needs ({w.shape[0]},)"
                )
        else:
            b = np.zeros(w.shape[0])
        if layers and w.shape[1] != layers[-1][0].shape[0]:
            raise InputError(
                f"tensor {w_name!r} has shape {w.shape} (expects {w.shape[1]} inputs) but the previous layer "
                f"{previous!r} has {layers[-1][0].shape[0]} outputs"
            )
        layers.append((np.asarray(w, dtype=float), np.asarray(b, dtype=float).reshape(-1)))
        previous = w_name
    return layers
