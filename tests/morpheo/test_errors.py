"""The 2017 routes answer bad input with 400/404 and an `Error`, never a 500."""

import uuid

import pytest

from learning.models import Learnuplet
from tasks.models import Status
from tests.factories import AlgoFactory, LearnupletFactory, PredupletFactory, ProblemFactory
from tests.morpheo_support import m_client, m_compute, new_uuids, post_problem  # noqa: F401

U = str(uuid.uuid4())


def assert_error(r, status: int, *words: str) -> None:
    assert r.status_code == status, r.content
    assert r["Content-Type"] == "application/json"
    body = r.json()
    assert list(body) == ["Error"] and isinstance(body["Error"], str)
    for word in words:
        assert word in body["Error"]


def problem_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {"uuid": str(uuid.uuid4()), "workflow": str(uuid.uuid4()),
                               "test_dataset": new_uuids(1), "size_train_dataset": 2}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"uuid": ...}, "uuid"),
        ({"workflow": ...}, "workflow"),
        ({"test_dataset": ...}, "test_dataset"),
        ({"size_train_dataset": ...}, "size_train_dataset"),
        ({"uuid": "not-a-uuid"}, "uuid"),
        ({"uuid": U.upper()}, "uuid"),
        ({"workflow": 12}, "workflow"),
        ({"test_dataset": "not-a-list"}, "test_dataset"),
        ({"test_dataset": ["nope"]}, "test_dataset"),
        ({"size_train_dataset": "many"}, "size_train_dataset"),
        ({"size_train_dataset": 0}, "size_train_dataset"),
    ],
)
def test_it_refuses_a_problem_with_a_missing_or_mistyped_key(m_client, overrides, field):  # noqa: F811
    assert_error(m_client.post("/problem", problem_body(**overrides)), 400, field)


def test_it_refuses_a_problem_uuid_already_registered(m_client):  # noqa: F811
    body = problem_body()
    m_client.post("/problem", body)
    assert_error(m_client.post("/problem", body), 400, "already exists")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"problem": U, "name": "a"}, "uuid"),
        ({"uuid": U, "name": "a"}, "problem"),
        ({"uuid": U, "problem": U}, "name"),
        ({"uuid": U, "problem": "xyz", "name": "a"}, "problem"),
        ({"uuid": U, "problem": U, "name": ["a"]}, "name"),
    ],
)
def test_it_refuses_an_algo_with_a_missing_or_mistyped_key(m_client, body, field):  # noqa: F811
    assert_error(m_client.post("/algo", body), 400, field)


def test_it_refuses_an_algo_of_an_unknown_problem(m_client):  # noqa: F811
    assert_error(m_client.post("/algo", {"uuid": U, "problem": str(uuid.uuid4()), "name": "a"}),
                 400, "unknown problem")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"problems": [U]}, "uuid"),
        ({"uuid": U}, "problems"),
        ({"uuid": "nope", "problems": [U]}, "uuid"),
        ({"uuid": U, "problems": U}, "problems"),
    ],
)
def test_it_refuses_data_with_a_missing_or_mistyped_key(m_client, body, field):  # noqa: F811
    assert_error(m_client.post("/data", body), 400, field)


def test_it_refuses_data_for_an_unknown_problem(m_client):  # noqa: F811
    assert_error(m_client.post("/data", {"uuid": U, "problems": [str(uuid.uuid4())]}), 400, "unknown problem")


def test_it_refuses_data_already_registered(m_client):  # noqa: F811
    problem = post_problem(m_client)
    m_client.post("/data", {"uuid": U, "problems": [problem]})
    assert_error(m_client.post("/data", {"uuid": U, "problems": [problem]}), 400, "already registered")


@pytest.mark.parametrize(
    ("body", "field"),
    [({"problem": U}, "data"), ({"data": U}, "problem"), ({"data": "x", "problem": U}, "data")],
)
def test_it_refuses_a_prediction_with_a_missing_or_mistyped_key(m_client, body, field):  # noqa: F811
    assert_error(m_client.post("/prediction", body), 400, field)


def test_it_refuses_a_prediction_for_an_unknown_problem(m_client):  # noqa: F811
    assert_error(m_client.post("/prediction", {"data": U, "problem": str(uuid.uuid4())}), 400, "unknown problem")


def test_it_refuses_a_prediction_when_the_problem_has_no_trained_model(m_client):  # noqa: F811
    problem = post_problem(m_client)
    assert_error(m_client.post("/prediction", {"data": U, "problem": problem}), 400, "no trained model")


