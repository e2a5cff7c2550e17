"""Requests with one key at once, over real connections: while the first runs, the others
get 409 (with Retry-After); once it committed, its answer. Its effect happens once."""

import threading
import time
import uuid
from collections import Counter
from typing import Any

import psycopg
import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from idempotency.models import lock_id
from problems.models import Data, DataUpload
from tests.conftest import Caller
from tests.factories import AlgoFactory, ProblemFactory
from tests.helpers import API
from tests.idempotency.support import keyed, replayed
from tests.live import database_url, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(target: Any) -> Any:
    """Run `target` in a thread with its own database connection, closed at its end."""
    def run() -> None:
        try:
            target()
        finally:
            connections.close_all()

    return threading.Thread(target=run)


def registration() -> tuple[str, dict[str, Any]]:
    problem = ProblemFactory.create(size_train_dataset=1)
    AlgoFactory.create(problem=problem)
    return str(problem.pk), {"uuid": [str(uuid.uuid4()), str(uuid.uuid4())], "problems": [str(problem.pk)]}


def key_held(db: psycopg.Connection[Any], user_pk: int, key: str) -> bool:
    """Whether some session of this database holds the user's key (pg_locks shows a 64-bit
    advisory key as its high and low halves)."""
    number = lock_id(user_pk, key) & 0xFFFF_FFFF_FFFF_FFFF
    rows = db.execute(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND classid::bigint = %s AND objid::bigint = %s", [number >> 32, number & 0xFFFF_FFFF]).fetchall()
    return bool(rows)


def test_it_answers_409_while_the_first_request_with_the_key_runs(uploader):
    problem, body = registration()
    answers: dict[str, Any] = {}
    with psycopg.connect(database_url(connection.settings_dict)) as blocker:
        # The registration waits for this lock on its problem, holding the key meanwhile.
        blocker.execute("SELECT 1 FROM problems_problem WHERE uuid = %s FOR UPDATE", [problem])
        first = in_thread(lambda: answers.update(first=keyed(uploader, f"{API}/data/", body, key="k")))
        first.start()
        with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as observer:
            wait_for(lambda: key_held(observer, uploader.client.user.pk, "k"), timeout=10,
                     what="the first request holding its key")
        meanwhile = keyed(uploader, f"{API}/data/", body, key="k")
        blocker.rollback()
    first.join(timeout=30)
    after = keyed(uploader, f"{API}/data/", body, key="k")

    assert meanwhile.status_code == 409
    assert meanwhile.headers["Retry-After"] == "1"
    assert set(meanwhile.json()) == {"detail"}
    assert not replayed(meanwhile)
    assert answers["first"].status_code == 201
    assert (after.status_code, after.content, replayed(after)) == (201, answers["first"].content, True)
    assert Data.objects.count() == 2


def test_50_requests_with_one_key_at_once_apply_it_once(uploader: Caller):
    problem, body = registration()
    start = threading.Barrier(50)
    firsts: list[Any] = []  # each thread's first answer
    # Then each thread retries, as a client would, while it gets 409, or 503 (a database that
    # refuses connections: a shared server running other suites); every answer of every try.
    tries: list[Any] = []
    finals: list[Any] = []
    lock = threading.Lock()

    def send() -> None:
        http = APIClient()
        http.credentials(HTTP_AUTHORIZATION=f"Token {uploader.token}")
        start.wait(timeout=30)
        seen = [http.post(f"{API}/data/", body, format="json", headers={"Idempotency-Key": "one-key"})]
        while seen[-1].status_code in (409, 503) and len(seen) < 100:
            time.sleep(0.05)
            seen.append(http.post(f"{API}/data/", body, format="json", headers={"Idempotency-Key": "one-key"}))
        with lock:
            firsts.append(seen[0])
            tries.extend(seen)
            finals.append(seen[-1])

    threads = [in_thread(send) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    (applied,) = [r for r in tries if r.status_code == 201 and not replayed(r)]
    count = Counter("applied" if r is applied else "replay" if replayed(r) else r.status_code for r in firsts)
    print(f"50 at once, first answers: {dict(count)}")
    assert len(firsts) == 50
    assert set(count) <= {"applied", "replay", 409, 503}, count
    assert all(r.headers["Retry-After"] == "1" for r in tries if r.status_code in (409, 503))
    assert sum(r is applied for r in finals) + sum(replayed(r) for r in finals) == 50
    assert all((r.status_code, r.content) == (201, applied.content) for r in finals)
    assert Data.objects.count() == 2
    assert DataUpload.objects.count() == 1


def test_the_lock_is_the_users_key(uploader):
    """Another connection holding the key's advisory lock is a request in flight."""
    problem, body = registration()
    with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [lock_id(uploader.client.user.pk, "k")])
        held = keyed(uploader, f"{API}/data/", body, key="k")
        other_key = keyed(uploader, f"{API}/data/", body, key="k2")

    assert (held.status_code, other_key.status_code) == (409, 201)
