"""Gradient training of σ_eps (or any polynomial-activation) networks with JAX and optax.

The activation's fixed point is differentiated through the implicit function theorem
(``dy*/du = -f_u/f_y``), so polynomial activations without a closed form train as easily as σ_eps.

Networks a lab can afford (docs/dsd.md §1): ``TrainConfig.max_activation`` bounds every neuron's value —
hidden and output, i.e. every steady-state concentration of the CRN — on the training data, and
``TrainConfig.max_weight_sum`` bounds ``Σ|w| + |b|`` of every neuron of the returned network (the raw-feature
one the compiler sees). The weight bound is a hard constraint (projected after every optimiser step). The
activation bound is trained in by a penalty on values above it and then made exact by :func:`enforce_bound`,
which scales down the incoming weights of any neuron still above it on the training data.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from crn2sbml import defaults
from crn2sbml.errors import InputError
from crn2sbml.nn.activations import PolynomialActivation, smoothed_relu_activation
from crn2sbml.nn.datasets import check_labelled
from crn2sbml.nn.network import FeedForwardNetwork, Layer
from crn2sbml.nn.transforms import Standardiser
from crn2sbml.validate.inputs import check_labels, check_options

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Options of :func:`train_classifier`; every run is reproducible from ``seed``."""

    hidden: tuple[int, ...] = defaults.HIDDEN
    eps: float = defaults.EPS
    learning_rate: float = defaults.LEARNING_RATE
    epochs: int = defaults.EPOCHS
    batch_size: int = defaults.BATCH_SIZE
    seed: int = defaults.SEED
    weight_decay: float = defaults.WEIGHT_DECAY
    validation_fraction: float = defaults.VALIDATION_FRACTION
    patience: int = defaults.PATIENCE
    task: str = "classification"  # or "regression"
    activation: PolynomialActivation | None = field(default=None, compare=False)
    max_activation: float | None = None
    """Largest value any neuron (hidden or output) may take on the training data; ``None``: no bound."""
    max_weight_sum: float | None = None
    """Largest ``Σ|w| + |b|`` of any neuron of the returned network; ``None``: no bound."""
    activation_penalty: float = 10.0
    """Weight of the penalty ``mean Σ max(0, y - max_activation)²`` in the loss (only with ``max_activation``)."""


@dataclass(frozen=True, eq=False)
class TrainResult:
    network: FeedForwardNetwork  # takes raw features (standardisation folded in)
    history: list[dict]
    best_epoch: int
    largest_activation: float = float("nan")
    """Largest neuron value of ``network`` over all the training data (both splits)."""
    rescaled: tuple[tuple[int, int, float], ...] = ()
    """``(layer, neuron, factor)`` for each neuron :func:`enforce_bound` scaled down to keep the bound."""