@pytest.mark.parametrize("kind", ["learnuplet", "preduplet"])
def test_it_refuses_to_set_the_worker_of_a_task_that_is_not_todo(m_compute, kind):  # noqa: F811
    factory = LearnupletFactory if kind == "learnuplet" else PredupletFactory
    task = factory.create(status=Status.FAILED)
    assert_error(m_compute.post(f"/worker/{kind}/{task.pk}", {"worker": U}), 400, "not todo")


def test_it_refuses_to_set_the_worker_of_a_task_twice(m_compute):  # noqa: F811
    task = LearnupletFactory.create()
    assert m_compute.post(f"/worker/learnuplet/{task.pk}", {"worker": U}).status_code == 200
    assert_error(m_compute.post(f"/worker/learnuplet/{task.pk}", {"worker": U}), 400, "pending")


def test_it_refuses_to_set_the_worker_of_an_unknown_task(m_compute):  # noqa: F811
    assert_error(m_compute.post(f"/worker/learnuplet/{uuid.uuid4()}", {"worker": U}), 400)


def test_it_answers_404_to_another_task_type(m_compute):  # noqa: F811
    assert_error(m_compute.post(f"/worker/problem/{uuid.uuid4()}", {"worker": U}), 404)


@pytest.mark.parametrize("body", [{}, {"worker": "w1"}, {"worker": [U]}, [U]])
def test_it_refuses_a_worker_set_with_a_missing_or_mistyped_worker(m_compute, body):  # noqa: F811
    task = LearnupletFactory.create()
    assert_error(m_compute.post(f"/worker/learnuplet/{task.pk}", body), 400)
    assert Learnuplet.objects.get(pk=task.pk).status == Status.TODO


@pytest.mark.parametrize("path", ["/worker/learnuplet/{}", "/learndone/{}", "/preddone/{}", "/problem/{}"])
def test_it_refuses_a_malformed_uuid_in_the_path(m_compute, path):  # noqa: F811
    r = m_compute.post(path.format("123"), {"worker": U, "status": "failed"}) if "problem" not in path \
        else m_compute.get(path.format(U.upper()))
    assert_error(r, 400, "uuid")


def test_it_refuses_a_learndone_on_a_task_that_is_not_pending(m_compute):  # noqa: F811
    task = LearnupletFactory.create()
    assert_error(m_compute.post(f"/learndone/{task.pk}", {"status": "failed"}), 400, "todo")
    assert Learnuplet.objects.get(pk=task.pk).status == Status.TODO


def test_it_refuses_the_same_learndone_twice(m_compute):  # noqa: F811
    task = LearnupletFactory.create()
    m_compute.post(f"/worker/learnuplet/{task.pk}", {"worker": U})
    assert m_compute.post(f"/learndone/{task.pk}", {"status": "failed"}).status_code == 200
    assert_error(m_compute.post(f"/learndone/{task.pk}", {"status": "failed"}), 400, "failed")


@pytest.mark.parametrize("kind", ["learnuplet", "preduplet"])
def test_a_2017_failure_stays_failed_whatever_retry_it_says(m_compute, kind):  # noqa: F811
    # 2017 results have no retry (issue 16): a "retry" key is ignored, as any unknown key.
    task = (LearnupletFactory if kind == "learnuplet" else PredupletFactory).create()
    m_compute.post(f"/worker/{kind}/{task.pk}", {"worker": U})
    done = "learndone" if kind == "learnuplet" else "preddone"

    r = m_compute.post(f"/{done}/{task.pk}", {"status": "failed", "retry": True})

    assert r.status_code == 200, r.content
    task.refresh_from_db()
    assert (task.status, task.not_before, task.error_kind) == (Status.FAILED, None, "worker")


def test_it_refuses_a_learndone_on_an_unknown_task(m_compute):  # noqa: F811
    assert_error(m_compute.post(f"/learndone/{uuid.uuid4()}", {"status": "failed"}), 400, "no learnuplet")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "status"),
        ({"status": "pending"}, "status"),
        ({"status": "done"}, "perf"),
        ({"status": "done", "perf": "good"}, "perf"),
        ({"status": "done", "perf": 0.5, "train_perf": [0.5]}, "train_perf"),
        ({"status": "done", "perf": 0.5, "test_perf": {U: "x"}}, "test_perf"),
        ({"status": "done", "perf": 0.5, "train_perf": {U: 0.5}}, "train_perf"),
    ],
)
def test_it_refuses_a_learndone_with_a_missing_or_mistyped_key(m_compute, body, field):  # noqa: F811
    task = LearnupletFactory.create()
    m_compute.post(f"/worker/learnuplet/{task.pk}", {"worker": U})
    assert_error(m_compute.post(f"/learndone/{task.pk}", body), 400, field)
    assert Learnuplet.objects.get(pk=task.pk).status == Status.PENDING


