"""A waiting claim with an Idempotency-Key (the reference worker sends one with every
claim) holds no database connection while it waits, and its answer is kept as any keyed
request's: a task claimed is replayed to a retry with the key."""

import time

import pytest
from django.db import connection, transaction

from learning.lifecycle import release_next
from tests.factories import LearnupletFactory
from tests.helpers import API
from tests.queue.test_waiting import in_thread, listening, waiting_claims
from tasks.models import Status

pytestmark = pytest.mark.django_db(transaction=True)


def keyed_claim(caller, key: str, wait: float):
    return caller.http.post(f"{API}/learnuplets/claim/?wait={wait}", {}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def open_transactions() -> int:
    """Sessions of this database inside a transaction, other than this test's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%%'"
        )
        (count,) = cursor.fetchone()
    return int(count)


def test_a_keyed_waiting_claim_holds_no_transaction_and_its_task_is_replayed_to_a_retry(worker):
    listening()
    first = LearnupletFactory.create(rank=0, status=Status.DONE, perf=0.5)
    task = LearnupletFactory.create(algo=first.algo, rank=1, status=Status.WAITING, model_start=None,
                                    queued_at=None)
    thread, result = in_thread(keyed_claim, worker, "claim-1", 10)
    waiting_claims(1)
    time.sleep(0.2)

    assert open_transactions() == 0
    with transaction.atomic():
        release_next([first])
    thread.join(10)

    answer = result["value"]
    assert answer.status_code == 200, answer.content
    assert answer.json()["uuid"] == str(task.pk)
    again = keyed_claim(worker, "claim-1", 10)
    assert again.status_code == 200 and again.json()["uuid"] == str(task.pk)
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_keyed_waiting_claim_that_times_out_keeps_its_204(worker):
    listening()
    start = time.monotonic()
    assert keyed_claim(worker, "claim-2", 1).status_code == 204
    assert 1 <= time.monotonic() - start < 2.5

    LearnupletFactory.create()  # claimable now, but the key's answer was 204
    start = time.monotonic()
    again = keyed_claim(worker, "claim-2", 1)
    assert again.status_code == 204 and again.headers["Idempotent-Replayed"] == "true"
    assert time.monotonic() - start < 0.5


def test_a_retry_waiting_beside_its_first_request_gets_the_same_task(worker):
    listening()
    first = LearnupletFactory.create(rank=0, status=Status.DONE, perf=0.5)
    LearnupletFactory.create(algo=first.algo, rank=1, status=Status.WAITING, model_start=None, queued_at=None)
    LearnupletFactory.create(status=Status.WAITING, model_start=None, queued_at=None)  # never released
    # A retry sent while the first request still waits (its client gave up on it).
    threads = [in_thread(keyed_claim, worker, "claim-3", 3)]
    waiting_claims(1)
    threads.append(in_thread(keyed_claim, worker, "claim-3", 3))
    waiting_claims(2)
    with transaction.atomic():
        release_next([first])
    for thread, _ in threads:
        thread.join(10)

    answers = [result["value"] for _, result in threads]
    assert [a.status_code for a in answers] == [200, 200], [a.content for a in answers]
    assert answers[0].json()["uuid"] == answers[1].json()["uuid"]


def test_ten_keyed_waiters_and_a_hundred_releases_each_task_claimed_once_and_replayed_to_its_key(worker):
    """The keyed path's own rules under a race: no last try (a wake-up a leaving claim does
    not use goes to the next waiter), a first try repeated only for a wake-up since, and
    each task's answer kept under the key that claimed it. Ten HTTP waiters, each with its
    own database connection; a hundred releases, one per commit, from this connection."""
    from collections import Counter
    import threading
    import uuid as uuid_module

    from rest_framework.test import APIClient

    from learning.models import Learnuplet
    from tasks import queue
    from tests.factories import AlgoFactory

    listening()
    algos = [AlgoFactory.create() for _ in range(10)]
    tasks = [LearnupletFactory.create(algo=a, status=Status.WAITING, model_start=None, queued_at=None, rank=r)
             for a in algos for r in range(1, 11)]
    claims: list[tuple[str, str]] = []  # task, key
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[str] = []

    def waiter() -> None:
        http = APIClient()
        http.credentials(HTTP_AUTHORIZATION=f"Token {worker.token}")
        try:
            while not stop.is_set():
                key = str(uuid_module.uuid4())
                answer = http.post(f"{API}/learnuplets/claim/?wait=1", {}, format="json", HTTP_IDEMPOTENCY_KEY=key)
                if answer.status_code == 200:
                    with lock:
                        claims.append((answer.json()["uuid"], key))
                elif answer.status_code != 204:
                    errors.append(f"{answer.status_code} {answer.content[:200]!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=waiter) for _ in range(10)]
    for t in threads:
        t.start()
    waiting_claims(10)
    for task in tasks:
        with transaction.atomic():
            queue.release(Learnuplet, [Learnuplet(algo_id=task.algo_id, rank=task.rank - 1)],
                          values={"model_start": task.algo_id}, reason="test")
    deadline = time.monotonic() + 60
    while len(claims) < len(tasks) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(10)

    assert errors == []
    counted = Counter(pk for pk, _ in claims)
    assert set(counted) == {str(t.pk) for t in tasks} and set(counted.values()) == {1}
    for pk, key in claims[:: len(claims) // 10]:  # a sample: each key answers its own task again
        again = keyed_claim(worker, key, 1)
        assert again.status_code == 200 and again.json()["uuid"] == pk
        assert again.headers["Idempotent-Replayed"] == "true"