def jax_activation(activation: PolynomialActivation):
    """A JAX function ``u -> y*(u)`` with exact gradients.

    ``f`` and ``∂f/∂y`` come from ``activation`` itself (they are array-namespace generic); only the root
    finder is written here, with ``jax.lax`` loops so it traces once instead of unrolling.
    """
    import jax
    import jax.numpy as jnp

    if activation.is_smoothed_relu():
        return lambda u: activation.closed_form(u, xp=jnp)
    f, fy = activation.f, activation.dfdy

    def solve(u):
        lo, hi = jnp.zeros_like(u), jnp.ones_like(u)
        hi = jax.lax.fori_loop(0, 60, lambda _, h: jnp.where(f(h, u) > 0, 2 * h, h), hi)

        def bisect(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            pos = f(mid, u) > 0
            return jnp.where(pos, mid, lo), jnp.where(pos, hi, mid)

        lo, hi = jax.lax.fori_loop(0, 60, bisect, (lo, hi))
        return 0.5 * (lo + hi)

    def act(u):
        y0 = jax.lax.stop_gradient(solve(u))
        # value y0 (f(y0) = 0); gradient -f_u/f_y via one Newton step whose slope is held constant.
        return y0 - f(y0, u) / jax.lax.stop_gradient(fy(y0, u))

    return act


def train(x: np.ndarray, y: np.ndarray, config: TrainConfig = TrainConfig(), progress: bool = True) -> TrainResult:
    """Train on raw non-negative features ``x`` ``(n, d)``; ``y`` integer labels (classification) or
    ``(n,)``/``(n, k)`` non-negative targets (regression). Returns a network that takes raw features.

    Training always runs in 32-bit JAX, whatever ``jax_enable_x64`` is set to elsewhere in the process, so
    a seed gives bit-identical weights in every process (the model zoo relies on this).
    """
    import jax

    with jax.enable_x64(False):
        return _train(x, y, config, progress)


def _train(x: np.ndarray, y: np.ndarray, config: TrainConfig, progress: bool) -> TrainResult:
    import jax
    import jax.numpy as jnp
    import optax
    from tqdm import tqdm

    check_config(config)
    if config.task == "classification":
        x, y = check_labelled(x, y, "training data")
        check_labels(y, where="training data")  # a label of 1e9 would mean 1e9 output neurons
        n_out = int(y.max()) + 1
    else:
        x, _ = check_labelled(x, np.zeros(len(x), dtype=int), "training data")
        y = np.asarray(y, dtype=float).reshape(len(x), -1)
        n_out = y.shape[1]
    activation = config.activation or smoothed_relu_activation(config.eps)
    act = jax_activation(activation)
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(x))
    n_val = int(round(config.validation_fraction * len(x)))
    val, tr = order[:n_val], order[n_val:]
    if len(tr) == 0:
        raise InputError("training split is empty")
    standardiser = Standardiser.fit(x[tr])
    xs = standardiser(x).astype(np.float32)
    if config.task == "regression":
        y = y.astype(np.float32)
    sizes = (x.shape[1], *config.hidden, n_out)
    key = jax.random.PRNGKey(config.seed)
    params = []
    for n_in, n_o in zip(sizes, sizes[1:], strict=False):
        key, sub = jax.random.split(key)
        w = jax.random.normal(sub, (n_o, n_in), dtype=jnp.float32) * np.float32(np.sqrt(2.0 / n_in))
        params.append((w, jnp.zeros(n_o, dtype=jnp.float32)))

    def forward(params, xb):
        h = xb
        for w, b in params:
            h = act(h @ w.T + b)
        return h

    def task_loss(out, yb):
        if config.task == "classification":
            return optax.softmax_cross_entropy_with_integer_labels(out, yb).mean()
        return jnp.mean((out - yb) ** 2)

    def loss_fn(params, xb, yb):
        if config.max_activation is None:  # the unbounded loss stays the exact expression the zoo was trained with
            return task_loss(forward(params, xb), yb)
        h, excess = xb, jnp.float32(0.0)
        for w, b in params:
            h = act(h @ w.T + b)
            excess = excess + jnp.mean(jnp.sum(jax.nn.relu(h - config.max_activation) ** 2, axis=1))
        return task_loss(h, yb) + config.activation_penalty * excess

    # Σ|w| + |b| of the *folded* first layer (W/s, b - W m/s): the network the CRN gets, not the standardised one
    fold_scale = jnp.asarray(1.0 / standardiser.scale, dtype=jnp.float32)
    fold_shift = jnp.asarray(standardiser.mean / standardiser.scale, dtype=jnp.float32)

    def project(params):
        out = []
        for i, (w, b) in enumerate(params):
            total = (jnp.sum(jnp.abs(w * fold_scale), axis=1) + jnp.abs(b - w @ fold_shift) if i == 0
                     else jnp.sum(jnp.abs(w), axis=1) + jnp.abs(b))
            # scaling (W, b) scales the folded (W', b') by the same factor: an exact projection onto the bound
            c = jnp.minimum(1.0, config.max_weight_sum / jnp.maximum(total, 1e-30))
            out.append((w * c[:, None], b * c))
        return out

    if config.max_weight_sum is not None:
        params = project(params)

    opt = optax.adamw(config.learning_rate, weight_decay=config.weight_decay)
    state = opt.init(params)

    @jax.jit
    def step(params, state, xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        return (params if config.max_weight_sum is None else project(params)), state, loss

    @jax.jit
    def evaluate(params, xb, yb):
        out = forward(params, xb)
        metric = jnp.mean(jnp.argmax(out, 1) == yb) if config.task == "classification" else jnp.mean((out - yb) ** 2)
        # early stopping watches the task loss alone: the activation penalty on a small validation split is
        # noisy (it stopped xor at 78 % accuracy), and enforce_bound makes the bound exact after training anyway
        return task_loss(out, yb), metric

    history: list[dict] = []
    best = (np.inf, 0, params)
    eval_idx = val if n_val else tr
    bar = tqdm(range(config.epochs), desc="training", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        perm = tr[rng.permutation(len(tr))]
        losses = []
        for start in range(0, len(perm), config.batch_size):
            idx = perm[start:start + config.batch_size]
            params, state, loss = step(params, state, xs[idx], y[idx])
            losses.append(float(loss))
        val_loss, val_metric = (float(v) for v in evaluate(params, xs[eval_idx], y[eval_idx]))
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": val_loss,
                        "val_metric": val_metric})
        bar.set_postfix(loss=f"{np.mean(losses):.4f}", val_loss=f"{val_loss:.4f}",
                        refresh=False, **({"val_acc": f"{val_metric:.3f}"} if config.task == "classification" else {}))
        if val_loss < best[0] - 1e-6:
            best = (val_loss, epoch, params)
        elif n_val and epoch - best[1] >= config.patience:
            log.info("early stop at epoch %d (best %d)", epoch, best[1])
            break
    bar.close()
    layers = tuple(Layer(np.asarray(w, dtype=float), np.asarray(b, dtype=float)) for w, b in best[2])
    network = standardiser.fold_into(FeedForwardNetwork(layers, activation))
    if config.max_weight_sum is not None:
        network = limit_weight_sum(network, config.max_weight_sum)
    rescaled: tuple[tuple[int, int, float], ...] = ()
    if config.max_activation is not None:
        network, rescaled = enforce_bound(network, x, config.max_activation)
        if rescaled:
            log.info("max_activation %g: scaled down %d neuron(s), smallest factor %.4f", config.max_activation,
                     len(rescaled), min(f for _, _, f in rescaled))
    return TrainResult(network, history, best[1], largest_activation(network, x), rescaled)