def test_it_refuses_a_preddone_on_a_task_that_is_not_pending(m_compute):  # noqa: F811
    task = PredupletFactory.create()
    assert_error(m_compute.post(f"/preddone/{task.pk}", {"status": "done", "prediction_storage_uuid": U}),
                 400, "todo")


@pytest.mark.parametrize(
    ("body", "field"),
    [({"status": "done"}, "prediction_storage_uuid"),
     ({"status": "done", "prediction_storage_uuid": "x"}, "prediction_storage_uuid"),
     ({"status": 1}, "status")],
)
def test_it_refuses_a_preddone_with_a_missing_or_mistyped_key(m_compute, body, field):  # noqa: F811
    task = PredupletFactory.create()
    m_compute.post(f"/worker/preduplet/{task.pk}", {"worker": U})
    assert_error(m_compute.post(f"/preddone/{task.pk}", body), 400, field)


def test_it_answers_a_json_parse_error_with_an_error(m_client):  # noqa: F811
    assert_error(m_client.http.post("/problem", "{not json", content_type="application/json"), 400, "JSON")


def test_it_answers_a_body_that_is_not_an_object_with_an_error(m_client):  # noqa: F811
    assert_error(m_client.post("/algo", ["a", "b"]), 400)


@pytest.mark.parametrize("path", ["/foo", "/problems", f"/foo/{U}", f"/problem/{U}/more", "/learndone",
                                  f"/worker/learnuplet/{U}/x", "/worker/learnuplet"])
def test_it_answers_404_with_an_error_to_another_path(m_client, path):  # noqa: F811
    assert_error(m_client.get(path), 404)


def test_it_answers_404_to_an_unknown_document(m_client):  # noqa: F811
    assert_error(m_client.get(f"/algo/{uuid.uuid4()}"), 404, "no algo")


def test_it_answers_405_with_an_error_to_another_method(m_client):  # noqa: F811
    assert_error(m_client.http.put("/problem", {}, format="json"), 405)


def test_it_refuses_a_filter_on_an_unknown_field(m_client):  # noqa: F811
    assert_error(m_client.get("/algo", colour="red"), 400, "colour")


@pytest.mark.parametrize(
    ("collection", "params"),
    [
        ("learnuplet", {"rank": "first"}),
        ("learnuplet", {"perf": "nan"}),
        ("learnuplet", {"algo": "x"}),
        ("learnuplet", {"train_data": "x"}),
        ("learnuplet", {"training_creation": "yesterday"}),
        ("learnuplet", {"training_creation": "9" * 30}),
        ("learnuplet", {"train_perf": "{"}),
        ("learnuplet", {"train_perf": '{"a\\u0000": 1}'}),
        ("learnuplet", {"status": "to\x00do"}),
        ("problem", {"size_train_dataset": "9" * 30}),
        ("data", {"problems": "x"}),
        ("algo", {"limit": "0"}),
        ("algo", {"limit": "1001"}),
        ("algo", {"offset": "-1"}),
        ("algo", {"offset": "9" * 30}),
    ],
)
def test_it_refuses_a_malformed_filter_value(m_compute, collection, params):  # noqa: F811
    assert_error(m_compute.get(f"/{collection}", **params), 400)


def test_it_never_fails_on_a_huge_rank_filter(m_compute):  # noqa: F811
    AlgoFactory.create()
    r = m_compute.get("/learnuplet", rank=str(2**40))
    assert r.status_code == 200
    assert r.json() == {"learnuplets": []}


def test_it_refuses_a_problem_whose_test_dataset_repeats_a_uuid(m_client):  # noqa: F811
    assert_error(m_client.post("/problem", problem_body(test_dataset=[U, U])), 400, "duplicate")


def test_it_keeps_nothing_of_a_refused_problem(m_client):  # noqa: F811
    body = problem_body(size_train_dataset="x")
    m_client.post("/problem", body)
    assert m_client.get(f"/problem/{body['uuid']}").status_code == 404


def test_it_refuses_data_for_a_problem_among_unknown_ones(m_client):  # noqa: F811
    ProblemFactory.create()
    problem = post_problem(m_client)
    r = m_client.post("/data", {"uuid": new_uuids(2), "problems": [problem, str(uuid.uuid4())]})
    assert_error(r, 400, "unknown problem")
    assert m_client.get("/data").json() == {"datas": []}


def test_it_answers_json_whatever_the_accept_header(m_client):  # noqa: F811
    r = m_client.http.get("/problem", HTTP_ACCEPT="text/html")
    assert r.status_code == 200 and r.json() == {"problems": []}


def test_it_leaves_the_admin_redirect_alone(m_client):  # noqa: F811
    r = m_client.get("/admin")
    assert r.status_code == 301 and r["Location"] == "/admin/"
