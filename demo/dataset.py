"""The demo's files on Storage: a real data set shipped with scikit-learn, no download.

Breast cancer diagnosis (569 tumours, 30 features, benign or malignant), shuffled once,
standardised as a data provider would, then cut into training files, secret test files and
a file to predict whose labels only the demo knows. The training files are split between
the hospitals, each in its own directory; the file to predict is the last hospital's; the
workflow, algos and test files are on the shared Storage, read by the workers of every site.
"""

import csv
import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_breast_cancer

from compute.storage import Storage

ALGOS: list[tuple[str, dict[str, object]]] = [
    ("SGD logistic regression", {"estimator": "SGDClassifier",
                                 "params": {"loss": "log_loss", "alpha": 0.001, "random_state": 0}}),
    ("Perceptron", {"estimator": "Perceptron", "params": {"random_state": 0}}),
    ("MLP, 16 hidden units", {"estimator": "MLPClassifier",
                              "params": {"hidden_layer_sizes": [16], "learning_rate_init": 0.01,
                                         "random_state": 0},
                              "epochs": 5}),
]


@dataclass(frozen=True)
class DemoFiles:
    workflow: uuid.UUID
    algos: list[tuple[str, uuid.UUID]]
    train: list[list[uuid.UUID]]  # each site's, in the order of the sites given
    test: list[uuid.UUID]
    to_predict: uuid.UUID
    truth: list[int]


def _csv(X: np.ndarray, y: np.ndarray | None, names: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names + (["diagnosis"] if y is not None else []))
    for i, row in enumerate(X.round(6).tolist()):
        writer.writerow(row + ([int(y[i])] if y is not None else []))
    return out.getvalue().encode()


def _put(storage: Storage, content: bytes) -> uuid.UUID:
    key = uuid.uuid4()
    storage.write(key, content)
    return key


def write_demo_files(shared: Storage, sites: Sequence[Storage], *, train_files: int = 8,
                     rows_per_file: int = 50, test_files: int = 2, rows_per_test_file: int = 70) -> DemoFiles:
    """`train_files` training files, as many at each site (the first ones to the first site)."""
    if not sites or train_files % len(sites):
        raise ValueError(f"{train_files} training files do not split evenly between {len(sites)} sites")
    bunch = load_breast_cancer()
    order = np.random.default_rng(7).permutation(len(bunch.target))
    X, y = bunch.data[order], bunch.target[order]
    names = [n.replace(" ", "_") for n in bunch.feature_names]
    n_train, n_test = train_files * rows_per_file, test_files * rows_per_test_file
    if n_train + n_test >= len(y):
        raise ValueError(f"the data set has {len(y)} rows, fewer than the files asked for")
    mean, std = X[:n_train].mean(axis=0), X[:n_train].std(axis=0)
    X = (X - mean) / std
    workflow = {"task": "classification", "metric": "accuracy", "target": "diagnosis", "classes": [0, 1]}
    per_site = train_files // len(sites)
    train = [[_put(site, _csv(X[i:i + rows_per_file], y[i:i + rows_per_file], names))
              for i in range(start, start + per_site * rows_per_file, rows_per_file)]
             for site, start in zip(sites, range(0, n_train, per_site * rows_per_file), strict=True)]
    test = [_put(shared, _csv(X[i:i + rows_per_test_file], y[i:i + rows_per_test_file], names))
            for i in range(n_train, n_train + n_test, rows_per_test_file)]
    rest = slice(n_train + n_test, None)
    return DemoFiles(
        workflow=_put(shared, json.dumps(workflow).encode()),
        algos=[(name, _put(shared, json.dumps(spec).encode())) for name, spec in ALGOS],
        train=train,
        test=test,
        to_predict=_put(sites[-1], _csv(X[rest], None, names)),
        truth=y[rest].tolist(),
    )
