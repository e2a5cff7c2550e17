"""The push to a 2017 Compute (issue 18): every task made todo reaches the stand-in Compute
(a real HTTP server decoding each body as the Go structs would), once, in the order the
tasks became ready; nothing of a rolled-back change; nothing the Compute could not claim."""

import time
import uuid

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from learning.models import Learnuplet
from morpheo import outbox
from morpheo.models import Delivery
from predictions.models import Preduplet
from problems import services as registry
from tasks import queue
from tasks.models import Status
from tests.conftest import make_caller
from tests.helpers import claim, report_done, report_failed
from tests.live import wait_for
from tests.morpheo.push_support import API, Running, dispatcher, ready_learnuplets, register_chain

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_delivers_each_rank_of_a_chain_once_as_it_becomes_ready(compute, uploader, worker):
    problem, algo = register_chain(uploader, ranks=3)
    push = dispatcher(compute)
    ranks = list(Learnuplet.objects.filter(algo_id=uuid.UUID(algo)).order_by("rank").values_list("pk", flat=True))

    push.run_once()
    assert compute.accepted("/learn") == ranks[:1]
    for rank in (1, 2):
        report_done(worker, claim(worker), perf=0.5)  # releases the next rank
        push.run_once()
        assert compute.accepted("/learn") == ranks[: rank + 1]
    report_done(worker, claim(worker), perf=0.6)
    r = uploader.post(f"{API}/preduplets/", {"problem": problem, "data": str(uuid.uuid4())})
    push.run_once()

    assert compute.accepted("/pred") == [uuid.UUID(r.json()["uuid"])]
    assert compute.errors() == []  # every body decoded as the Go structs
    assert Delivery.objects.count() == 0


def test_each_document_is_the_task_as_it_is_when_sent(compute, uploader, worker):
    _, algo = register_chain(uploader, ranks=2)
    push = dispatcher(compute)
    push.run_once()
    first = claim(worker)
    report_done(worker, first, perf=0.5)
    push.run_once()

    (_, second) = [r.task for r in compute.received]
    assert second is not None
    assert (second["rank"], str(second["model_start"]), second["status"]) == (1, first["model_end"], "todo")
    assert str(second["algo"]) == algo


def test_it_sends_in_the_order_tasks_became_ready(compute):
    made = [pk for _ in range(4) for pk in ready_learnuplets(3)]
    dispatcher(compute, batch=5).run_once()

    assert compute.accepted() == made


def test_a_rolled_back_change_is_never_sent(compute, uploader):
    problem, _ = register_chain(uploader, ranks=1)
    push = dispatcher(compute)
    push.run_once()
    sent = compute.accepted()

    with pytest.raises(RuntimeError), transaction.atomic():
        registry.algo_register(problem=uuid.UUID(problem), name="rolled back")
        assert Learnuplet.objects.filter(algo__name="rolled back", status=Status.TODO).count() == 1
        raise RuntimeError("the registration fails after generating its chain")
    kept = ready_learnuplets(1)
    push.run_once()

    assert compute.accepted() == sent + kept


def test_a_task_claimed_before_its_turn_is_not_sent(compute, uploader, worker):
    register_chain(uploader, ranks=1)
    claim(worker)

    report = dispatcher(compute).run_once()

    assert compute.received == [] and report.sent == 0
    assert Delivery.objects.count() == 0


def test_a_delivery_whose_task_was_claimed_meanwhile_is_forgotten(compute, uploader, worker):
    register_chain(uploader, ranks=1)
    push = dispatcher(compute)
    push._start()
    push._read_log()
    assert Delivery.objects.count() == 1
    claim(worker)

    report = push.run_once()

    assert (report.sent, report.skipped, compute.received) == (0, 1, [])
    assert Delivery.objects.count() == 0


def test_a_retried_task_is_sent_again_when_its_back_off_ends(compute, uploader, worker, settings):
    settings.ORCHESTRATOR_RETRY_BASE_SECONDS = 2
    register_chain(uploader, ranks=1)
    push = dispatcher(compute)
    push.run_once()
    task = claim(worker)
    r = worker.post(f"{API}/learnuplets/{task['uuid']}/result/",
                    {"attempt": 1, "status": "failed", "error": "out of memory", "retry": True})
    assert r.json()["status"] == "todo" and r.json()["not_before"], r.json()

    report = push.run_once()
    assert report.postponed == 1 and compute.accepted() == [uuid.UUID(task["uuid"])]
    wait_for(lambda: push.run_once().sent, timeout=10, interval=0.2, what="the retry's delivery")

    assert compute.accepted() == [uuid.UUID(task["uuid"])] * 2


def test_a_failed_rank_releases_the_next_one_to_the_compute(compute, uploader, worker):
    _, algo = register_chain(uploader, ranks=2)
    push = dispatcher(compute)
    push.run_once()
    report_failed(worker, claim(worker))

    push.run_once()

    assert compute.accepted() == list(Learnuplet.objects.filter(algo_id=uuid.UUID(algo)).order_by("rank").values_list("pk", flat=True))


def test_it_pushes_no_task_of_a_site(compute):
    site_client = make_caller("hospital", "client", site="hospital-a")
    platform = ready_learnuplets(1)
    ready_learnuplets(2, site=site_client.client.site)

    dispatcher(compute).run_once()

    assert compute.accepted() == platform


