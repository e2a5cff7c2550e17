"""A server of many threads holds many waiting claims with a few database connections
(its pool, DJANGO_DB_POOL_SIZE), and answers everyone."""

import threading
import time
from collections import Counter

import pytest
from django.db import connection, transaction

from accounts.models import Role
from learning.models import Learnuplet
from tasks import queue
from tests.conftest import make_caller
from tests.factories import LearnupletFactory
from tests.live import Http, Server, database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

POOL = 4
WAITERS = 40


def server_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid()")
        return int(cursor.fetchone()[0])


def test_forty_waiting_claims_take_no_more_connections_than_the_pool():
    worker = make_caller("pool-worker", Role.COMPUTE)
    before = server_connections()  # this test process's own others (its wake-up listener, say)
    with Server(database_url(connection.settings_dict), workers=1, DJANGO_DB_POOL_SIZE=str(POOL)) as server:
        http = Http(server.url, f"Token {worker.token}", timeout=30)
        answers: list[int] = []
        lock = threading.Lock()

        def claim() -> None:
            answer = http.post("/api/v1/learnuplets/claim/?wait=6")
            with lock:
                answers.append(answer.status)

        threads = [threading.Thread(target=claim) for _ in range(WAITERS)]
        for t in threads:
            t.start()
        time.sleep(2)  # all asked, none served: they wait
        during = [server_connections() for _ in range(5)]
        tasks = LearnupletFactory.create_batch(10)
        with transaction.atomic():  # made claimable the way generation does: notified at commit
            queue.record_created(Learnuplet, [t.pk for t in tasks], reason="test")
        for t in threads:
            t.join(30)

    # The pool's connections and the wake-up listener's, whatever the number of waiters.
    assert max(during) - before <= POOL + 1, (before, during)
    assert Counter(answers) == {200: 10, 204: WAITERS - 10}
    assert set(Learnuplet.objects.values_list("status", flat=True)) == {"pending"}
