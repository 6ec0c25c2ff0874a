"""Gradient training of σ_eps (or any polynomial-activation) networks with JAX and optax.

The activation's fixed point is differentiated through the implicit function theorem
(``dy*/du = -f_u/f_y``), so polynomial activations without a closed form train as easily as σ_eps.
"""

from __future__ import annotations

import logging
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


@dataclass(frozen=True, eq=False)
class TrainResult:
    network: FeedForwardNetwork  # takes raw features (standardisation folded in)
    history: list[dict]
    best_epoch: int


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

    _check_config(config)
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

    def loss_fn(params, xb, yb):
        out = forward(params, xb)
        if config.task == "classification":
            return optax.softmax_cross_entropy_with_integer_labels(out, yb).mean()
        return jnp.mean((out - yb) ** 2)

    opt = optax.adamw(config.learning_rate, weight_decay=config.weight_decay)
    state = opt.init(params)

    @jax.jit
    def step(params, state, xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    @jax.jit
    def evaluate(params, xb, yb):
        out = forward(params, xb)
        metric = jnp.mean(jnp.argmax(out, 1) == yb) if config.task == "classification" else jnp.mean((out - yb) ** 2)
        return loss_fn(params, xb, yb), metric

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
    return TrainResult(network, history, best[1])


def _check_config(config: TrainConfig) -> None:
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


def accuracy(network: FeedForwardNetwork, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(network.forward(x), axis=1) == y))
