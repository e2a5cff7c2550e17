"""GET /metrics: Prometheus text format, for operators (issue 5)."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from learning.lifecycle import LEARNUPLETS
from learning.models import Learnuplet
from tasks import queue
from tests.factories import LearnupletFactory, PredupletFactory

pytestmark = pytest.mark.django_db


def scrape(caller) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = caller.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_it_refuses_an_anonymous_scrape(anonymous):
    assert anonymous.get("/metrics").status_code == 401


def test_it_refuses_a_client_that_is_not_an_operator(uploader, worker):
    assert uploader.get("/metrics").status_code == 403
    assert worker.get("/metrics").status_code == 403


def test_it_answers_anyone_when_the_metrics_are_public(anonymous, settings):
    settings.ORCHESTRATOR_METRICS_PUBLIC = True

    assert anonymous.get("/metrics").status_code == 200


def test_it_counts_tasks_by_kind_and_status(operator):
    LearnupletFactory.create_batch(3, status="todo")
    LearnupletFactory.create(status="failed")
    PredupletFactory.create(status="todo")

    samples = scrape(operator)

    assert value(samples, "orchestrator_tasks", kind="learnuplet", status="todo") == 3
    assert value(samples, "orchestrator_tasks", kind="learnuplet", status="failed") == 1
    assert value(samples, "orchestrator_tasks", kind="preduplet", status="todo") == 1
    assert value(samples, "orchestrator_tasks", kind="preduplet", status="done") == 0


def test_it_reports_the_age_of_the_oldest_todo_task(operator):
    LearnupletFactory.create(queued_at=timezone.now() - timedelta(minutes=5))

    samples = scrape(operator)

    assert 295 < value(samples, "orchestrator_oldest_todo_age_seconds", kind="learnuplet") < 400
    assert value(samples, "orchestrator_oldest_todo_age_seconds", kind="preduplet") == 0


def test_it_reports_pending_tasks_whose_lease_ran_out(operator):
    PredupletFactory.create(status="pending", worker=uuid.uuid4(), lease_expires_at=timezone.now() - timedelta(seconds=1))

    samples = scrape(operator)

    assert value(samples, "orchestrator_pending_lease_expired", kind="preduplet") == 1


def test_it_counts_claims_results_and_expired_leases(operator, worker, django_capture_on_commit_callbacks):
    before = scrape(operator)
    LearnupletFactory.create_batch(2)
    with django_capture_on_commit_callbacks(execute=True):
        first = worker.post("/api/v1/learnuplets/claim/").json()
        worker.post(f"/api/v1/learnuplets/{first['uuid']}/result/",
                    {"attempt": 1, "status": "failed", "error": "boom"})
        second = LEARNUPLETS.claim_next(worker=worker.worker, actor="w")
        assert second is not None
        Learnuplet.objects.filter(pk=second.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        LEARNUPLETS.expire_leases()
    after = scrape(operator)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("orchestrator_claims_total", kind="learnuplet") == 2
    assert grew("orchestrator_results_total", kind="learnuplet", status="failed") == 1
    assert grew("orchestrator_leases_expired_total", kind="learnuplet", outcome="requeued") == 1


def test_it_does_not_count_a_claim_that_rolled_back(operator, worker, django_capture_on_commit_callbacks):
    LearnupletFactory.create()
    before = value(scrape(operator), "orchestrator_claims_total", kind="learnuplet")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                LEARNUPLETS.claim_next(worker=worker.worker, actor="w")
                raise RuntimeError("the request failed after claiming")
        except RuntimeError:
            pass

    assert callbacks == []
    assert value(scrape(operator), "orchestrator_claims_total", kind="learnuplet") == before


def test_it_measures_request_latency_by_view(operator, uploader):
    uploader.get("/api/v1/problems/")

    samples = scrape(operator)

    assert value(samples, "orchestrator_http_request_duration_seconds_count",
                 method="GET", view="problem-list", status="200") >= 1


def test_it_scrapes_in_the_same_queries_for_many_tasks(operator):
    LearnupletFactory.create()
    scrape(operator)
    with CaptureQueriesContext(connection) as few:
        scrape(operator)
    LearnupletFactory.create_batch(30)
    PredupletFactory.create_batch(30, status="pending", worker=uuid.uuid4(),
                                  lease_expires_at=timezone.now() + timedelta(minutes=1))
    with CaptureQueriesContext(connection) as many:
        scrape(operator)

    assert len(many) == len(few)