def test_the_first_start_queues_the_tasks_todo_then(compute, uploader, worker):
    register_chain(uploader, ranks=2)  # rank 0 todo before any dispatcher ran
    claimed = ready_learnuplets(2)
    Learnuplet.objects.filter(pk=claimed[0]).update(status=Status.CANCELED)

    dispatcher(compute).run_once()

    assert sorted(compute.accepted()) == sorted(
        [*Learnuplet.objects.filter(rank=0, status=Status.TODO, algo__name="sgd").values_list("pk", flat=True),
         claimed[1]])


def test_a_refused_document_backs_off_alone(compute):
    refused, *others = ready_learnuplets(3)
    compute.refused = {refused}

    report = dispatcher(compute).run_once()

    assert (report.sent, report.refused) == (2, 1)
    assert compute.accepted() == others
    delivery = Delivery.objects.get()
    assert (delivery.task, delivery.attempts) == (refused, 1) and delivery.last_error.startswith("400")
    assert outbox.backlog().failing == 1


def test_the_compute_down_then_up_receives_every_task_once_in_order(compute):
    before = ready_learnuplets(3)
    compute.stop()
    with Running(dispatcher(compute, retry_base=0.2, retry_max=0.4)):
        during = ready_learnuplets(5)
        wait_for(lambda: Delivery.objects.filter(attempts__gte=2).exists(), timeout=10, what="failed sends")
        assert outbox.backlog().queued + outbox.backlog().failing == 8
        compute.start()
        wait_for(lambda: len(compute.accepted()) >= 8 and not Delivery.objects.exists(), timeout=15,
                 what="every task delivered")
        after = ready_learnuplets(2)
        wait_for(lambda: len(compute.accepted()) >= 10, timeout=10, what="the next tasks")

    assert compute.accepted() == before + during + after


def test_a_compute_answering_503_is_tried_again_until_it_takes_the_task(compute):
    compute.status = 503
    made = ready_learnuplets(4)
    with Running(dispatcher(compute, retry_base=0.2, retry_max=0.4)):
        wait_for(lambda: len(compute.received) >= 3, timeout=10, what="refused tries")
        assert {r.task["uuid"] for r in compute.received if r.task} == {made[0]}  # nothing goes ahead of it
        compute.status = None
        wait_for(lambda: len(compute.accepted()) >= 4, timeout=15, what="every task delivered")

    assert compute.accepted() == made


def test_a_task_made_ready_again_while_being_sent_goes_again(compute):
    (pk,) = ready_learnuplets(1)
    push = dispatcher(compute)
    push._start()
    token, (item,) = outbox.claim(limit=1, hold=push.hold)
    # Claimed by a v1 worker and given back while the first send was on its way.
    Learnuplet.objects.filter(pk=pk).update(status=Status.PENDING, worker=uuid.uuid4(),
                                            lease_expires_at="2000-01-01T00:00:00Z")
    with transaction.atomic():
        queue.requeue(Learnuplet, where=Q(pk=pk), actor="test", reason="given back")
    push._read_log()

    assert outbox.done(item, token) is False  # not forgotten: it goes again
    push.run_once()
    assert compute.accepted() == [pk]


def test_a_dispatcher_wakes_when_tasks_become_ready(compute):
    with Running(dispatcher(compute, poll=30)):  # no poll within the test: only the wake-up
        time.sleep(0.5)  # listening
        made = ready_learnuplets(1)
        started = time.monotonic()
        wait_for(lambda: compute.accepted(), timeout=10, interval=0.01, what="the delivery")
        delay = time.monotonic() - started

    assert compute.accepted() == made and delay < 5


def test_racing_dispatchers_send_each_task_once(compute):
    made = ready_learnuplets(200)
    racers = [Running(dispatcher(compute, batch=5, poll=0.05)) for _ in range(4)]
    for racer in racers:
        racer.__enter__()
    try:
        wait_for(lambda: len(compute.accepted()) >= 200 and not Delivery.objects.exists(), timeout=60,
                 what="every task delivered")
    finally:
        for racer in racers:
            racer.stop()

    counts = compute.counts()
    assert sorted(counts) == sorted(made) and set(counts.values()) == {1}
    assert sum(1 for racer in racers if racer.dispatcher.total.sent) >= 2  # they did race


def test_a_preduplet_of_one_data_reaches_the_compute_as_the_go_struct(compute, uploader, worker):
    problem, _ = register_chain(uploader, ranks=1)
    report_done(worker, claim(worker), perf=0.9)
    data = str(uuid.uuid4())
    r = uploader.post(f"{API}/preduplets/", {"problem": problem, "data": [data]})

    dispatcher(compute).run_once()

    (received,) = [x for x in compute.received if x.route == "/pred"]
    assert received.task is not None and str(received.task["data"]) == data
    assert str(received.task["uuid"]) == r.json()["uuid"]
    assert Preduplet.objects.get().status == Status.TODO


def test_registration_costs_no_query_more_with_a_compute(uploader, settings):
    problem, _ = register_chain(uploader, ranks=2)

    def queries_of_a_registration() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert uploader.post(f"{API}/algos/", {"problem": problem, "name": "x"}).status_code == 201
        return len(queries)

    without = queries_of_a_registration()
    settings.ORCHESTRATOR_COMPUTE_URL = "http://127.0.0.1:9"

    assert queries_of_a_registration() == without  # the event the change writes anyway is the record
