"""Datasets that need no download: generated XOR and the tables that ship inside scikit-learn.

Features are raw non-negative concentrations. The standardisation learned on the training split is kept
separately (:class:`~crn2sbml.nn.transforms.Standardiser`) and folded exactly into the first layer after training
(docs/theory.md §4), so the compiled CRN takes the raw features. Transforms of networks live in
:mod:`crn2sbml.nn.transforms`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crn2sbml.errors import InputError
from crn2sbml.validate.inputs import check_inputs

__all__ = ["DATASETS", "Dataset", "check_labelled", "load_dataset", "split"]

DATASETS = ("xor", "iris", "wine", "breast-cancer", "digits")


@dataclass(frozen=True, eq=False)
class Dataset:
    """``x_*``: ``(n, n_features)`` raw features; ``y_*``: ``(n,)`` integer class labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    description: str

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


def check_labelled(x: np.ndarray, y: np.ndarray, where: str = "dataset") -> tuple[np.ndarray, np.ndarray]:
    """Validate a labelled table: numeric, finite, non-negative (the input rules of
    :func:`crn2sbml.validate.inputs.check_inputs`), one label per row, not empty."""
    x_shape = np.shape(x)
    if len(x_shape) != 2 or 0 in x_shape:
        raise InputError(f"{where}: need a non-empty 2-D feature table, got shape {x_shape}")
    x = check_inputs(x, x_shape[1], where)
    y = np.asarray(y)
    if y.shape != (x.shape[0],):
        raise InputError(f"{where}: {y.shape[0] if y.ndim else 0} labels for {x.shape[0]} samples")
    if y.dtype.kind not in "iu" or np.any(y < 0):
        raise InputError(f"{where}: labels must be non-negative integers, got dtype {y.dtype}")
    return x, y.astype(np.int64)


def split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int):
    from sklearn.model_selection import train_test_split

    return train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)


def load_dataset(name: str, seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """One of :data:`DATASETS`, split (stratified) into train and test with ``seed``."""
    from sklearn import datasets as sk

    if name == "xor":
        rng = np.random.default_rng(seed)
        x = rng.uniform(0, 1, size=(400, 2))
        y = ((x[:, 0] > 0.5) ^ (x[:, 1] > 0.5)).astype(np.int64)
        desc = "XOR of two concentrations in [0, 1] (class 1 when exactly one is above 0.5); 400 generated samples"
    elif name in ("iris", "wine", "breast-cancer", "digits"):
        loader = {"iris": sk.load_iris, "wine": sk.load_wine, "breast-cancer": sk.load_breast_cancer,
                  "digits": sk.load_digits}[name]
        bunch = loader()
        x, y = bunch.data, bunch.target
        desc = f"scikit-learn's bundled {name} dataset ({x.shape[0]} samples, {x.shape[1]} features)"
    else:
        raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    x, y = check_labelled(x, y, name)
    x_tr, x_te, y_tr, y_te = split(x, y, test_fraction, seed)
    return Dataset(name, x_tr, y_tr, x_te, y_te, int(y.max()) + 1, desc)
