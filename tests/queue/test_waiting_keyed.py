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
