"""Prediction requests on the best trained model (issue 4)."""

import uuid

import pytest

from predictions.models import Preduplet
from tasks.models import TaskEvent
from tests.factories import AlgoFactory, LearnupletFactory, ProblemFactory
from tests.helpers import API, uuids

pytestmark = pytest.mark.django_db


def trained(algo, perf: float | None, status: str = "done", **fields):
    return LearnupletFactory.create(algo=algo, status=status, perf=perf, **fields)


def request_prediction(caller, problem, **body):
    return caller.post(f"{API}/preduplets/", {"problem": str(problem.pk), "data": uuids(1)[0], **body})


def test_it_predicts_with_the_best_model_across_algos(uploader):
    problem = ProblemFactory.create(higher_is_better=True)
    a, b = AlgoFactory.create(problem=problem), AlgoFactory.create(problem=problem)
    trained(a, 0.6)
    best = trained(b, 0.9)
    trained(b, 0.7)

    r = request_prediction(uploader, problem)

    assert r.status_code == 201, r.json()
    assert r.json()["model"] == str(best.model_end)


def test_it_predicts_with_the_lowest_perf_when_lower_is_better(uploader):
    problem = ProblemFactory.create(higher_is_better=False)
    a, b = AlgoFactory.create(problem=problem), AlgoFactory.create(problem=problem)
    best = trained(a, 0.1)
    trained(b, 0.5)

    r = request_prediction(uploader, problem)

    assert r.json()["model"] == str(best.model_end)


def test_it_ignores_failed_and_unfinished_tasks(uploader):
    problem = ProblemFactory.create()
    algo = AlgoFactory.create(problem=problem)
    best = trained(algo, 0.2)
    trained(algo, 0.99, status="failed")
    trained(algo, None, status="pending", worker=uuid.uuid4(), lease_expires_at="2100-01-01T00:00:00Z")
    trained(algo, None, status="todo")

    r = request_prediction(uploader, problem)

    assert r.json()["model"] == str(best.model_end)


def test_it_ignores_models_of_other_problems(uploader):
    problem = ProblemFactory.create()
    trained(AlgoFactory.create(problem=problem), 0.1)
    trained(AlgoFactory.create(), 0.99)

    r = request_prediction(uploader, problem)

    assert r.json()["model"] == str(problem.learnuplets.get().model_end)


def test_it_uses_an_explicitly_named_trained_model(uploader):
    problem = ProblemFactory.create()
    algo = AlgoFactory.create(problem=problem)
    chosen = trained(algo, 0.1)
    trained(algo, 0.9)

    r = request_prediction(uploader, problem, model=str(chosen.model_end))

    assert r.status_code == 201
    assert r.json()["model"] == str(chosen.model_end)


@pytest.mark.parametrize("which", ["random", "untrained", "other problem"])
def test_it_rejects_a_model_that_is_not_a_trained_model_of_the_problem(uploader, which):
    problem = ProblemFactory.create()
    algo = AlgoFactory.create(problem=problem)
    trained(algo, 0.5)
    model = {
        "random": lambda: uuid.uuid4(),
        "untrained": lambda: trained(algo, None, status="todo").model_end,
        "other problem": lambda: trained(AlgoFactory.create(), 0.5).model_end,
    }[which]()

    r = request_prediction(uploader, problem, model=str(model))

    assert r.status_code == 400
    assert "model" in r.json()
    assert not Preduplet.objects.exists()


def test_it_says_when_the_problem_has_no_trained_model(uploader):
    problem = ProblemFactory.create()
    trained(AlgoFactory.create(problem=problem), None, status="todo")

    r = request_prediction(uploader, problem)

    assert r.status_code == 400
    assert "no trained model" in r.json()["problem"][0]


def test_it_rejects_an_unknown_problem(uploader):
    r = uploader.post(f"{API}/preduplets/", {"problem": str(uuid.uuid4()), "data": uuids(1)})

    assert r.status_code == 400
    assert "problem" in r.json()


@pytest.mark.parametrize("data", [[], "not-a-uuid", ["A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"], 7, None])
def test_it_rejects_malformed_data(uploader, data):
    problem = ProblemFactory.create()
    trained(AlgoFactory.create(problem=problem), 0.5)

    r = uploader.post(f"{API}/preduplets/", {"problem": str(problem.pk), "data": data})

    assert r.status_code == 400
    assert "data" in r.json()


