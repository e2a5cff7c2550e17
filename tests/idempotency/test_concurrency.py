"""Requests with one key at once, over real connections: while the first runs, the others
get 409 (with Retry-After); once it committed, its answer. Its effect happens once."""

import threading
import time
import uuid
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
    answers: list[Any] = []  # each thread's first answer
    finals: list[Any] = []  # its answer once it stopped getting 409, as a client retrying
    lock = threading.Lock()

    def send() -> None:
        http = APIClient()
        http.credentials(HTTP_AUTHORIZATION=f"Token {uploader.token}")
        start.wait(timeout=30)
        r = first = http.post(f"{API}/data/", body, format="json", headers={"Idempotency-Key": "one-key"})
        for _ in range(100):
            if r.status_code != 409:
                break
            time.sleep(0.05)
            r = http.post(f"{API}/data/", body, format="json", headers={"Idempotency-Key": "one-key"})
        with lock:
            answers.append(first)
            finals.append(r)

    threads = [in_thread(send) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    applied = [r for r in answers if r.status_code == 201 and not replayed(r)]
    replays = [r for r in answers if replayed(r)]
    in_flight = [r for r in answers if r.status_code == 409]
    print(f"50 at once: 1 applied, {len(replays)} replays, {len(in_flight)} in flight (409)")
    assert len(answers) == 50
    assert len(applied) == 1
    assert len(applied) + len(replays) + len(in_flight) == 50, sorted(r.status_code for r in answers)
    assert all(r.headers["Retry-After"] == "1" for r in in_flight)
    assert sum(replayed(r) for r in finals) == 49
    assert all((r.status_code, r.content) == (201, applied[0].content) for r in finals)
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
