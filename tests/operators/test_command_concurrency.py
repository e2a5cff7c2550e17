"""Operator commands run while workers claim and report, over separate connections (issue 5)."""

import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from learning.lifecycle import LEARNUPLETS
from learning.models import Learnuplet
from tasks import queue
from tasks.models import TaskEvent
from tests.factories import AlgoFactory, LearnupletFactory

WORKERS = 4
TASKS = 60
CLAIMS = 300  # in all, across workers


def workers_running(report: Callable[[Learnuplet, uuid.UUID], None]) -> tuple[list[threading.Thread],
                                                                              list[BaseException]]:
    """Threads that claim learnuplets and report them with `report`, CLAIMS times in all."""
    errors: list[BaseException] = []
    budget = iter(range(CLAIMS))
    budget_lock = threading.Lock()

    def work() -> None:
        me = uuid.uuid4()
        try:
            while True:
                with budget_lock:
                    if next(budget, None) is None:
                        return
                task = LEARNUPLETS.claim_next(worker=me, actor="w")
                if task is not None:
                    report(task, me)
        except BaseException as exc:  # noqa: BLE001 (re-raised in the main thread)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    return threads, errors


def assert_histories_consistent() -> None:
    """Each task's events chain (every from is the previous to) and end at its status."""
    events: dict[uuid.UUID, list[tuple[str, str]]] = defaultdict(list)
    for task_pk, from_status, to_status in TaskEvent.objects.order_by("id").values_list(
            "task", "from_status", "to_status"):
        events[task_pk].append((from_status, to_status))
    for task in Learnuplet.objects.all():
        chain = events[task.pk]
        assert all(chain[i][0] == chain[i - 1][1] for i in range(1, len(chain))), (task.pk, chain)
        assert chain[-1][1] == task.status, (task.pk, chain, task.status)


def changed_count(output: str, verb: str = "re-queued") -> int:
    return sum(int(n) for n in re.findall(rf"^{verb} (\d+) ", output, flags=re.MULTILINE))


@pytest.mark.django_db(transaction=True)
def test_it_requeues_failed_tasks_while_workers_claim_and_fail_them():
    LearnupletFactory.create_batch(TASKS, algo=AlgoFactory.create(), status="todo")
    # Reporting `failed` also releases the next rank: the chain logic runs concurrently too.

    def fail(task: Learnuplet, me: uuid.UUID) -> None:
        LEARNUPLETS.report(task.pk, worker=me, attempt=task.attempt, status="failed",
                     error="boom", actor="w")

    threads, errors = workers_running(fail)
    reported = 0
    while any(t.is_alive() for t in threads):
        out = StringIO()
        call_command("requeue_failed", "--kind", "learn", "--batch-size", "25", stdout=out, stderr=StringIO())
        reported += changed_count(out.getvalue())
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    requeued = TaskEvent.objects.filter(from_status="failed", to_status__in=["todo", "waiting"]).count()
    assert reported == requeued > 0, "the command's counts are what it changed"
    assert_histories_consistent()


@pytest.mark.django_db(transaction=True)
def test_it_forces_stale_claims_back_while_workers_finish_them():
    LearnupletFactory.create_batch(TASKS, algo=AlgoFactory.create(), status="todo")

    def finish(task: Learnuplet, me: uuid.UUID) -> None:
        time.sleep(0.005)  # working on it: the operator's run has claims to take
        try:
            LEARNUPLETS.report(task.pk, worker=me, attempt=task.attempt, status="failed",
                         error="boom", actor="w")
        except queue.TaskConflict:
            pass  # the operator took it back first: the fence refuses the result, as it should

    threads, errors = workers_running(finish)
    reported = 0
    while any(t.is_alive() for t in threads):
        out = StringIO()
        call_command("requeue_stale", "--force", "--kind", "learn", stdout=out, stderr=StringIO())
        call_command("requeue_failed", "--kind", "learn", stdout=StringIO(), stderr=StringIO())
        reported += changed_count(out.getvalue())
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    assert reported == TaskEvent.objects.filter(from_status="pending", to_status="todo").count() > 0
    assert_histories_consistent()
