"""GET /api/v1/events/ (issue 17): the event log as a cursor feed, with filters, held
open by ?wait=, that never skips an event whose transaction commits late and never shows
a client a test-data UUID."""

import threading
import time
import uuid

import pytest
from django.db import connection, transaction
from django.db.models import Q

from learning.lifecycle import LEARNUPLETS
from learning.models import Learnuplet
from tasks import queue, wakeups
from tasks.models import Status
from tests.factories import LearnupletFactory, PredupletFactory
from tests.helpers import API, claim, create_problem, register_algo, register_data, report_done, uuids

# Each request commits (the feed serves only events of ended transactions): no test-wide
# transaction around these tests.
pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = {"id", "kind", "task", "problem", "from_status", "to_status", "attempt", "worker", "actor", "reason", "at"}


def feed(caller, **params):
    r = caller.get(f"{API}/events/", **params)
    assert r.status_code == 200, r.content
    return r.json()


def test_it_pages_the_history_in_id_order_with_a_cursor(uploader, worker):
    problem = create_problem(uploader, size=1)["uuid"]
    register_data(uploader, [problem], uuids(2))
    algo = register_algo(uploader, problem)["uuid"]
    report_done(worker, claim(worker), 0.5)

    everything = feed(uploader)
    events = everything["events"]

    assert [(e["from_status"], e["to_status"]) for e in events] == [
        ("", "todo"), ("", "waiting"), ("todo", "pending"), ("pending", "done"), ("waiting", "todo")]
    assert all(set(e) == FIELDS for e in events)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert everything["next"] == events[-1]["id"]
    assert {e["problem"] for e in events} == {problem}
    assert feed(uploader, after=events[1]["id"])["events"] == events[2:]
    assert feed(uploader, after=everything["next"]) == {"events": [], "next": everything["next"]}
    assert [e["to_status"] for e in feed(uploader, algo=algo)["events"]] == [e["to_status"] for e in events]


def test_it_filters_by_kind_task_problem_and_algo(operator):
    a, b = LearnupletFactory.create(), LearnupletFactory.create()
    pred = PredupletFactory.create(problem=a.problem)
    for model, task in ((Learnuplet, a), (Learnuplet, b)):
        queue.record_created(model, [task.pk], reason="test")
    queue.record_created(type(pred), [pred.pk], reason="test")

    assert {e["task"] for e in feed(operator, kind="preduplet")["events"]} == {str(pred.pk)}
    assert {e["task"] for e in feed(operator, task=str(b.pk))["events"]} == {str(b.pk)}
    assert {e["task"] for e in feed(operator, problem=str(a.problem_id))["events"]} == {str(a.pk), str(pred.pk)}
    assert {e["task"] for e in feed(operator, algo=str(a.algo_id))["events"]} == {str(a.pk)}


@pytest.mark.parametrize("params, field", [({"after": -1}, "after"), ({"after": "x"}, "after"),
                                           ({"wait": 61}, "wait"), ({"kind": "other"}, "kind"),
                                           ({"task": "not-a-uuid"}, "task"), ({"problem": str(uuid.uuid4()).upper()}, "problem")])
def test_bad_parameters_are_a_400_naming_them(uploader, params, field):
    r = uploader.get(f"{API}/events/", **params)
    assert r.status_code == 400 and field in r.json(), r.content


def test_a_client_never_sees_a_test_data_uuid_in_a_reason(uploader, worker):
    secret = str(uuid.uuid4())
    problem = create_problem(uploader, size=1, test=[secret])["uuid"]
    register_data(uploader, [problem], uuids(1))
    register_algo(uploader, problem)
    held = claim(worker)
    worker.post(f"{API}/learnuplets/{held['uuid']}/result/",
                {"attempt": held["attempt"], "status": "failed", "error": f"cannot open {secret}"})

    assert secret not in str(feed(uploader))
    assert secret in str(feed(worker))


def test_the_query_count_does_not_grow_with_the_page(operator, django_assert_max_num_queries):
    tasks = LearnupletFactory.create_batch(300)
    queue.record_created(Learnuplet, [t.pk for t in tasks], reason="test")
    with django_assert_max_num_queries(4):
        assert len(feed(operator)["events"]) == 300


def test_an_event_of_a_transaction_still_running_holds_back_the_later_ones(operator):
    """Ids follow transactions, not inserts: an event inserted first but committed last is
    never skipped by a reader that saw the events committed before it."""
    early, late = LearnupletFactory.create(), LearnupletFactory.create()
    inserted, release = threading.Event(), threading.Event()

    def slow_transaction() -> None:
        with transaction.atomic():
            queue.fail(Learnuplet, where=Q(pk=early.pk), actor="slow", reason="first in, last out")
            inserted.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=slow_transaction)
    thread.start()
    assert inserted.wait(10)
    with transaction.atomic():
        queue.fail(Learnuplet, where=Q(pk=late.pk), actor="quick", reason="second in, first out")

    before = feed(operator)
    release.set()
    thread.join(10)
    after = feed(operator, after=before["next"])

    assert before["events"] == []  # the quick one waits behind the running one
    assert [e["actor"] for e in after["events"]] == ["slow", "quick"]


def test_a_waiting_read_is_answered_when_an_event_arrives(operator):
    task = LearnupletFactory.create()
    start_at = feed(operator)["next"]
    wakeups.WAKEUPS._start(None)
    assert wakeups.WAKEUPS.listening.wait(10)
    answer: dict[str, object] = {}

    def read() -> None:
        answer["r"] = feed(operator, after=start_at, wait=10)
        connection.close()

    thread = threading.Thread(target=read)
    thread.start()
    deadline = time.monotonic() + 10
    while wakeups.WAKEUPS.waiting()[1] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    began = time.monotonic()
    LEARNUPLETS.claim(task.pk, worker=uuid.uuid4(), actor="w")  # a claim sends no notification
    thread.join(10)

    events = answer["r"]["events"]  # type: ignore[index]  # set by the thread
    assert [e["to_status"] for e in events] == [Status.PENDING]
    assert time.monotonic() - began < 2


def test_an_empty_wait_ends_with_an_empty_page(operator):
    start = time.monotonic()
    assert feed(operator, after=2**62, wait=1) == {"events": [], "next": 2**62}
    assert 1 <= time.monotonic() - start < 3
