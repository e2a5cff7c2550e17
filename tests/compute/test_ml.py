"""The worker's computations on Storage, without an Orchestrator: what it runs and refuses."""

import csv
import fractions
import io
import json
import uuid
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.datasets import load_diabetes, load_iris
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from compute import ml
from compute.storage import DirectoryStorage, MissingObject


def put(storage: DirectoryStorage, content: bytes | dict[str, Any]) -> str:
    key = uuid.uuid4()
    storage.write(key, json.dumps(content).encode() if isinstance(content, dict) else content)
    return str(key)


def csv_bytes(X: np.ndarray, y: np.ndarray | None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([f"x{i}" for i in range(X.shape[1])] + (["target"] if y is not None else []))
    for i, row in enumerate(X.tolist()):
        writer.writerow(row + ([y[i].item()] if y is not None else []))
    return out.getvalue().encode()


@pytest.fixture
def storage(tmp_path) -> DirectoryStorage:
    return DirectoryStorage(tmp_path)


@pytest.fixture
def iris(storage: DirectoryStorage) -> dict[str, object]:
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    return {
        "workflow": put(storage, {"task": "classification", "metric": "accuracy", "target": "target",
                                  "classes": [0, 1, 2]}),
        "train": [put(storage, csv_bytes(X[i:i + 40], y[i:i + 40])) for i in (0, 40, 80)],
        "test": [put(storage, csv_bytes(X[120:], y[120:]))],
        "unlabelled": put(storage, csv_bytes(X[120:], None)),
    }


def learn(storage: DirectoryStorage, iris: dict[str, Any], algo: str, model_start: str | None = None) -> ml.LearnOutcome:
    return ml.learn(storage, workflow=iris["workflow"], algo=algo, model_start=model_start or algo,
                    train_data=iris["train"], test_data=iris["test"])


def test_it_round_trips_objects_in_a_directory(storage):
    key = uuid.uuid4()
    storage.write(key, b"abc")
    assert storage.read(key) == b"abc"
    assert storage.locate(key).endswith(str(key))


def test_it_raises_missing_object_for_an_unknown_uuid(storage):
    with pytest.raises(MissingObject):
        storage.read(uuid.uuid4())


def test_it_trains_and_scores_every_data_file(storage, iris):
    algo = put(storage, {"estimator": "SGDClassifier", "params": {"random_state": 0}})
    outcome = learn(storage, iris, algo)
    assert set(outcome.train_perf) == set(iris["train"])
    assert set(outcome.test_perf) == set(iris["test"])
    assert outcome.perf == outcome.test_perf[iris["test"][0]]
    assert outcome.perf > 0.6


def test_it_continues_from_a_saved_model(storage, iris):
    algo = put(storage, {"estimator": "GaussianNB"})
    first = learn(storage, iris, algo)
    saved = put(storage, first.model)
    second = learn(storage, iris, algo, model_start=saved)
    assert ml.load_model(second.model, what="model").class_count_.sum() == 240


def test_it_trains_a_regressor_with_a_negated_error(storage):
    X, y = load_diabetes(return_X_y=True)
    workflow = put(storage, {"task": "regression", "metric": "neg_mse", "target": "target"})
    algo = put(storage, {"estimator": "SGDRegressor", "params": {"random_state": 0}, "epochs": 5})
    data = put(storage, csv_bytes(X[:300], y[:300]))
    outcome = ml.learn(storage, workflow=workflow, algo=algo, model_start=algo, train_data=[data],
                       test_data=[])
    assert outcome.perf < 0
    assert outcome.perf == outcome.train_perf[data]


def test_it_writes_one_prediction_per_row(storage, iris):
    algo = put(storage, {"estimator": "Perceptron"})
    model = put(storage, learn(storage, iris, algo).model)
    (predictions,) = ml.predict(storage, workflow=iris["workflow"], model=model, data=[iris["unlabelled"]])
    rows = list(csv.reader(io.StringIO(predictions.decode())))
    assert rows[0] == ["prediction"]
    assert len(rows) == 31
    assert {r[0] for r in rows[1:]} <= {"0", "1", "2"}


@pytest.mark.parametrize("algo, message", [
    ({"estimator": "LogisticRegression"}, "estimator for classification must be one of"),
    ({"estimator": "SGDClassifier", "params": {"bogus": 1}}, "invalid params"),
    ({"estimator": "SGDClassifier", "params": {"alpha": -1}}, "'alpha' parameter"),
    ({"estimator": "SGDRegressor"}, "estimator for classification must be one of"),
    ({"estimator": "GaussianNB", "epochs": 0}, "epochs"),
])
def test_it_fails_an_algo_outside_the_allow_list_or_with_bad_params(storage, iris, algo, message):
    with pytest.raises(ml.TaskFailed, match=message):
        learn(storage, iris, put(storage, algo))


@pytest.mark.parametrize("workflow, message", [
    ({"task": "clustering", "metric": "accuracy", "target": "target"}, "task must be one of"),
    ({"task": "classification", "metric": "log_loss", "target": "target", "classes": [0, 1, 2]},
     "metric for classification"),
    ({"task": "classification", "metric": "accuracy", "target": "target"}, "needs \"classes\""),
    ({"task": "classification", "metric": "accuracy", "target": "label", "classes": [0, 1, 2]},
     "no target column 'label'"),
    ({"task": "classification", "metric": "accuracy", "target": "target", "classes": [0, 1]},
     "labels not among the workflow's classes"),
])
def test_it_fails_a_workflow_it_cannot_follow(storage, iris, workflow, message):
    iris["workflow"] = put(storage, workflow)
    with pytest.raises(ml.TaskFailed, match=message):
        learn(storage, iris, put(storage, {"estimator": "GaussianNB"}))


def test_it_fails_a_data_file_that_is_not_numeric(storage, iris):
    iris["train"] = [put(storage, b"x0,target\nabc,1\n")]
    with pytest.raises(ml.TaskFailed, match="line 2"):
        learn(storage, iris, put(storage, {"estimator": "GaussianNB"}))


def test_it_refuses_a_model_file_with_untrusted_types(storage):
    with pytest.raises(ml.TaskFailed, match="not trusted: \\['fractions.Fraction'\\]"):
        ml.load_model(sio.dumps({"a": fractions.Fraction(1, 3)}), what="model")


def test_it_refuses_a_model_file_holding_another_estimator(storage):
    with pytest.raises(ml.TaskFailed, match="holds a Pipeline"):
        ml.load_model(sio.dumps(Pipeline([("s", StandardScaler())])), what="model")


def test_it_refuses_a_pickle(storage):
    import pickle

    with pytest.raises(ml.TaskFailed, match="not a readable skops model"):
        ml.load_model(pickle.dumps([1, 2]), what="model")
