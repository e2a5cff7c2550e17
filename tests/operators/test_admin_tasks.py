"""The task admin: lists, search, history, the cheap paginator and the operator actions (issues 2, 5)."""

import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from learning.models import Learnuplet
from orchestrator_site.admin import EstimatedCountPaginator
from predictions.models import Preduplet
from tasks.models import TaskEvent
from tasks.queue import record_created
from tests.factories import AlgoFactory, LearnupletFactory, PredupletFactory

pytestmark = pytest.mark.django_db

LEARNUPLETS = reverse("admin:learning_learnuplet_changelist")
PREDUPLETS = reverse("admin:predictions_preduplet_changelist")


@pytest.fixture
def ops(admin_browser: Client) -> Client:
    return admin_browser


def act(ops: Client, url: str, action: str, tasks: Sequence[Model], **form: str):
    return ops.post(url, {"action": action, "index": "0", "_selected_action": [str(t.pk) for t in tasks],
                          **form}, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def status(task: Learnuplet | Preduplet) -> str:
    task.refresh_from_db()
    return task.status


def test_it_lists_learnuplets_with_the_columns_operators_need(ops):
    task = LearnupletFactory.create(status="done", perf=0.875, rank=4, worker=uuid.uuid4())

    page = ops.get(LEARNUPLETS).content.decode()

    for text in (str(task.pk), "done", "0.875", str(task.worker), task.algo.name, str(task.problem_id),
                 reverse("admin:problems_algo_change", args=[task.algo_id])):
        assert text in page


def test_it_filters_learnuplets_by_status(ops):
    failed = LearnupletFactory.create(status="failed")
    todo = LearnupletFactory.create(status="todo")

    page = ops.get(LEARNUPLETS, {"status__exact": "failed"}).content.decode()

    assert str(failed.pk) in page and str(todo.pk) not in page


@pytest.mark.parametrize("url, make", [
    (LEARNUPLETS, lambda: LearnupletFactory.create()),
    (PREDUPLETS, lambda: PredupletFactory.create()),
    (reverse("admin:tasks_taskevent_changelist"),
     lambda: record_created(Learnuplet, [LearnupletFactory.create().pk], reason="test")),
])
def test_it_runs_the_same_queries_for_one_row_and_for_fifty(ops, url, make):
    make()
    ops.get(url)  # warm the session and content-type caches
    with CaptureQueriesContext(connection) as one:
        assert ops.get(url).status_code == 200
    for _ in range(49):
        make()
    with CaptureQueriesContext(connection) as fifty:
        assert ops.get(url).status_code == 200

    assert len(fifty) == len(one), [q["sql"] for q in fifty]


def test_it_does_not_count_a_big_table_on_each_page_view(ops, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 10)
    LearnupletFactory.create_batch(30, algo=AlgoFactory.create())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE learning_learnuplet")

    with CaptureQueriesContext(connection) as queries:
        page = ops.get(LEARNUPLETS)

    assert page.status_code == 200
    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]
    assert "30 learnuplets" in page.content.decode()


def test_it_counts_a_filtered_list_no_further_than_a_cap(ops, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "cap", 5)
    LearnupletFactory.create_batch(12, algo=AlgoFactory.create(), status="failed")

    with CaptureQueriesContext(connection) as queries:
        page = ops.get(LEARNUPLETS, {"status__exact": "failed"})

    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 6" in sql for sql in counts)
    assert page.context["cl"].result_count >= 6


def test_it_finds_a_task_by_its_uuid_or_its_workers(ops):
    task = LearnupletFactory.create(worker=uuid.uuid4())
    other = LearnupletFactory.create()

    for term in (task.pk, task.worker):
        page = ops.get(LEARNUPLETS, {"q": str(term)}).content.decode()
        assert str(task.pk) in page and str(other.pk) not in page


def test_it_finds_nothing_for_a_search_that_is_not_a_uuid(ops):
    task = LearnupletFactory.create()

    page = ops.get(LEARNUPLETS, {"q": "not-a-uuid"})

    assert page.status_code == 200
    assert str(task.pk) not in page.content.decode()


def test_it_shows_a_tasks_event_history_on_its_page(ops):
    task = LearnupletFactory.create()
    record_created(Learnuplet, [task.pk], reason="generated for the test")

    page = ops.get(reverse("admin:learning_learnuplet_change", args=[task.pk])).content.decode()

    assert "generated for the test" in page
    assert f"{reverse('admin:tasks_taskevent_changelist')}?task={task.pk}" in page


def test_it_links_an_event_to_its_task(ops):
    task = PredupletFactory.create()
    record_created(Preduplet, [task.pk], reason="requested")

    page = ops.get(reverse("admin:tasks_taskevent_changelist"), {"task": str(task.pk)}).content.decode()

    assert reverse("admin:predictions_preduplet_change", args=[task.pk]) in page


