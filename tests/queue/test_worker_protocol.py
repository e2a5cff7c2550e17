"""Claims, heartbeats and results, for learnuplets and preduplets alike (issues 3 and 4)."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from learning.models import Learnuplet
from predictions.models import Preduplet
from tasks.models import TaskEvent
from tests.factories import LearnupletFactory, PredupletFactory
from tests.helpers import API

pytestmark = pytest.mark.django_db

KINDS: dict[str, tuple[type[LearnupletFactory] | type[PredupletFactory], type[Learnuplet] | type[Preduplet]]] = {
    "learnuplets": (LearnupletFactory, Learnuplet),
    "preduplets": (PredupletFactory, Preduplet),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request) -> str:
    name: str = request.param
    return name


def make(kind: str, **fields):
    return KINDS[kind][0].create(**fields)


def done_body(kind: str, task) -> dict[str, Any]:
    if kind == "learnuplets":
        return {"status": "done", "perf": 0.5,
                "train_perf": {str(d): 0.5 for d in task.train_data},
                "test_perf": {str(d): 0.5 for d in task.test_data}}
    return {"status": "done", "prediction_storage_uuid": [str(uuid.uuid4())]}


def test_it_claims_the_oldest_todo_task_first(kind, worker):
    now = timezone.now()
    newer = make(kind, queued_at=now)
    older = make(kind, queued_at=now - timedelta(minutes=5))

    r = worker.post(f"{API}/{kind}/claim/")

    assert r.status_code == 200
    body = r.json()
    assert body["uuid"] == str(older.pk)
    assert body["status"] == "pending"
    assert body["worker"] == str(worker.worker)
    assert body["attempt"] == 1
    assert body["lease_expires_at"] is not None
    assert KINDS[kind][1].objects.get(pk=newer.pk).status == "todo"


def test_it_answers_204_when_nothing_is_claimable(kind, worker):
    make(kind, status="done", perf=1.0) if kind == "learnuplets" else make(kind, status="done")

    r = worker.post(f"{API}/{kind}/claim/")

    assert r.status_code == 204


def test_it_claims_a_named_task(kind, worker):
    task = make(kind)

    r = worker.post(f"{API}/{kind}/{task.pk}/claim/")

    assert r.status_code == 200
    assert r.json()["status"] == "pending"


def test_it_refuses_to_claim_a_task_that_is_not_todo(kind, worker, other_worker):
    task = make(kind)
    worker.post(f"{API}/{kind}/{task.pk}/claim/")

    r = other_worker.post(f"{API}/{kind}/{task.pk}/claim/")

    assert r.status_code == 409
    assert "detail" in r.json()


def test_it_answers_404_for_an_unknown_task(kind, worker):
    r = worker.post(f"{API}/{kind}/{uuid.uuid4()}/claim/")

    assert r.status_code == 404


def test_it_renews_the_lease_on_heartbeat(kind, worker):
    make(kind)
    claimed = worker.post(f"{API}/{kind}/claim/").json()
    KINDS[kind][1].objects.filter(pk=claimed["uuid"]).update(
        lease_expires_at=timezone.now() + timedelta(seconds=5))

    r = worker.post(f"{API}/{kind}/{claimed['uuid']}/heartbeat/", {"attempt": 1})

    assert r.status_code == 200
    renewed = KINDS[kind][1].objects.get(pk=claimed["uuid"]).lease_expires_at
    assert renewed is not None
    assert renewed > timezone.now() + timedelta(seconds=60)
    assert r.json()["lease_expires_at"] is not None


def test_it_refuses_a_heartbeat_of_another_worker_or_attempt(kind, worker, other_worker):
    make(kind)
    claimed = worker.post(f"{API}/{kind}/claim/").json()

    stranger = other_worker.post(f"{API}/{kind}/{claimed['uuid']}/heartbeat/", {"attempt": 1})
    stale = worker.post(f"{API}/{kind}/{claimed['uuid']}/heartbeat/", {"attempt": 2})

    assert stranger.status_code == 409
    assert stale.status_code == 409


def test_it_records_a_result_of_the_current_claim(kind, worker):
    task = make(kind)
    worker.post(f"{API}/{kind}/claim/")

    r = worker.post(f"{API}/{kind}/{task.pk}/result/", {"attempt": 1, **done_body(kind, task)})

    assert r.status_code == 200, r.json()
    task.refresh_from_db()
    assert task.status == "done"
    assert task.lease_expires_at is None
    assert getattr(task, task.ended_field) is not None


def test_it_treats_the_same_result_sent_twice_as_a_no_op(kind, worker):
    task = make(kind)
    worker.post(f"{API}/{kind}/claim/")
    body = {"attempt": 1, **done_body(kind, task)}
    worker.post(f"{API}/{kind}/{task.pk}/result/", body)
    events = TaskEvent.objects.count()
    ended = getattr(KINDS[kind][1].objects.get(pk=task.pk), task.ended_field)

    r = worker.post(f"{API}/{kind}/{task.pk}/result/", body)

    assert r.status_code == 200
    assert TaskEvent.objects.count() == events
    assert getattr(KINDS[kind][1].objects.get(pk=task.pk), task.ended_field) == ended


def test_it_refuses_a_different_second_result(kind, worker):
    task = make(kind)
    worker.post(f"{API}/{kind}/claim/")
    worker.post(f"{API}/{kind}/{task.pk}/result/", {"attempt": 1, **done_body(kind, task)})

    r = worker.post(f"{API}/{kind}/{task.pk}/result/", {"attempt": 1, "status": "failed"})

    assert r.status_code == 409
    task.refresh_from_db()
    assert task.status == "done"


def test_it_refuses_a_result_of_another_worker(kind, worker, other_worker):
    task = make(kind)
    worker.post(f"{API}/{kind}/claim/")

    r = other_worker.post(f"{API}/{kind}/{task.pk}/result/", {"attempt": 1, "status": "failed"})

    assert r.status_code == 409
    task.refresh_from_db()
    assert task.status == "pending"


def test_it_refuses_a_result_for_a_task_never_claimed(kind, worker):
    task = make(kind)

    r = worker.post(f"{API}/{kind}/{task.pk}/result/", {"attempt": 1, "status": "failed"})

    assert r.status_code == 409


def test_it_records_a_failure_with_its_error(kind, worker):
    task = make(kind)
    worker.post(f"{API}/{kind}/claim/")

    r = worker.post(f"{API}/{kind}/{task.pk}/result/",
                    {"attempt": 1, "status": "failed", "error": "ValueError: bad input"})

    assert r.status_code == 200
    assert r.json()["status"] == "failed"
    assert r.json()["last_error"] == "ValueError: bad input"


@pytest.mark.parametrize("body, field", [
    ({"status": "done"}, "attempt"),
    ({"attempt": 0, "status": "failed"}, "attempt"),
    ({"attempt": "x", "status": "failed"}, "attempt"),
    ({"attempt": 1, "status": "pending"}, "status"),
    ({"attempt": 1}, "status"),
])
def test_it_rejects_a_malformed_result(kind, worker, body, field):
    task = make(kind)
    worker.post(f"{API}/{kind}/claim/")

    r = worker.post(f"{API}/{kind}/{task.pk}/result/", body)

    assert r.status_code == 400
    assert field in r.json()
    task.refresh_from_db()
    assert task.status == "pending"


@pytest.mark.parametrize("perf", ["NaN", "Infinity", "-Infinity", True, "fast"])
def test_it_rejects_a_non_finite_or_non_numeric_perf(worker, perf):
    task = LearnupletFactory.create()
    worker.post(f"{API}/learnuplets/claim/")

    r = worker.post(f"{API}/learnuplets/{task.pk}/result/",
                    {"attempt": 1, "status": "done", "perf": perf})

    assert r.status_code == 400
    assert "perf" in r.json()


def test_it_rejects_nan_written_as_a_bare_json_literal(worker):
    task = LearnupletFactory.create()
    worker.post(f"{API}/learnuplets/claim/")

    r = worker.http.post(f"{API}/learnuplets/{task.pk}/result/",
                         data='{"attempt": 1, "status": "done", "perf": NaN}',
                         content_type="application/json")

    assert r.status_code == 400
    task.refresh_from_db()
    assert task.status == "pending"


def test_it_requires_a_perf_when_a_learnuplet_is_done(worker):
    task = LearnupletFactory.create()
    worker.post(f"{API}/learnuplets/claim/")

    r = worker.post(f"{API}/learnuplets/{task.pk}/result/", {"attempt": 1, "status": "done"})

    assert r.status_code == 400
    assert "perf" in r.json()


def test_it_rejects_perf_keys_that_are_not_the_tasks_data(worker):
    task = LearnupletFactory.create()
    worker.post(f"{API}/learnuplets/claim/")

    r = worker.post(f"{API}/learnuplets/{task.pk}/result/", {
        "attempt": 1, "status": "done", "perf": 0.5,
        "train_perf": {str(uuid.uuid4()): 0.1}, "test_perf": {str(task.test_data[0]): 0.5}})

    assert r.status_code == 400
    assert "train_perf" in r.json()
    task.refresh_from_db()
    assert task.status == "pending"


def test_it_requires_where_the_predictions_are_when_a_preduplet_is_done(worker):
    task = PredupletFactory.create()
    worker.post(f"{API}/preduplets/claim/")

    r = worker.post(f"{API}/preduplets/{task.pk}/result/", {"attempt": 1, "status": "done"})

    assert r.status_code == 400
    assert "prediction_storage_uuid" in r.json()


def test_it_writes_an_event_for_every_status_change(kind, worker):
    task = make(kind)
    worker.post(f"{API}/{kind}/claim/")
    worker.post(f"{API}/{kind}/{task.pk}/result/", {"attempt": 1, "status": "failed", "error": "x"})

    events = list(TaskEvent.objects.filter(task=task.pk).order_by("id")
                  .values_list("from_status", "to_status", "worker", "actor", "attempt"))

    assert events == [
        ("todo", "pending", worker.worker, "worker", 1),
        ("pending", "failed", worker.worker, "worker", 1),
    ]


def test_it_forbids_claims_by_clients(kind, uploader):
    make(kind)

    r = uploader.post(f"{API}/{kind}/claim/")

    assert r.status_code == 403


def test_it_lets_an_operator_claim(kind, operator):
    make(kind)

    r = operator.post(f"{API}/{kind}/claim/")

    assert r.status_code == 200
    assert r.json()["worker"] == str(operator.worker)


@pytest.mark.parametrize("key", ["\u0000", "not-a-uuid", "", "8C5E2F7A-1B3D-4E6F-A0B1-C2D3E4F5A604"])
def test_it_refuses_score_keys_that_are_not_a_uuids_text_on_any_task(worker, key):
    held = LearnupletFactory.create(status="pending", worker=worker.worker, attempt=1,
                             lease_expires_at=timezone.now() + timedelta(minutes=5))
    for pk in (held.pk, uuid.uuid4()):  # the claim held, and no task at all
        r = worker.post(f"{API}/learnuplets/{pk}/result/", {
            "attempt": 1, "status": "done", "perf": 0.5, "train_perf": {key: 0.1}})

        assert r.status_code == 400, r.content
        assert "train_perf" in r.json()
    held.refresh_from_db()
    assert held.status == "pending"