BOUND_MARGIN = 1e-6
""":func:`enforce_bound` aims this fraction below the bound, so rounding never lands a value above it."""


def largest_activation(network: FeedForwardNetwork, x: np.ndarray) -> float:
    """The largest neuron value (hidden or output layer) of ``network`` over the samples ``x``."""
    return max(float(values.max()) for values in network.activations(x))


def weight_sums(network: FeedForwardNetwork) -> list[np.ndarray]:
    """Per layer, ``Σ|w| + |b|`` of each neuron."""
    return [np.abs(layer.weights).sum(axis=1) + np.abs(layer.bias) for layer in network.layers]


def limit_weight_sum(network: FeedForwardNetwork, bound: float) -> FeedForwardNetwork:
    """``network`` with each neuron's weights and bias scaled down to ``Σ|w| + |b| <= bound``, in float64.

    Training projects in float32 on the standardised weights; folding and the cast move the sums by a few
    ulps, so this last projection (a no-op up to those ulps) makes the bound exact for the compiled network."""
    layers = []
    for layer, total in zip(network.layers, weight_sums(network), strict=True):
        factor = np.minimum(1.0, bound * (1 - BOUND_MARGIN) / np.maximum(total, np.finfo(float).tiny))
        layers.append(Layer(layer.weights * factor[:, None], layer.bias * factor))
    return FeedForwardNetwork(tuple(layers), network.activation)


