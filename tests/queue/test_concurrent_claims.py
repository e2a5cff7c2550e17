"""Many workers claiming at once over real, separate database connections (issue 3)."""

import threading
import uuid
from collections import Counter

import pytest
from django.db import connection

from learning.lifecycle import LEARNUPLETS
from learning.models import Learnuplet
from tasks import queue
from tasks.models import TaskEvent
from tests.factories import AlgoFactory, LearnupletFactory

WORKERS = 16
TASKS = 400


@pytest.mark.django_db(transaction=True)
def test_it_hands_each_task_to_exactly_one_of_sixteen_concurrent_workers():
    algo = AlgoFactory.create()
    LearnupletFactory.create_batch(TASKS, algo=algo)
    claims: list[tuple[uuid.UUID, uuid.UUID]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(WORKERS)

    def work(worker: uuid.UUID) -> None:
        try:
            start.wait()
            while (task := LEARNUPLETS.claim_next(worker=worker, actor="w")) is not None:
                with lock:
                    claims.append((task.pk, worker))
                LEARNUPLETS.report(task.pk, worker=worker, attempt=task.attempt,
                             status="failed", error="", actor="w")
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(uuid.uuid4(),)) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    claimed = Counter(pk for pk, _ in claims)
    assert len(claimed) == TASKS, "a task was lost"
    assert max(claimed.values()) == 1, "a task was claimed twice"
    assert len({w for _, w in claims}) > 1, "the workers did not actually run concurrently"
    assert Learnuplet.objects.exclude(status="failed").count() == 0
    pending_events = Counter(TaskEvent.objects.filter(to_status="pending").values_list("task", flat=True))
    assert len(pending_events) == TASKS and set(pending_events.values()) == {1}
