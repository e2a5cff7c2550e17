"""What operators count by site (issue 15): `orchestrator_status` (text and --json) and
the /metrics gauges, 'platform' for tasks without a site, in a fixed number of queries."""

import json
import re
import uuid
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tasks.models import Status
from tests.factories import AlgoFactory, LearnupletFactory, PredupletFactory, SiteFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("orchestrator_status", *args, stdout=out)
    return out.getvalue()


def status_json() -> dict[str, Any]:
    status: dict[str, Any] = json.loads(run("--json"))
    return status


def seed() -> tuple[Any, Any]:
    """hospital-a: 2 todo learnuplets (one 10 minutes old), 1 done; lab-b: 1 pending learnuplet
    whose lease ran out; the platform: 1 failed learnuplet and 1 todo preduplet."""
    a, b = SiteFactory.create(name="hospital-a"), SiteFactory.create(name="lab-b")
    now = timezone.now()
    LearnupletFactory.create(site=a, queued_at=now - timedelta(minutes=10))
    LearnupletFactory.create(site=a)
    LearnupletFactory.create(site=a, status="done", perf=0.5)
    LearnupletFactory.create(site=b, status="pending", worker=uuid.uuid4(), lease_expires_at=now - timedelta(seconds=5))
    LearnupletFactory.create(status="failed", training_done=now)
    PredupletFactory.create()
    return a, b


# orchestrator_status

def test_its_json_counts_each_kind_by_status_per_site_the_platform_last():
    a, b = seed()

    rows = status_json()["kinds"]["learnuplet"]["by_site"]

    assert [(r["site"], r["site_name"], r["todo"], r["pending"], r["done"], r["failed"], r["leases_expired"])
            for r in rows] == [
        (str(a.pk), "hospital-a", 2, 0, 1, 0, 0),
        (str(b.pk), "lab-b", 0, 1, 0, 0, 1),
        (None, None, 0, 0, 0, 1, 0),
    ]
    assert 590 < rows[0]["oldest_todo_age_seconds"] < 700
    assert rows[1]["oldest_todo_age_seconds"] is None
    assert [(r["site"], r["todo"]) for r in status_json()["kinds"]["preduplet"]["by_site"]] == [(None, 1)]


def test_its_text_shows_a_row_per_site_lined_up_with_the_others():
    seed()

    out = run()
    rows = [line for line in out.splitlines() if re.search(r"(\s+\d+){5}$", line)]

    learn = out.split("learnuplets", 1)[1].split("\n\n", 1)[0]
    assert [line.split()[:3] for line in learn.splitlines()[1:5]] == [
        ["all", "0", "2"], ["site", "hospital-a", "0"], ["site", "lab-b", "0"], ["platform", "(no", "site)"]]
    assert len({len(row) for row in rows}) == 1
    assert "learnuplets: oldest todo by site: hospital-a 10m" in out


def test_its_text_is_as_before_when_no_task_has_a_site():
    SiteFactory.create(name="hospital-a")  # a site without tasks changes nothing either
    LearnupletFactory.create(algo=AlgoFactory.create(name="sgd"))
    PredupletFactory.create()

    out = run()

    assert "site" not in out.replace("oldest todo", "")
    assert "platform" not in out
    assert len([line for line in out.splitlines() if re.search(r"(\s+\d+){5}$", line)]) == 4


def test_its_json_has_the_platforms_counts_when_no_task_has_a_site():
    LearnupletFactory.create_batch(2)

    [platform] = status_json()["kinds"]["learnuplet"]["by_site"]

    assert (platform["site"], platform["site_name"], platform["todo"]) == (None, None, 2)


def test_it_runs_the_same_queries_for_one_site_and_for_ten():
    LearnupletFactory.create(site=SiteFactory.create())
    with CaptureQueriesContext(connection) as one:
        run()
    for _ in range(9):
        site = SiteFactory.create()
        LearnupletFactory.create_batch(3, site=site)
        PredupletFactory.create(site=site)
    with CaptureQueriesContext(connection) as ten:
        run()

    assert len(ten) == len(one)


# /metrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(caller: Any) -> Samples:
    response = caller.get("/metrics")
    assert response.status_code == 200, response.content
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"no sample {key}"
    return samples[key]


def test_the_task_gauges_count_by_site_named_and_platform_for_none(operator):
    seed()

    samples = scrape(operator)

    assert value(samples, "orchestrator_site_tasks", kind="learnuplet", site="hospital-a", status="todo") == 2
    assert value(samples, "orchestrator_site_tasks", kind="learnuplet", site="hospital-a", status="failed") == 0
    assert value(samples, "orchestrator_site_tasks", kind="learnuplet", site="lab-b", status="pending") == 1
    assert value(samples, "orchestrator_site_tasks", kind="learnuplet", site="platform", status="failed") == 1
    assert value(samples, "orchestrator_site_tasks", kind="preduplet", site="platform", status="todo") == 1
    assert 590 < value(samples, "orchestrator_site_oldest_todo_age_seconds", kind="learnuplet",
                       site="hospital-a") < 700
    assert value(samples, "orchestrator_site_oldest_todo_age_seconds", kind="learnuplet", site="lab-b") == 0
    assert value(samples, "orchestrator_site_pending_lease_expired", kind="learnuplet", site="lab-b") == 1


def test_the_gauges_of_the_whole_queue_stay_as_they_were(operator):
    seed()

    samples = scrape(operator)

    for status in Status.values:
        by_site = sum(v for (name, labels), v in samples.items() if name == "orchestrator_site_tasks"
                      and ("kind", "learnuplet") in labels and ("status", status) in labels)
        assert value(samples, "orchestrator_tasks", kind="learnuplet", status=status) == by_site
    assert value(samples, "orchestrator_tasks", kind="learnuplet", status="todo") == 2
    assert 590 < value(samples, "orchestrator_oldest_todo_age_seconds", kind="learnuplet") < 700
    assert value(samples, "orchestrator_pending_lease_expired", kind="learnuplet") == 1
    assert not [key for key in samples if key[0] in ("orchestrator_tasks", "orchestrator_oldest_todo_age_seconds")
                and "site" in dict(key[1])]


def test_a_site_named_platform_is_told_apart_from_the_platform(operator):
    named = SiteFactory.create(name="platform")
    LearnupletFactory.create(site=named)
    LearnupletFactory.create_batch(2)

    samples = scrape(operator)

    assert value(samples, "orchestrator_site_tasks", kind="learnuplet", site="platform", status="todo") == 2
    assert value(samples, "orchestrator_site_tasks", kind="learnuplet", site=f"platform ({named.pk})",
                 status="todo") == 1


def test_a_scrape_runs_the_same_queries_for_one_site_and_for_ten(operator):
    LearnupletFactory.create(site=SiteFactory.create())
    scrape(operator)
    with CaptureQueriesContext(connection) as one:
        scrape(operator)
    for _ in range(9):
        site = SiteFactory.create()
        LearnupletFactory.create_batch(3, site=site)
        PredupletFactory.create(site=site, status="pending", worker=uuid.uuid4(),
                                lease_expires_at=timezone.now() - timedelta(seconds=1))
    with CaptureQueriesContext(connection) as ten:
        scrape(operator)

    gauges = [q for q in ten if "_learnuplet" in q["sql"] or "_preduplet" in q["sql"]]
    assert len(ten) == len(one)
    assert len(gauges) == 2, [q["sql"] for q in gauges]  # one per kind of task
