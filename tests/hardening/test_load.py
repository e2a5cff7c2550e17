"""Load (issue 9): 64 concurrent claimants, each a thread with its own database connection
calling the learnuplet lifecycle (claim_next, report), over a queue of learnuplets. Some claims are
abandoned (the worker "dies") and come back when their lease ends; a claimant starved of
CPU past its lease is refused its result (409) and the task runs again. Afterwards every
task is done exactly once, none is lost, and the event table holds exactly one claim per
attempt and one re-queue per unfinished attempt.

The full size (50,000 tasks) takes minutes on two cores: ORCHESTRATOR_LOAD_TASKS sets it
(default 5,000), ORCHESTRATOR_LOAD_WORKERS the claimants (default 64). README.md,
"Reliability", records the full-size figures.
"""

import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.db import connection

from learning.lifecycle import LEARNUPLETS
from learning.models import Learnuplet
from tasks import queue
from tasks.models import Status, TaskEvent
from tests.factories import AlgoFactory, ProblemFactory

TASKS = int(os.environ.get("ORCHESTRATOR_LOAD_TASKS", "5000"))
WORKERS = int(os.environ.get("ORCHESTRATOR_LOAD_WORKERS", "64"))
ALGOS = 100
# One claim in ABANDON_EVERY is dropped on its first attempt, as by a worker that died.
ABANDON_EVERY = 97
DEADLINE_SECONDS = 1800
LEASE_SECONDS = 3

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def fill_queue(tasks: int) -> None:
    """`tasks` todo learnuplets over ALGOS algos, queued rank by rank across the algos, in
    two statements (factories would take minutes)."""
    problem = ProblemFactory.create()
    algos = [a.pk for a in AlgoFactory.create_batch(ALGOS, problem=problem)]
    table = connection.ops.quote_name(Learnuplet._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (uuid, problem_id, workflow, train_data, test_data, algo_id, model_start,
                model_end, rank, status, queued_at, perf, test_perf, train_perf, training_creation,
                training_done, worker, attempt, claimed_at, heartbeat_at, lease_expires_at, last_error)
            SELECT gen_random_uuid(), %s, %s, ARRAY[gen_random_uuid()], %s::uuid[], (%s::uuid[])[i %% %s + 1],
                NULL, gen_random_uuid(), i / %s, %s, now() + i * interval '1 microsecond', NULL, '{{}}', '{{}}',
                now(), NULL, NULL, 0, NULL, NULL, NULL, ''
            FROM generate_series(0, %s - 1) AS i
            RETURNING uuid
            """,
            [problem.pk, problem.workflow, problem.test_dataset, algos, ALGOS, ALGOS, Status.TODO, tasks],
        )
        created = [row[0] for row in cursor.fetchall()]
    queue.record_created(Learnuplet, created, reason="load test")


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    claims: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    abandoned: set[uuid.UUID] = field(default_factory=set)
    lost: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def claimant(tally: Tally, start: threading.Barrier, tasks: int) -> None:
    worker = uuid.uuid4()
    try:
        start.wait()
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            task = LEARNUPLETS.claim_next(worker=worker, actor="load")
            if task is None:
                # Abandoned claims come back once their lease ends: wait until all are done.
                if Learnuplet.objects.filter(status=Status.DONE).count() == tasks:
                    return
                time.sleep(0.2)
                continue
            with tally.lock:
                tally.claims.append((task.pk, task.attempt))
                abandon = task.attempt == 1 and len(tally.claims) % ABANDON_EVERY == 0
                if abandon:
                    tally.abandoned.add(task.pk)
            if abandon:
                continue
            try:
                LEARNUPLETS.report(task.pk, worker=worker, attempt=task.attempt, status=Status.DONE,
                             perf=0.5, actor="load")
            except queue.TaskConflict:
                with tally.lock:  # our lease ran out first: the task was given back
                    tally.lost.append((task.pk, task.attempt))
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        tally.errors.append(exc)
    finally:
        connection.close()


@pytest.fixture
def quiet() -> Iterator[None]:
    """One log line per status change is the service's choice; here it would be 100,000."""
    logger = logging.getLogger("orchestrator.tasks")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


def test_it_runs_every_task_once_under_concurrent_claimants(settings, quiet):
    settings.ORCHESTRATOR_LEASE_SECONDS = LEASE_SECONDS
    settings.ORCHESTRATOR_MAX_ATTEMPTS = 10
    fill_queue(TASKS)
    tally = Tally()
    start = threading.Barrier(WORKERS)
    threads = [threading.Thread(target=claimant, args=(tally, start, TASKS)) for _ in range(WORKERS)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began

    assert tally.errors == []
    claims = Counter(tally.claims)
    assert max(claims.values()) == 1, "one attempt was handed out twice"
    assert {pk for pk, _ in claims} == set(Learnuplet.objects.values_list("pk", flat=True)), "a task was lost"
    assert Learnuplet.objects.filter(status=Status.DONE).count() == TASKS
    attempts = Counter(pk for pk, _ in claims)
    assert dict(Learnuplet.objects.values_list("pk", "attempt")) == attempts
    events = TaskEvent.objects.filter(kind=Learnuplet.kind)
    claimed = Counter(events.filter(to_status=Status.PENDING).values_list("task", "attempt"))
    assert claimed == claims, "the events do not record exactly one claim per attempt"
    done = Counter(events.filter(to_status=Status.DONE).values_list("task", flat=True))
    assert len(done) == TASKS and set(done.values()) == {1}
    unfinished = len(tally.abandoned) + len(tally.lost)
    assert events.filter(from_status=Status.PENDING, to_status=Status.TODO).count() == unfinished
    print(f"load: {TASKS} tasks, {WORKERS} claimants, {len(tally.claims)} claims ({len(tally.abandoned)} "
          f"abandoned, {len(tally.lost)} past their lease, all re-run) in {elapsed:.1f} s: "
          f"{TASKS / elapsed:.0f} tasks/s")
