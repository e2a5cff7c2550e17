"""The admin shows times to the second with their zone (issue 14, point 5): leases and
heartbeats are seconds apart, and Django's English format said "Dec. 2, 2026, 6 a.m."."""

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from learning.models import Learnuplet
from predictions.models import Preduplet
from tasks.models import TaskEvent
from tests.factories import LearnupletFactory, PredupletFactory

pytestmark = pytest.mark.django_db

LEASE = datetime(2026, 12, 2, 6, 0, 12, tzinfo=UTC)
HEARTBEAT = LEASE - timedelta(seconds=107)


def text(markup: str) -> str:
    """What a person reads of `markup`: no tags, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def readonly_field(page: str, name: str) -> str:
    found = re.search(rf'class="form-row[^"]*field-{name}[^"]*">.*?<div class="readonly">(.*?)</div>', page, re.S)
    assert found, f"no readonly field {name}"
    return text(found.group(1))


def list_row(page: str, pk: uuid.UUID) -> str:
    rows = [row for row in re.findall(r"<tr[^>]*>.*?</tr>", page, re.S) if str(pk) in row]
    assert len(rows) == 1, f"{len(rows)} rows of {pk}"
    return text(rows[0])


def pending(factory: type[LearnupletFactory] | type[PredupletFactory]) -> Learnuplet | Preduplet:
    return factory.create(status="pending", worker=uuid.uuid4(), attempt=1, claimed_at=HEARTBEAT,
                          heartbeat_at=HEARTBEAT, lease_expires_at=LEASE)


def event_at(moment: datetime, monkeypatch: pytest.MonkeyPatch, **fields: object) -> TaskEvent:
    """An event written at `moment` (`at` is set on insert, and the table refuses updates)."""
    with monkeypatch.context() as clock:
        clock.setattr(timezone, "now", lambda: moment)
        return TaskEvent.objects.create(**fields)


def test_the_settings_time_zone_is_utc():
    # What the times below are shown in: the zone the admin activates for every request.
    assert settings.TIME_ZONE == "UTC"


@pytest.mark.parametrize("factory", [LearnupletFactory, PredupletFactory], ids=["learnuplet", "preduplet"])
def test_a_tasks_page_shows_its_lease_and_heartbeat_to_the_second_with_the_zone(admin_browser: Client, factory):
    task = pending(factory)
    meta = task._meta

    page = admin_browser.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[task.pk]))

    content = page.content.decode()
    assert readonly_field(content, "lease_expires_at") == "2026-12-02 06:00:12 UTC"
    assert readonly_field(content, "heartbeat_at") == "2026-12-02 05:58:25 UTC"
    assert readonly_field(content, "claimed_at") == "2026-12-02 05:58:25 UTC"


@pytest.mark.parametrize("factory", [LearnupletFactory, PredupletFactory], ids=["learnuplet", "preduplet"])
def test_a_task_list_shows_the_lease_to_the_second_with_the_zone(admin_browser: Client, factory):
    task = pending(factory)
    meta = task._meta

    page = admin_browser.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))

    assert "2026-12-02 06:00:12 UTC" in list_row(page.content.decode(), task.pk)


def test_a_tasks_history_shows_its_times_to_the_second_with_the_zone(admin_browser: Client, monkeypatch):
    task = pending(LearnupletFactory)
    event_at(HEARTBEAT, monkeypatch, kind="learnuplet", task=task.pk, from_status="todo", to_status="pending",
             attempt=1, worker=task.worker, actor="system", reason="claimed")

    page = admin_browser.get(reverse("admin:learning_learnuplet_change", args=[task.pk])).content.decode()

    history = readonly_field(page, "history")
    assert "2026-12-02 05:58:25 UTC todo pending 1" in history, history


def test_the_event_list_shows_its_times_to_the_second_with_the_zone(admin_browser: Client, monkeypatch):
    task = pending(LearnupletFactory)
    event_at(HEARTBEAT, monkeypatch, kind="learnuplet", task=task.pk, to_status="todo", actor="system")

    page = admin_browser.get(reverse("admin:tasks_taskevent_changelist")).content.decode()

    assert "2026-12-02 05:58:25 UTC" in list_row(page, task.pk)