def inverse_activation(activation: PolynomialActivation, y: float) -> float:
    """The ``u`` whose fixed point is ``y > 0``: ``f`` is affine in ``u``, ``f = A(y) + u·B(y)``, so
    ``u = -A(y)/B(y)`` (``y - eps/y`` for σ_eps)."""
    a = sum(a_p * y**p for p, a_p, _ in activation.terms)
    b = sum(b_p * y**p for p, _, b_p in activation.terms)
    if b == 0 or not np.isfinite(-a / b):
        raise InputError(f"{activation.name}: no input u has the fixed point {y:g}")
    return float(-a / b)


def enforce_bound(network: FeedForwardNetwork, x: np.ndarray,
                  bound: float) -> tuple[FeedForwardNetwork, tuple[tuple[int, int, float], ...]]:
    """``network`` with every neuron's value at most ``bound`` on the samples ``x``, and the neurons it changed.

    Layer by layer (a change feeds forward), a neuron whose largest value exceeds the bound gets its incoming
    weights and bias scaled by ``c = u_b / u_max`` in (0, 1), where ``u_max`` is its largest input and
    ``y*(u_b) = bound·(1 - BOUND_MARGIN)``. The fixed point increases with ``u``, so its largest value becomes
    ``y*(c·u_max) = y*(u_b)``; on samples with ``u < 0`` it stays below ``y*(0) < bound``. Scaling down never
    raises ``Σ|w| + |b|``. Requires ``bound > y*(0)`` (:func:`check_config` enforces it)."""
    activation = network.activation
    u_bound = inverse_activation(activation, bound * (1 - BOUND_MARGIN))
    h = network.check_inputs(x, where="bound data")
    layers, changed = [], []
    for index, layer in enumerate(network.layers):
        u_max = (h @ layer.weights.T + layer.bias).max(axis=0)
        over = activation(u_max) > bound * (1 - BOUND_MARGIN)
        factor = np.where(over, u_bound / np.where(over, u_max, 1.0), 1.0)
        changed += [(index, int(j), float(factor[j])) for j in np.flatnonzero(over)]
        layer = Layer(layer.weights * factor[:, None], layer.bias * factor)
        layers.append(layer)
        h = activation(h @ layer.weights.T + layer.bias)
    return FeedForwardNetwork(tuple(layers), activation), tuple(changed)


def check_config(config: TrainConfig) -> None:
    """Refuse options that would crash or never finish training, before any array is built."""
    if config.task not in ("classification", "regression"):
        raise InputError(f"task must be 'classification' or 'regression', got {config.task!r}")
    check_options(hidden=config.hidden, epochs=config.epochs, learning_rate=config.learning_rate,
                  batch_size=config.batch_size, seed=config.seed, where="training options")
    if config.activation is None:
        check_options(eps=config.eps, where="training options")
    if not (0 <= config.validation_fraction < 1):
        raise InputError(f"training options: validation_fraction must be in [0, 1), got {config.validation_fraction}")
    if not (config.weight_decay >= 0 and np.isfinite(config.weight_decay)):
        raise InputError(f"training options: weight_decay must be finite and >= 0, got {config.weight_decay}")
    if not (isinstance(config.patience, int) and config.patience >= 1):
        raise InputError(f"training options: patience must be an integer >= 1, got {config.patience!r}")
    for name in ("max_activation", "max_weight_sum"):
        value = getattr(config, name)
        if value is not None and not (_is_real(value) and math.isfinite(value) and value > 0):
            raise InputError(f"training options: {name} must be a finite number > 0 (or None for no bound), "
                             f"got {value!r}")
    if config.max_activation is not None:
        activation = config.activation or smoothed_relu_activation(config.eps)
        floor = float(activation(np.zeros(1))[0])
        if config.max_activation <= floor:
            # enforce_bound scales a neuron's input towards 0, which moves its value towards y*(0), never below
            raise InputError(f"training options: max_activation {config.max_activation:g} must exceed "
                             f"{floor:.4g}, the value y*(0) of a neuron whose input is 0 ({activation.name})")
    penalty = config.activation_penalty
    if not (_is_real(penalty) and math.isfinite(penalty) and penalty >= 0):
        raise InputError(f"training options: activation_penalty must be a finite number >= 0, got {penalty!r}")


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def accuracy(network: FeedForwardNetwork, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(network.forward(x), axis=1) == y))
