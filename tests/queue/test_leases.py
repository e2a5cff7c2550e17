"""Leases: abandoned claims return to the queue by themselves (issues 3 and 4)."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from learning.models import Learnuplet
from predictions.models import Preduplet
from tasks.models import TaskEvent
from tests.factories import LearnupletFactory, PredupletFactory
from tests.helpers import API, claim, create_problem, learnuplets, register_algo, register_data, report_done, uuids

pytestmark = pytest.mark.django_db


def test_it_gives_an_unrenewed_claim_to_another_worker_after_its_lease(settings, worker, other_worker):
    settings.ORCHESTRATOR_LEASE_SECONDS = 1
    task = LearnupletFactory.create()
    first = claim(worker)

    time.sleep(1.2)
    second = claim(other_worker)

    assert second["uuid"] == first["uuid"] == str(task.pk)
    assert second["attempt"] == 2
    assert second["worker"] == str(other_worker.worker)


def test_it_refuses_the_late_result_of_a_worker_whose_lease_expired(settings, worker, other_worker):
    settings.ORCHESTRATOR_LEASE_SECONDS = 1
    task = LearnupletFactory.create()
    first = claim(worker)
    time.sleep(1.2)
    claim(other_worker)

    late = worker.post(f"{API}/learnuplets/{task.pk}/result/", {
        "attempt": first["attempt"], "status": "done", "perf": 0.9})
    heartbeat = worker.post(f"{API}/learnuplets/{task.pk}/heartbeat/", {"attempt": first["attempt"]})

    assert late.status_code == 409
    assert heartbeat.status_code == 409
    task.refresh_from_db()
    assert (task.status, task.worker, task.attempt, task.perf) == ("pending", other_worker.worker, 2, None)


def test_it_keeps_a_claim_whose_lease_is_renewed(settings, worker, other_worker):
    settings.ORCHESTRATOR_LEASE_SECONDS = 1
    LearnupletFactory.create()
    first = claim(worker)
    for _ in range(3):
        time.sleep(0.5)
        assert worker.post(f"{API}/learnuplets/{first['uuid']}/heartbeat/", {"attempt": 1}).status_code == 200

    assert other_worker.post(f"{API}/learnuplets/claim/").status_code == 204


def _expire(model, pk) -> None:
    model.objects.filter(pk=pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.parametrize("factory, model, kind", [
    (LearnupletFactory, Learnuplet, "learnuplets"),
    (PredupletFactory, Preduplet, "preduplets"),
])
def test_it_fails_a_task_whose_lease_expired_on_its_last_attempt(settings, worker, factory, model, kind):
    settings.ORCHESTRATOR_MAX_ATTEMPTS = 2
    task = factory()
    for _ in range(2):
        claim(worker, kind)
        _expire(model, task.pk)

    assert worker.post(f"{API}/{kind}/claim/").status_code == 204
    task.refresh_from_db()
    assert task.status == "failed"
    assert task.last_error == "lease expired"
    assert getattr(task, task.ended_field) is not None
    history = list(TaskEvent.objects.filter(task=task.pk).order_by("id").values_list("from_status", "to_status", "actor"))
    assert history == [("todo", "pending", "worker"), ("pending", "todo", "system"),
                       ("todo", "pending", "worker"), ("pending", "failed", "system")]


def test_it_moves_the_chain_when_a_lease_expires_for_good(settings, uploader, worker):
    settings.ORCHESTRATOR_MAX_ATTEMPTS = 1
    problem = create_problem(uploader, size=1)
    register_data(uploader, [problem["uuid"]], uuids(3))
    algo = register_algo(uploader, problem["uuid"])
    first = claim(worker)
    report_done(worker, first, perf=0.5)
    second = claim(worker)
    _expire(Learnuplet, second["uuid"])

    third = claim(worker)

    assert third["rank"] == 2
    assert third["model_start"] == first["model_end"]
    assert [lu["status"] for lu in learnuplets(worker, algo=algo["uuid"])] == ["done", "failed", "pending"]