def test_it_rejects_duplicate_data(uploader):
    problem = ProblemFactory.create()
    trained(AlgoFactory.create(problem=problem), 0.5)
    d = uuids(1)[0]

    r = uploader.post(f"{API}/preduplets/", {"problem": str(problem.pk), "data": [d, d]})

    assert r.status_code == 400


def test_it_refuses_to_predict_on_the_problems_secret_test_data(uploader):
    problem = ProblemFactory.create()
    trained(AlgoFactory.create(problem=problem), 0.5)

    r = uploader.post(f"{API}/preduplets/", {"problem": str(problem.pk), "data": [str(problem.test_dataset[0])]})

    assert r.status_code == 400
    assert str(problem.test_dataset[0]) not in r.content.decode()


def test_it_stores_one_uuid_or_a_list_as_a_list(uploader):
    problem = ProblemFactory.create()
    trained(AlgoFactory.create(problem=problem), 0.5)
    one, many = uuids(1)[0], uuids(3)

    single = request_prediction(uploader, problem, data=one).json()
    several = request_prediction(uploader, problem, data=many).json()

    assert single["data"] == [one]
    assert several["data"] == many


def test_it_creates_a_todo_task_with_the_problems_workflow(uploader):
    problem = ProblemFactory.create()
    trained(AlgoFactory.create(problem=problem), 0.5)

    body = request_prediction(uploader, problem).json()

    assert body["status"] == "todo"
    assert body["workflow"] == str(problem.workflow)
    assert body["problem"] == str(problem.pk)
    assert body["timestamp_request"] is not None
    assert body["timestamp_done"] is None
    assert body["prediction_storage_uuid"] == []
    assert body["worker"] is None
    assert set(body) == {"uuid", "problem", "workflow", "data", "prediction_storage_uuid", "model",
                         "worker", "status", "timestamp_request", "timestamp_done", "attempt",
                         "lease_expires_at", "last_error", "site", "not_before", "error_kind"}
    assert list(TaskEvent.objects.filter(task=body["uuid"]).values_list("from_status", "to_status")) == [("", "todo")]


def test_it_runs_a_prediction_through_a_worker(uploader, worker):
    problem = ProblemFactory.create()
    trained(AlgoFactory.create(problem=problem), 0.5)
    requested = request_prediction(uploader, problem).json()

    task = worker.post(f"{API}/preduplets/claim/").json()
    stored = uuids(2)
    r = worker.post(f"{API}/preduplets/{task['uuid']}/result/",
                    {"attempt": task["attempt"], "status": "done", "prediction_storage_uuid": stored})

    assert task["uuid"] == requested["uuid"]
    assert r.status_code == 200
    seen = uploader.get(f"{API}/preduplets/{requested['uuid']}/").json()
    assert seen["status"] == "done"
    assert seen["prediction_storage_uuid"] == stored
    assert seen["timestamp_done"] is not None


@pytest.mark.parametrize("role", ["compute", "anonymous"])
def test_it_lets_only_uploaders_and_operators_request_predictions(role, worker, anonymous):
    problem = ProblemFactory.create()
    trained(AlgoFactory.create(problem=problem), 0.5)
    body = {"problem": str(problem.pk), "data": uuids(1)}

    r = worker.post(f"{API}/preduplets/", body) if role == "compute" else anonymous.post(f"{API}/preduplets/", body, format="json")

    assert r.status_code == (403 if role == "compute" else 401)


def test_it_filters_preduplets_by_problem_status_and_worker(uploader, worker):
    problem = ProblemFactory.create()
    trained(AlgoFactory.create(problem=problem), 0.5)
    first = request_prediction(uploader, problem).json()
    request_prediction(uploader, problem)
    worker.post(f"{API}/preduplets/{first['uuid']}/claim/")

    pending = uploader.get(f"{API}/preduplets/", status="pending").json()["results"]
    mine = uploader.get(f"{API}/preduplets/", worker=str(worker.worker)).json()["results"]
    both = uploader.get(f"{API}/preduplets/", status="todo,pending", problem=str(problem.pk)).json()

    assert [p["uuid"] for p in pending] == [first["uuid"]]
    assert [p["uuid"] for p in mine] == [first["uuid"]]
    assert both["count"] == 2
