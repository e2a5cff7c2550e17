"""`manage.py orchestrator_status` (issue 5)."""

import json
import uuid
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import AlgoFactory, LearnupletFactory, PredupletFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("orchestrator_status", *args, stdout=out)
    return out.getvalue()


def status_json() -> dict[str, Any]:
    status: dict[str, Any] = json.loads(run("--json"))
    return status


def test_it_counts_learnuplets_by_status_per_problem_and_algo():
    algo = AlgoFactory.create(name="sgd")
    LearnupletFactory.create_batch(2, algo=algo, status="todo")
    LearnupletFactory.create(algo=algo, status="done", perf=0.4)

    rows = status_json()["kinds"]["learnuplet"]["by_problem"]

    assert [(r["problem"], r["algo"], r["algo_name"], r["todo"], r["done"]) for r in rows] == [
        (str(algo.problem_id), str(algo.pk), "sgd", 2, 1)]


def test_it_shows_the_counts_on_one_screen():
    algo = AlgoFactory.create(name="sgd")
    LearnupletFactory.create_batch(2, algo=algo, status="todo")
    PredupletFactory.create(problem=algo.problem)

    out = run()

    assert f"problem {algo.problem_id}" in out
    assert f"sgd ({algo.pk})" in out
    assert "oldest todo" in out


def test_it_shows_the_age_of_the_oldest_todo_task():
    old = LearnupletFactory.create(queued_at=timezone.now() - timedelta(minutes=10))
    LearnupletFactory.create(queued_at=timezone.now())

    oldest = status_json()["kinds"]["learnuplet"]["oldest_todo"]

    assert oldest["task"] == str(old.pk)
    assert 590 < oldest["age_seconds"] < 700


def test_it_counts_leases_expired_and_expiring():
    now = timezone.now()
    for lease in (-timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=10)):
        PredupletFactory.create(status="pending", worker=uuid.uuid4(), lease_expires_at=now + lease)

    leases = status_json()["kinds"]["preduplet"]["leases"]

    assert (leases["expired"], leases["expiring"]) == (1, 1)


def test_it_groups_the_last_hours_failures_by_error():
    now = timezone.now()
    for error in ("CUDA out of memory", "CUDA out of memory", "missing data file"):
        LearnupletFactory.create(status="failed", last_error=error, training_done=now - timedelta(minutes=5))
    LearnupletFactory.create(status="failed", last_error="old news", training_done=now - timedelta(hours=2))

    failures = status_json()["kinds"]["learnuplet"]["failures_last_hour"]

    assert failures["count"] == 3
    assert [(g["error"], g["count"]) for g in failures["by_error"]] == [
        ("CUDA out of memory", 2), ("missing data file", 1)]


def test_it_runs_the_same_number_of_queries_for_many_tasks():
    LearnupletFactory.create()
    with CaptureQueriesContext(connection) as few:
        run()
    for _ in range(3):
        algo = AlgoFactory.create()
        LearnupletFactory.create_batch(10, algo=algo, status="failed", training_done=timezone.now(),
                                       last_error=str(uuid.uuid4()))
        PredupletFactory.create_batch(5, problem=algo.problem)
    with CaptureQueriesContext(connection) as many:
        run()

    assert len(many) == len(few)


def test_it_refuses_a_bad_duration():
    with pytest.raises(CommandError, match="not a positive duration"):
        run("--expiring-within", "later")
