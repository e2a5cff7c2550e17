"""Waiting claims (issue 17): a claim with ?wait= answers the first task made claimable by
another connection's commit, never before it, never one another waiter got."""

import socket
import threading
import time
import uuid
from collections import Counter

import pytest
from django.db import connection, transaction

from learning.lifecycle import LEARNUPLETS
from learning.models import Learnuplet
from tasks import wakeups
from tasks.models import Status
from tests.factories import AlgoFactory, LearnupletFactory
from tests.helpers import API

pytestmark = pytest.mark.django_db(transaction=True)


def listening() -> None:
    """The process's listener is up (it starts with the first waiting request)."""
    wakeups.WAKEUPS._start(Learnuplet)
    assert wakeups.WAKEUPS.listening.wait(10), "the wake-up listener did not connect"


def waiting_claims(n: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while wakeups.WAKEUPS.waiting()[0] < n:
        assert time.monotonic() < deadline, f"{wakeups.WAKEUPS.waiting()[0]} of {n} claims are waiting"
        time.sleep(0.01)


def in_thread(target, *args):
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["value"] = target(*args)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            result["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def waiting_claim(worker: uuid.UUID, timeout: float):
    return wakeups.WAKEUPS.claim(lambda: LEARNUPLETS.claim_next(worker=worker, actor="w"),
                                 model=Learnuplet, site=None, timeout=timeout)


def test_a_waiting_claim_answers_the_task_another_connection_commits_and_not_before(worker):
    listening()
    first = LearnupletFactory.create(rank=0, status=Status.DONE, perf=0.5)
    task = LearnupletFactory.create(algo=first.algo, rank=1, status=Status.WAITING, model_start=None,
                                    queued_at=None)
    start = time.monotonic()
    thread, result = in_thread(lambda: worker.post(f"{API}/learnuplets/claim/?wait=10"))
    waiting_claims(1)

    released = threading.Event()

    def release() -> None:
        with transaction.atomic():
            from learning.lifecycle import release_next

            release_next([first])
            time.sleep(0.5)  # committed only now: the waiter must not have it before
            released.set()
        connection.close()

    releaser = threading.Thread(target=release)
    releaser.start()
    thread.join(15)
    releaser.join(15)

    r = result["value"]
    assert r.status_code == 200, r.content
    assert r.json()["uuid"] == str(task.pk)
    assert released.is_set()
    assert 0.5 <= time.monotonic() - start < 5


def test_twenty_waiters_and_two_hundred_releases_each_task_claimed_once():
    listening()
    algos = [AlgoFactory.create() for _ in range(10)]
    tasks = [LearnupletFactory.create(algo=a, status=Status.WAITING, model_start=None, queued_at=None, rank=r)
             for a in algos for r in range(1, 21)]
    claims: list[tuple[uuid.UUID, uuid.UUID]] = []
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def waiter() -> None:
        worker = uuid.uuid4()
        try:
            while not stop.is_set():
                task = waiting_claim(worker, 1)
                if task is not None:
                    with lock:
                        claims.append((task.pk, worker))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=waiter) for _ in range(20)]
    for t in threads:
        t.start()
    waiting_claims(20)
    for task in tasks:  # 200 releases, one per commit, from this connection
        Learnuplet.objects.filter(pk=task.pk).update(status=Status.WAITING)
        with transaction.atomic():
            from tasks import queue

            queue.release(Learnuplet, [Learnuplet(algo_id=task.algo_id, rank=task.rank - 1)],
                          values={"model_start": task.algo_id}, reason="test")
    deadline = time.monotonic() + 30
    while len(claims) < len(tasks) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(10)

    assert errors == []
    counted = Counter(pk for pk, _ in claims)
    assert set(counted) == {t.pk for t in tasks}
    assert set(counted.values()) == {1}
    assert len({w for _, w in claims}) > 5, "the waiters did not share the work"


def test_a_rolled_back_release_wakes_nobody_with_a_task():
    listening()
    first = LearnupletFactory.create(status=Status.DONE, perf=0.5)
    LearnupletFactory.create(algo=first.algo, rank=first.rank + 1, status=Status.WAITING, model_start=None,
                             queued_at=None)
    thread, result = in_thread(waiting_claim, uuid.uuid4(), 2)
    waiting_claims(1)

    with pytest.raises(RuntimeError):
        with transaction.atomic():
            from learning.lifecycle import release_next

            assert release_next([first])
            raise RuntimeError("rolled back")
    thread.join(10)

    assert result == {"value": None}


def test_a_missed_notification_is_caught_by_the_fallback(monkeypatch):
    monkeypatch.setattr(wakeups, "FALLBACK_SECONDS", 0.3)
    listening()
    task = LearnupletFactory.create(status=Status.WAITING, model_start=None, queued_at=None)
    thread, result = in_thread(waiting_claim, uuid.uuid4(), 8)
    waiting_claims(1)

    # Claimable behind the queue's back: no notification.
    Learnuplet.objects.filter(pk=task.pk).update(status=Status.TODO, model_start=task.algo_id)
    start = time.monotonic()
    thread.join(10)

    assert result["value"].pk == task.pk
    assert time.monotonic() - start < 3


def test_a_task_ending_its_back_off_wakes_a_waiting_claim(settings):
    settings.ORCHESTRATOR_RETRY_BASE_SECONDS = 1
    listening()
    task = LearnupletFactory.create()
    worker = uuid.uuid4()
    held = LEARNUPLETS.claim(task.pk, worker=worker, actor="w")
    LEARNUPLETS.report(task.pk, worker=worker, attempt=held.attempt, status="failed", retry=True, actor="w")
    start = time.monotonic()

    claimed = waiting_claim(uuid.uuid4(), 5)

    assert claimed is not None and claimed.pk == task.pk
    assert 0.4 <= time.monotonic() - start < 1.5


def test_a_claim_whose_client_hung_up_frees_its_slot_and_claims_nothing():
    listening()
    ours, theirs = socket.socketpair()
    thread, result = in_thread(
        lambda: wakeups.WAKEUPS.claim(lambda: LEARNUPLETS.claim_next(worker=uuid.uuid4(), actor="w"),
                                      model=Learnuplet, site=None, timeout=30, sock=ours))
    waiting_claims(1)

    theirs.close()
    thread.join(3)

    assert not thread.is_alive() and result == {"value": None}
    assert wakeups.WAKEUPS.waiting() == (0, 0)
    ours.close()


def test_an_open_client_is_not_gone():
    ours, theirs = socket.socketpair()
    assert wakeups.closed(ours) is False
    theirs.sendall(b"GET / HTTP/1.1\r\n")  # a pipelined request: still there
    assert wakeups.closed(ours) is False
    ours.close()
    theirs.close()


@pytest.mark.parametrize("wait", ["-1", "61", "abc", "nan", "1e9", ""])
def test_a_wait_outside_0_to_60_is_a_400(worker, wait):
    r = worker.post(f"{API}/learnuplets/claim/?wait={wait}")
    if wait == "":
        assert r.status_code == 204
    else:
        assert r.status_code == 400 and "wait" in r.json(), r.content


def test_without_wait_an_empty_queue_answers_at_once(worker):
    start = time.monotonic()
    assert worker.post(f"{API}/preduplets/claim/").status_code == 204
    assert worker.post(f"{API}/preduplets/claim/?wait=0").status_code == 204
    assert time.monotonic() - start < 1


def test_a_waiting_claim_times_out_with_204(worker):
    listening()
    start = time.monotonic()
    r = worker.post(f"{API}/preduplets/claim/?wait=1")
    assert r.status_code == 204
    assert 1 <= time.monotonic() - start < 2.5