def test_it_offers_no_way_to_add_edit_or_delete_a_task(ops):
    task = LearnupletFactory.create()

    assert ops.get(reverse("admin:learning_learnuplet_add")).status_code == 403
    assert ops.get(reverse("admin:learning_learnuplet_delete", args=[task.pk])).status_code == 403
    page = ops.post(reverse("admin:learning_learnuplet_change", args=[task.pk]), {"status": "done"})
    assert page.status_code == 403
    assert status(task) == "todo"


def test_it_requeues_selected_failed_tasks(ops):
    failed = LearnupletFactory.create(status="failed", training_done=timezone.now())
    todo = LearnupletFactory.create(status="todo")

    page = act(ops, LEARNUPLETS, "requeue_failed", [failed, todo], reason="fixed the storage")

    assert (status(failed), status(todo)) == ("todo", "todo")
    assert "Re-queued 1 of the 2 selected learnuplets." in messages_of(page)
    event = TaskEvent.objects.filter(task=failed.pk).latest("id")
    assert (event.reason, event.actor) == ("fixed the storage", "ops")


def test_it_requeues_selected_stale_claims_but_not_live_ones(ops):
    now = timezone.now()
    stale = PredupletFactory.create(status="pending", worker=uuid.uuid4(), lease_expires_at=now - timedelta(seconds=1))
    live = PredupletFactory.create(status="pending", worker=uuid.uuid4(), lease_expires_at=now + timedelta(minutes=1))

    page = act(ops, PREDUPLETS, "requeue_stale", [stale, live])

    assert (status(stale), status(live)) == ("todo", "pending")
    assert any("Left 1 alone: their lease is live" in m for m in messages_of(page))


def test_it_requeues_a_live_claim_when_forced(ops):
    live = PredupletFactory.create(status="pending", worker=uuid.uuid4(),
                            lease_expires_at=timezone.now() + timedelta(minutes=1))

    act(ops, PREDUPLETS, "requeue_stale", [live], force="on")

    assert status(live) == "todo"


def test_it_marks_selected_tasks_failed_with_the_reason_and_moves_the_chain(ops):
    algo = AlgoFactory.create()
    task = LearnupletFactory.create(algo=algo, rank=0, status="pending", worker=uuid.uuid4(),
                             lease_expires_at=timezone.now() + timedelta(minutes=1))
    following = LearnupletFactory.create(algo=algo, rank=1, status="waiting", model_start=None, queued_at=None)

    page = act(ops, LEARNUPLETS, "mark_failed", [task], reason="poisoned batch")

    task.refresh_from_db()
    assert (task.status, task.last_error) == ("failed", "poisoned batch")
    assert status(following) == "todo"
    assert "Marked failed 1 of the 1 selected learnuplets." in messages_of(page)


def test_it_refuses_to_mark_tasks_failed_without_a_reason(ops):
    task = LearnupletFactory.create()

    page = act(ops, LEARNUPLETS, "mark_failed", [task])

    assert status(task) == "todo"
    assert any("Write the reason" in m for m in messages_of(page))


def test_it_leaves_ended_tasks_alone_when_marking_failed(ops):
    done = LearnupletFactory.create(status="done", perf=0.5)

    act(ops, LEARNUPLETS, "mark_failed", [done], reason="oops")

    assert status(done) == "done"


@pytest.mark.parametrize("action, shown, make, form, message", [
    ("requeue_failed", "failed", lambda: LearnupletFactory.create(status="failed", training_done=timezone.now()),
     {}, "Re-queued 1 of the 1 selected learnuplets."),
    ("requeue_stale", "pending", lambda: LearnupletFactory.create(
        status="pending", worker=uuid.uuid4(), lease_expires_at=timezone.now() - timedelta(seconds=1)),
     {}, "Re-queued 1 of the 1 selected learnuplets."),
    ("mark_failed", "todo", lambda: LearnupletFactory.create(status="todo"),
     {"reason": "poisoned batch"}, "Marked failed 1 of the 1 selected learnuplets."),
], ids=["requeue_failed", "requeue_stale", "mark_failed"])
def test_it_counts_the_selection_before_the_action_moves_it_out_of_the_status_filter(
        ops, action, shown, make, form, message):
    # The changelist's filter is applied to the action's queryset too: counted after the
    # action, the tasks it changed no longer match the filter ("1 of the 0 selected").
    task = make()

    page = act(ops, f"{LEARNUPLETS}?status__exact={shown}", action, [task], **form)

    assert status(task) != shown
    assert message in messages_of(page)
