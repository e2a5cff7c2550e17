"""What a worker runs: declarative workflows and algos, never uploaded code.

A problem's workflow file and an algo file are JSON documents naming things from the
allow-lists below; the worker builds the estimator itself. Trained models are stored
with skops, which loads only the types it is told to trust, never arbitrary pickles.

Workflow (JSON):  {"task": "classification", "metric": "accuracy", "target": "target",
                   "classes": [0, 1, 2], "features"?: ["col", ...]}
Algo (JSON):      {"estimator": "SGDClassifier", "params"?: {...}, "epochs"?: 1}
Data (CSV):       a header line, numeric feature columns and the target column.
"""

import csv
import io
import json
import math
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import skops.io as sio
from sklearn import linear_model, metrics, naive_bayes, neural_network
from sklearn.base import BaseEstimator

from compute.storage import MissingObject, Storage

CLASSIFICATION = "classification"
REGRESSION = "regression"

# Estimators that learn incrementally (partial_fit), by task. The PassiveAggressive ones
# are left out: scikit-learn deprecated them in 1.8 (SGD with learning_rate="pa1" replaces them).
ESTIMATORS: dict[str, dict[str, type[BaseEstimator]]] = {
    CLASSIFICATION: {
        "SGDClassifier": linear_model.SGDClassifier,
        "Perceptron": linear_model.Perceptron,
        "MultinomialNB": naive_bayes.MultinomialNB,
        "GaussianNB": naive_bayes.GaussianNB,
        "BernoulliNB": naive_bayes.BernoulliNB,
        "ComplementNB": naive_bayes.ComplementNB,
        "MLPClassifier": neural_network.MLPClassifier,
    },
    REGRESSION: {
        "SGDRegressor": linear_model.SGDRegressor,
        "MLPRegressor": neural_network.MLPRegressor,
    },
}
ALLOWED_MODEL_TYPES = tuple(cls for by_name in ESTIMATORS.values() for cls in by_name.values())

# Types inside the allowed estimators that skops does not trust by default (the MLP
# optimisers). Anything else found in a model file refuses to load.
TRUSTED_TYPES = frozenset({
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
})

Metric = Callable[[np.ndarray, np.ndarray], float]

METRICS: dict[str, dict[str, Metric]] = {
    CLASSIFICATION: {
        "accuracy": metrics.accuracy_score,
        "balanced_accuracy": metrics.balanced_accuracy_score,
        "f1_macro": lambda y, p: metrics.f1_score(y, p, average="macro"),
    },
    REGRESSION: {
        "r2": metrics.r2_score,
        # Negated errors, so that higher is better for every metric of the allow-list.
        "neg_mse": lambda y, p: -metrics.mean_squared_error(y, p),
        "neg_mae": lambda y, p: -metrics.mean_absolute_error(y, p),
    },
}

MAX_EPOCHS = 1000


