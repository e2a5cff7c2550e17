"""`manage.py orchestrator_status` (issue 5)."""

import json
import re
import uuid
from datetime import datetime, timedelta
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


def test_it_prints_whole_algo_uuids_that_requeue_failed_takes():
    algo = AlgoFactory.create(name="gradient boosting with early stopping and a very long name")
    LearnupletFactory.create(algo=algo, status="failed", training_done=timezone.now())

    line = next(line for line in run().splitlines() if line.strip().startswith("gradient boosting"))
    printed = re.search(r"\(([^)]*)\)", line)

    assert printed is not None and printed.group(1) == str(algo.pk)
    out = StringIO()
    call_command("requeue_failed", "--algo", printed.group(1), "--dry-run", stdout=out)
    assert "would re-queue 1 failed learnuplet(s)" in out.getvalue()


def test_it_lines_up_the_counts_of_every_row():
    for name in ("sgd", "a name longer than the column has room for, cut short"):
        LearnupletFactory.create(algo=AlgoFactory.create(name=name))
    PredupletFactory.create()

    rows = [line for line in run().splitlines() if re.search(r"(\s+\d+){5}$", line)]

    assert len(rows) == 5  # the two "all" rows, the two algos, the preduplets' problem
    assert len({len(row) for row in rows}) == 1
    assert len({len(line) for line in run().splitlines() if line.endswith("canceled")}) == 1


def test_its_json_writes_every_date_time_in_iso_8601():
    LearnupletFactory.create(queued_at=timezone.now() - timedelta(minutes=10))

    text = run("--json")
    status = json.loads(text)

    for value in (status["at"], status["kinds"]["learnuplet"]["oldest_todo"]["queued_at"]):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value)
        assert datetime.fromisoformat(value).tzinfo is not None
    assert not re.search(r'"\d{4}-\d\d-\d\d \d', text)


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
