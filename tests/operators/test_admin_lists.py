"""The task lists are dense and say enough (issue 14, point 4): short UUIDs with the whole
one on hover and behind a link, rounded perf, the last error's first line, compact times;
the columns that sorted still sort."""

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.templatetags.admin_list import result_headers
from django.test import Client
from django.urls import reverse

from tasks.models import TaskEvent
from tests.factories import AlgoFactory, LearnupletFactory, PredupletFactory

pytestmark = pytest.mark.django_db

LEARNUPLETS = reverse("admin:learning_learnuplet_changelist")
PREDUPLETS = reverse("admin:predictions_preduplet_changelist")
EVENTS = reverse("admin:tasks_taskevent_changelist")

AT = datetime(2026, 12, 2, 6, 0, 12, tzinfo=UTC)
ERROR = ("storage timeout while uploading model 5f0c6a38-6c1e-4a3e-9f0e-0d6d3c7a1a01 to the bucket\n"
         "Traceback (most recent call last):\n  File \"worker.py\", line 12")


def text(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", markup)).split())


def row_cells(page: str, pk: object) -> dict[str, str]:
    """The cells of the list's row of `pk`, by column name (their `field-<name>` class)."""
    rows = [row for row in re.findall(r"<tr[^>]*>.*?</tr>", page, re.S) if f'value="{pk}"' in row or str(pk) in row]
    assert len(rows) == 1, f"{len(rows)} rows of {pk}"
    return dict(re.findall(r'<t[dh] class="field-(\w+)[^"]*"[^>]*>(.*?)</t[dh]>', rows[0], re.S))


def title(cell: str) -> str:
    found = re.search(r'title="([^"]*)"', cell)
    assert found, cell
    return html.unescape(found.group(1))


def href(cell: str) -> str:
    found = re.search(r'href="([^"]*)"', cell)
    assert found, cell
    return html.unescape(found.group(1))


def assert_short_uuid(cell: str, value: object, link: str | None = None) -> None:
    assert text(cell) == str(value)[:8]
    assert title(cell) == str(value)
    if link is not None:
        assert href(cell) == link


def test_a_learnuplet_row_shows_short_uuids_rounded_perf_and_compact_times(admin_browser: Client):
    worker = uuid.uuid4()
    task = LearnupletFactory.create(status="done", perf=0.123456789012345, rank=3, worker=worker, attempt=2,
                                    training_done=AT, lease_expires_at=None)

    cells = row_cells(admin_browser.get(LEARNUPLETS).content.decode(), task.pk)

    assert_short_uuid(cells["short_pk"], task.pk, reverse("admin:learning_learnuplet_change", args=[task.pk]))
    assert_short_uuid(cells["problem_link"], task.problem_id,
                      reverse("admin:problems_problem_change", args=[task.problem_id]))
    assert_short_uuid(cells["worker_link"], worker, f"{LEARNUPLETS}?q={worker}")
    assert text(cells["algo_link"]) == task.algo.name
    assert (text(cells["rounded_perf"]), title(cells["rounded_perf"])) == ("0.1235", "0.123456789012345")
    assert (text(cells["rank"]), text(cells["attempt"]), text(cells["status"])) == ("3", "2", "Done")
    assert text(cells["ended"]) == "2026-12-02 06:00:12 UTC"
    assert text(cells["lease"]) == "-"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text(cells["created"]))


def test_a_learnuplet_row_shows_the_first_line_of_its_last_error(admin_browser: Client):
    task = LearnupletFactory.create(status="failed", last_error=ERROR, training_done=AT)

    cells = row_cells(admin_browser.get(LEARNUPLETS).content.decode(), task.pk)

    shown = text(cells["last_error_line"])
    assert shown.startswith("storage timeout while") and shown.endswith("…") and len(shown) <= 40, shown
    assert title(cells["last_error_line"]) == ERROR