class TaskFailed(Exception):
    """The task failed: reported to the Orchestrator as `failed`. `retryable`: a transient
    fault (storage unreachable, out of memory) that another attempt may not meet; else the
    task's inputs or its algo are at fault, and trying again would fail the same way."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class Stopped(Exception):
    """The work was stopped (the task was canceled, or its lease lost): nothing to report."""


Stop = Callable[[], bool]


def _never() -> bool:
    return False


@dataclass(frozen=True)
class Workflow:
    task: str
    metric_name: str
    target: str
    classes: np.ndarray | None
    features: list[str] | None

    def score(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return float(METRICS[self.task][self.metric_name](y_true, y_pred))


@dataclass(frozen=True)
class Table:
    X: np.ndarray
    y: np.ndarray | None


@dataclass(frozen=True)
class LabelledTable(Table):
    y: np.ndarray


@dataclass(frozen=True)
class LearnOutcome:
    model: bytes
    perf: float
    train_perf: dict[str, float]
    test_perf: dict[str, float]


def _read(storage: Storage, key: uuid.UUID | str, what: str, stop: Stop = _never) -> bytes:
    """An input; a point where the work stops when told to."""
    if stop():
        raise Stopped(what)
    try:
        return storage.read(uuid.UUID(str(key)))
    except MissingObject:
        raise TaskFailed(f"{what} {key} is missing from storage") from None
    except OSError as exc:  # the storage itself failed (unreachable, I/O error): not the data's fault
        raise TaskFailed(f"cannot read {what} {key}: {exc}", retryable=True) from None
    except MemoryError:
        raise TaskFailed(f"out of memory reading {what} {key}", retryable=True) from None


def _json_object(content: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TaskFailed(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise TaskFailed(f"{what} must be a JSON object")
    return doc


def load_workflow(storage: Storage, key: uuid.UUID | str) -> Workflow:
    doc = _json_object(_read(storage, key, "workflow"), f"workflow {key}")
    task = doc.get("task")
    if task not in METRICS:
        raise TaskFailed(f"workflow {key}: task must be one of {sorted(METRICS)}, not {task!r}")
    metric = doc.get("metric")
    if metric not in METRICS[task]:
        raise TaskFailed(f"workflow {key}: metric for {task} must be one of {sorted(METRICS[task])}, "
                         f"not {metric!r}")
    target = doc.get("target")
    if not isinstance(target, str) or not target:
        raise TaskFailed(f"workflow {key}: target must name the target column")
    features = doc.get("features")
    if features is not None and not (
        isinstance(features, list) and features and all(isinstance(f, str) for f in features)
    ):
        raise TaskFailed(f"workflow {key}: features must be a list of column names")
    classes = None
    if task == CLASSIFICATION:
        raw = doc.get("classes")
        if not isinstance(raw, list) or len(raw) < 2 or len(set(map(str, raw))) != len(raw):
            # partial_fit must know every class from the first mini-batch on.
            raise TaskFailed(f"workflow {key}: classification needs \"classes\", a list of "
                             "at least two distinct labels")
        if not all(isinstance(c, (int, str)) and not isinstance(c, bool) for c in raw):
            raise TaskFailed(f"workflow {key}: classes must be integers or strings")
        classes = np.array(raw)
    return Workflow(task=task, metric_name=metric, target=target, classes=classes, features=features)


@overload
def read_table(content: bytes, workflow: Workflow, *, what: str,
               need_target: Literal[True]) -> LabelledTable: ...
@overload
def read_table(content: bytes, workflow: Workflow, *, what: str, need_target: bool) -> Table: ...
def read_table(content: bytes, workflow: Workflow, *, what: str, need_target: bool) -> Table:
    """Parse a CSV data file into features and (when present or needed) the target."""
    try:
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TaskFailed(f"{what} is not a UTF-8 CSV file: {exc}") from None
    rows = [r for r in rows if r]
    if len(rows) < 2:
        raise TaskFailed(f"{what} has no data rows")
    header, body = rows[0], rows[1:]
    has_target = workflow.target in header
    if need_target and not has_target:
        raise TaskFailed(f"{what} has no target column {workflow.target!r}")
    names = workflow.features or [c for c in header if c != workflow.target]
    missing = [n for n in names if n not in header]
    if missing:
        raise TaskFailed(f"{what} lacks the feature columns {missing[:10]}")
    if not names:
        raise TaskFailed(f"{what} has no feature column")
    columns = [header.index(n) for n in names]
    X = np.empty((len(body), len(columns)), dtype=np.float64)
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise TaskFailed(f"{what}, line {line}: {len(row)} fields, the header has {len(header)}")
        try:
            X[line - 2] = [float(row[c]) for c in columns]
        except ValueError as exc:
            raise TaskFailed(f"{what}, line {line}: {exc}") from None
    if not np.isfinite(X).all():
        raise TaskFailed(f"{what} has non-finite feature values")
    if not has_target:
        return Table(X=X, y=None)
    y = _target(np.array([row[header.index(workflow.target)] for row in body]), workflow, what)
    return LabelledTable(X=X, y=y)


def _target(raw: np.ndarray, workflow: Workflow, what: str) -> np.ndarray:
    if workflow.classes is None:
        try:
            y = raw.astype(np.float64)
        except ValueError as exc:
            raise TaskFailed(f"{what}: target column: {exc}") from None
        if not np.isfinite(y).all():
            raise TaskFailed(f"{what}: non-finite target values")
        return y
    try:
        y = raw.astype(workflow.classes.dtype)
    except ValueError as exc:
        raise TaskFailed(f"{what}: target column does not match the workflow's classes: {exc}") from None
    unknown = set(np.unique(y).tolist()) - set(workflow.classes.tolist())
    if unknown:
        raise TaskFailed(f"{what}: labels not among the workflow's classes: {sorted(unknown)[:10]}")
    return y


def build_estimator(content: bytes, workflow: Workflow, *, what: str) -> tuple[BaseEstimator, int]:
    """The estimator an algo file describes, untrained, and its passes per mini-batch."""
    doc = _json_object(content, what)
    allowed = ESTIMATORS[workflow.task]
    name = doc.get("estimator")
    if name not in allowed:
        raise TaskFailed(f"{what}: estimator for {workflow.task} must be one of {sorted(allowed)}, "
                         f"not {name!r}")
    params = doc.get("params", {})
    if not isinstance(params, dict):
        raise TaskFailed(f"{what}: params must be a JSON object")
    epochs = doc.get("epochs", 1)
    if not isinstance(epochs, int) or isinstance(epochs, bool) or not 1 <= epochs <= MAX_EPOCHS:
        raise TaskFailed(f"{what}: epochs must be an integer from 1 to {MAX_EPOCHS}")
    try:
        estimator = allowed[name](**params)
    except TypeError as exc:
        raise TaskFailed(f"{what}: invalid params: {exc}") from None
    return estimator, epochs


def dump_model(model: BaseEstimator) -> bytes:
    content: bytes = sio.dumps(model)
    return content


def load_model(content: bytes, *, what: str) -> BaseEstimator:
    """Load a skops model file, refusing types outside the allow-lists."""
    try:
        untrusted = set(sio.get_untrusted_types(data=content))
        refused = untrusted - TRUSTED_TYPES
        if refused:
            raise TaskFailed(f"{what} contains types that are not trusted: {sorted(refused)[:10]}")
        model = sio.loads(content, trusted=sorted(untrusted))
    except TaskFailed:
        raise
    except Exception as exc:  # skops raises many kinds on a corrupt or foreign file
        raise TaskFailed(f"{what} is not a readable skops model: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, ALLOWED_MODEL_TYPES):
        raise TaskFailed(f"{what} holds a {type(model).__name__}, not an allowed estimator")
    return model


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise TaskFailed(f"the metric is not finite on {what} (the model diverged?)")
    return value


def _stack(tables: Sequence[LabelledTable]) -> tuple[np.ndarray, np.ndarray]:
    X = np.concatenate([t.X for t in tables])
    y = np.concatenate([t.y for t in tables])
    return X, y


def learn(
    storage: Storage,
    *,
    workflow: str,
    algo: str,
    model_start: str,
    train_data: Sequence[str],
    test_data: Sequence[str],
    stop: Stop = _never,
) -> LearnOutcome:
    """Train from `model_start` on the train data, score on every data file.

    The chain's first rank starts from the algo file itself (`model_start == algo`), later
    ranks from a model saved by an earlier one. `perf` is the metric on all test data
    together; on all train data when the problem has no test data. `stop` is asked before
    each input and each pass: Stopped when it says so.
    """
    flow = load_workflow(storage, workflow)
    # Every rank reads the algo file: it says how many passes a mini-batch gets.
    model, epochs = build_estimator(_read(storage, algo, "algo"), flow, what=f"algo {algo}")
    if str(model_start) != str(algo):
        saved = load_model(_read(storage, model_start, "model"), what=f"model {model_start}")
        if type(saved) is not type(model):
            raise TaskFailed(f"model {model_start} is a {type(saved).__name__}, algo {algo} "
                             f"describes a {type(model).__name__}")
        model = saved
    train = {str(d): read_table(_read(storage, d, "train data", stop), flow, what=f"train data {d}",
                                need_target=True) for d in train_data}
    test = {str(d): read_table(_read(storage, d, "test data", stop), flow, what=f"test data {d}",
                               need_target=True) for d in test_data}
    X, y = _stack(list(train.values()))
    fit_kwargs = {"classes": flow.classes} if flow.classes is not None else {}
    try:
        with warnings.catch_warnings():
            # One partial_fit pass per mini-batch is the design; convergence comes with ranks.
            warnings.simplefilter("ignore", category=UserWarning)
            for _ in range(epochs):
                if stop():
                    raise Stopped("training")
                model.partial_fit(X, y, **fit_kwargs)
        train_perf = {d: _finite(flow.score(t.y, model.predict(t.X)), f"train data {d}")
                      for d, t in train.items()}
        test_perf = {d: _finite(flow.score(t.y, model.predict(t.X)), f"test data {d}")
                     for d, t in test.items()}
        X_all, y_all = _stack(list(test.values())) if test else (X, y)
        perf = _finite(flow.score(y_all, model.predict(X_all)), "all test data")
    except (TaskFailed, Stopped):
        raise
    except MemoryError:
        raise TaskFailed("out of memory while training", retryable=True) from None
    except Exception as exc:  # the algo's params or the data do not suit the estimator
        raise TaskFailed(f"{type(exc).__name__}: {exc}") from None
    return LearnOutcome(model=dump_model(model), perf=perf, train_perf=train_perf, test_perf=test_perf)


def predict(storage: Storage, *, workflow: str, model: str, data: Sequence[str],
            stop: Stop = _never) -> list[bytes]:
    """One predictions CSV (a `prediction` column, rows in the data file's order) per data file."""
    flow = load_workflow(storage, workflow)
    estimator = load_model(_read(storage, model, "model"), what=f"model {model}")
    outputs = []
    for d in data:
        table = read_table(_read(storage, d, "data", stop), flow, what=f"data {d}", need_target=False)
        try:
            predictions = estimator.predict(table.X)
        except MemoryError:
            raise TaskFailed(f"out of memory predicting on data {d}", retryable=True) from None
        except Exception as exc:
            raise TaskFailed(f"data {d}: {type(exc).__name__}: {exc}") from None
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["prediction"])
        writer.writerows([p] for p in predictions.tolist())
        outputs.append(out.getvalue().encode())
    return outputs
