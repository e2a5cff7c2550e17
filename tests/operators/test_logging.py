"""Structured logs: one JSON object per line, a record for every status change (issue 5)."""

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from logging.config import DictConfigurator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.db.models import Q

from learning.lifecycle import LEARNUPLETS
from learning.models import Learnuplet
from tasks import queue
from tests.factories import LearnupletFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The status-change logger, writing through the JSON formatter the settings configure."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(DictConfigurator({}).configure_formatter(dict(settings.LOGGING["formatters"]["json"])))
    logger = logging.getLogger("orchestrator.tasks")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_it_logs_a_claim_as_one_json_object_with_task_from_to_and_worker(
        json_lines, django_capture_on_commit_callbacks):
    task = LearnupletFactory.create()
    worker = uuid.uuid4()

    with django_capture_on_commit_callbacks(execute=True):
        LEARNUPLETS.claim_next(worker=worker, actor="worker-7")

    [record] = records(json_lines)
    assert record["levelname"] == "INFO" and record["name"] == "orchestrator.tasks"
    assert (record["kind"], record["to"], record["actor"], record["count"]) == ("learnuplet", "pending", "worker-7", 1)
    assert record["changes"] == [{"task": str(task.pk), "from": "todo", "to": "pending", "worker": str(worker),
                                  "attempt": 1}]


def test_it_logs_a_batch_of_changes_in_one_record(json_lines, django_capture_on_commit_callbacks):
    tasks = LearnupletFactory.create_batch(3, status="failed")

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        queue.requeue(Learnuplet, where=Q(pk__in=[t.pk for t in tasks]), actor="ops", reason="disk replaced")

    [record] = records(json_lines)
    assert (record["count"], record["reason"]) == (3, "disk replaced")
    assert sorted(c["task"] for c in record["changes"]) == sorted(str(t.pk) for t in tasks)
    assert {(c["from"], c["to"]) for c in record["changes"]} == {("failed", "todo")}


def test_it_logs_nothing_for_a_change_that_rolled_back(json_lines, django_capture_on_commit_callbacks):
    LearnupletFactory.create()

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        LEARNUPLETS.claim_next(worker=uuid.uuid4(), actor="w")
        raise RuntimeError("rolled back")

    assert json_lines.getvalue() == ""


def test_it_writes_json_lines_when_orchestrator_log_json_is_set():
    code = ("import django, logging; django.setup(); "
            "logging.getLogger('orchestrator.tasks').info('hello', extra={'to': 'todo'})")
    env = {**os.environ, "ORCHESTRATOR_LOG_JSON": "1", "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings_test",
           # Setting up logging needs no database: none is reached.
           "DATABASE_URL": "postgres://unused@127.0.0.1:1/unused"}

    run = subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])

    [line] = [line for line in run.stderr.splitlines() if line.strip()]
    record = json.loads(line)
    assert (record["message"], record["to"], record["name"]) == ("hello", "todo", "orchestrator.tasks")