def test_a_long_algo_name_is_cut_in_the_list_and_whole_on_hover(admin_browser: Client):
    name = "XGBoostClassifierTunedWithOptunaOnTheFullGrid"
    task = LearnupletFactory.create(algo=AlgoFactory.create(name=name))

    cells = row_cells(admin_browser.get(LEARNUPLETS).content.decode(), task.pk)

    assert text(cells["algo_link"]) == "XGBoostClassifierTunedW…"
    assert title(cells["algo_link"]) == name


def test_a_preduplet_row_shows_short_uuids_its_error_and_compact_times(admin_browser: Client):
    worker = uuid.uuid4()
    task = PredupletFactory.create(status="pending", worker=worker, attempt=1, lease_expires_at=AT,
                                   claimed_at=AT - timedelta(minutes=2), last_error="out of memory")

    cells = row_cells(admin_browser.get(PREDUPLETS).content.decode(), task.pk)

    assert_short_uuid(cells["short_pk"], task.pk, reverse("admin:predictions_preduplet_change", args=[task.pk]))
    assert_short_uuid(cells["problem_link"], task.problem_id,
                      reverse("admin:problems_problem_change", args=[task.problem_id]))
    assert_short_uuid(cells["model_link"], task.model, f"{LEARNUPLETS}?q={task.model}")
    assert_short_uuid(cells["worker_link"], worker, f"{PREDUPLETS}?q={worker}")
    assert text(cells["last_error_line"]) == "out of memory"
    assert text(cells["lease"]) == "2026-12-02 06:00:12 UTC"
    assert text(cells["ended"]) == "-"


def test_an_event_row_shows_its_worker_actor_and_reason(admin_browser: Client):
    task = LearnupletFactory.create()
    worker = uuid.uuid4()
    reason = "lease expired after 120 s without a heartbeat; out of attempts (3 of 3), the chain moves on\nmore"
    event = TaskEvent.objects.create(kind="learnuplet", task=task.pk, from_status="pending", to_status="failed",
                                     attempt=3, worker=worker, actor="system", reason=reason)

    cells = row_cells(admin_browser.get(EVENTS).content.decode(), f">{event.pk}</a>")

    assert_short_uuid(cells["task_link"], task.pk, reverse("admin:learning_learnuplet_change", args=[task.pk]))
    assert_short_uuid(cells["worker_link"], worker, f"{EVENTS}?q={worker}")
    assert text(cells["actor"]) == "system"
    assert text(cells["reason_line"]).startswith("lease expired after 120 s") and title(cells["reason_line"]) == reason
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text(cells["at_time"]))


@pytest.mark.parametrize("url, make, unsorted", [
    (LEARNUPLETS, lambda: LearnupletFactory.create(), {"last error"}),
    (PREDUPLETS, lambda: PredupletFactory.create(), {"last error"}),
    (EVENTS, lambda: None, {"reason"}),
], ids=["learnuplets", "preduplets", "events"])
def test_every_column_sorts_but_the_texts(admin_browser: Client, url, make, unsorted):
    make()

    cl = admin_browser.get(url).context["cl"]

    headers = [h for h in result_headers(cl) if h["text"] and "action-checkbox" not in str(h["class_attrib"])]
    assert {h["text"] for h in headers if not h["sortable"]} == unsorted


def test_it_sorts_learnuplets_by_their_perf(admin_browser: Client):
    algo = AlgoFactory.create()
    tasks = [LearnupletFactory.create(algo=algo, rank=rank, status="done", perf=perf)
             for rank, perf in enumerate((0.5, 0.9, 0.1))]
    cl = admin_browser.get(LEARNUPLETS).context["cl"]
    [perf] = [h for h in result_headers(cl) if h["text"] == "perf"]

    page = admin_browser.get(LEARNUPLETS + str(perf["url_primary"])).content.decode()

    shown = [page.index(f'value="{t.pk}"') for t in tasks]
    assert sorted(shown) == [shown[2], shown[0], shown[1]]  # 0.1, 0.5, 0.9

