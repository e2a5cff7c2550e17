"""Sites under a race (issue 15): 6 compute workers of 3 sites (2 each) and one without a
site race over 3,000 tasks of those sites and of the platform, through the v1 worker
protocol, each worker a thread with its own HTTP client and database connection. Every
task is done exactly once, by a worker allowed to claim it (its site's, or any for a
platform task). Along the way workers try another site's tasks (a named claim, a
heartbeat, a result): each is refused and leaves no trace in the history.
"""

import logging
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role, Site
from learning.models import Learnuplet
from predictions.models import Preduplet
from tasks.models import Status, TaskEvent
from tests.conftest import Caller, make_caller
from tests.factories import AlgoFactory, ProblemFactory, SiteFactory
from tests.helpers import API

pytestmark = pytest.mark.django_db(transaction=True)

SITES = 3
WORKERS_PER_SITE = 2
LEARNUPLETS = 2_400
PREDUPLETS = 600
ALGOS = 100
# One claim in INTRUDE_EVERY is followed by an attempt on another site's task.
INTRUDE_EVERY = 25
KINDS: dict[str, type[Learnuplet] | type[Preduplet]] = {"learnuplets": Learnuplet, "preduplets": Preduplet}
RESULT: dict[str, dict[str, Any]] = {"learnuplets": {"status": "done", "perf": 0.5},
          "preduplets": {"status": "done", "prediction_storage_uuid": [str(uuid.uuid4())]}}


@dataclass
class World:
    sites: list[Site]
    workers: list[Caller]  # the first SITES * WORKERS_PER_SITE of sites, the last of none
    site_of: dict[uuid.UUID, uuid.UUID | None]  # worker UUID: its site


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    # (kind, task, attempt, task's site) of claims not yet reported: what intruders aim at.
    in_flight: dict[tuple[str, str], tuple[int, uuid.UUID | None]] = field(default_factory=dict)
    claims: list[tuple[str, str, uuid.UUID]] = field(default_factory=list)
    refusals: Counter[tuple[str, int]] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


@pytest.fixture
def quiet() -> Iterator[None]:
    """A log line per status change and per refused request: 6,000 lines here."""
    loggers = [logging.getLogger(name) for name in ("orchestrator.tasks", "django.request")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    yield
    for logger, level in zip(loggers, levels):
        logger.setLevel(level)


def http_of(caller: Caller) -> APIClient:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Token {caller.token}")
    return http


def fill_queue(sites: list[Site], learnuplets: int = LEARNUPLETS, preduplets: int = PREDUPLETS) -> None:
    """The tasks, round robin over the sites and the platform in queue order, in bulk."""
    problem = ProblemFactory.create()
    algos = AlgoFactory.create_batch(ALGOS, problem=problem)
    owners: list[Site | None] = [*sites, None]
    start = timezone.now()

    def queued(i: int) -> Any:
        return start + timedelta(microseconds=i)

    Learnuplet.objects.bulk_create(
        Learnuplet(problem=problem, workflow=problem.workflow, train_data=[uuid.uuid4()],
                   test_data=problem.test_dataset, algo=algos[i % ALGOS], model_start=algos[i % ALGOS].pk,
                   rank=i // ALGOS, status=Status.TODO, queued_at=queued(i), site=owners[i % len(owners)])
        for i in range(learnuplets)
    )
    Preduplet.objects.bulk_create(
        Preduplet(problem=problem, workflow=problem.workflow, data=[uuid.uuid4()], model=uuid.uuid4(),
                  status=Status.TODO, queued_at=queued(i), site=owners[i % len(owners)])
        for i in range(preduplets)
    )


@pytest.fixture
def world(db: Any) -> World:
    sites = [SiteFactory.create(name=f"hospital-{i}") for i in range(SITES)]
    workers = [make_caller(f"gpu-{s.name}-{n}", Role.COMPUTE, site=s.name)
               for s in sites for n in range(WORKERS_PER_SITE)]
    workers.append(make_caller("gpu-platform", Role.COMPUTE))
    return World(sites, workers, {w.worker: w.client.site_id for w in workers})


def state(model: type[Learnuplet] | type[Preduplet], pk: str) -> tuple[Any, ...]:
    task = model.objects.get(pk=pk)
    return task.status, task.worker, task.attempt, task.lease_expires_at, TaskEvent.objects.filter(task=pk).count()


def intrude(http: APIClient, kind: str, pk: str, attempt: int, tally: Tally) -> None:
    """Another site's task: a named claim is 403; a heartbeat and a result with its current
    attempt are 409 (the claim is not this worker's)."""
    tries = [
        ("claim", http.post(f"{API}/{kind}/{pk}/claim/"), 403),
        ("heartbeat", http.post(f"{API}/{kind}/{pk}/heartbeat/", {"attempt": attempt}, format="json"), 409),
        ("result", http.post(f"{API}/{kind}/{pk}/result/", {"attempt": attempt, **RESULT[kind]}, format="json"),
         409),
    ]
    with tally.lock:
        for action, r, expected in tries:
            if r.status_code == expected:
                tally.refusals[(action, expected)] += 1
            else:
                tally.unexpected.append(f"{action} of {kind} {pk}: {r.status_code} {r.content!r}")


def test_cross_site_attempts_are_refused_and_change_nothing(world, quiet):
    """The same attempts on a quiet queue, so that 'nothing changed' is read row by row."""
    fill_queue(world.sites, 8, 8)
    a, b, nowhere = world.workers[0], world.workers[WORKERS_PER_SITE], world.workers[-1]
    for kind, model in KINDS.items():
        claimed = http_of(a).post(f"{API}/{kind}/claim/").json()
        assert claimed["site"] == str(world.sites[0].pk)
        todo = str(model.objects.filter(site=world.sites[0], status=Status.TODO).values_list("pk", flat=True)[0])
        for intruder in (b, nowhere):
            before = {pk: state(model, pk) for pk in (claimed["uuid"], todo)}
            tally = Tally()

            intrude(http_of(intruder), kind, claimed["uuid"], claimed["attempt"], tally)
            r = http_of(intruder).post(f"{API}/{kind}/{todo}/claim/")

            assert tally.unexpected == [] and sum(tally.refusals.values()) == 3
            assert r.status_code == 403 and "another site" in r.json()["detail"], r.content
            assert {pk: state(model, pk) for pk in before} == before


def test_workers_of_three_sites_and_the_platform_run_every_task_once_where_allowed(world, quiet):
    fill_queue(world.sites)
    tally = Tally()
    start = threading.Barrier(len(world.workers))

    def work(caller: Caller) -> None:
        own = caller.client.site_id
        http = http_of(caller)
        rng = random.Random(str(caller.worker))
        try:
            start.wait(timeout=60)
            for kind in KINDS:
                while True:
                    r = http.post(f"{API}/{kind}/claim/")
                    if r.status_code == 204:
                        break  # nothing is ever re-queued here: no more to claim
                    assert r.status_code == 200, r.content
                    task = r.json()
                    key = (kind, task["uuid"])
                    with tally.lock:
                        tally.claims.append((kind, task["uuid"], caller.worker))
                        tally.in_flight[key] = (task["attempt"], uuid.UUID(task["site"]) if task["site"] else None)
                        targets = [(k, pk, attempt) for (k, pk), (attempt, site) in tally.in_flight.items()
                                   if site is not None and site != own]
                    if targets and len(tally.claims) % INTRUDE_EVERY == 0:
                        intrude(http, *rng.choice(targets), tally)
                    done = http.post(f"{API}/{kind}/{task['uuid']}/result/",
                                     {"attempt": task["attempt"], **RESULT[kind]}, format="json")
                    assert done.status_code == 200, done.content
                    with tally.lock:
                        del tally.in_flight[key]
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            tally.errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(w,)) for w in world.workers]
    began, cpu = time.monotonic(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    elapsed, cpu = time.monotonic() - began, time.process_time() - cpu

    assert tally.errors == []
    assert tally.unexpected == []
    total = LEARNUPLETS + PREDUPLETS
    claimed = Counter((kind, pk) for kind, pk, _ in tally.claims)
    assert len(claimed) == total and set(claimed.values()) == {1}
    for model in KINDS.values():
        assert not model.objects.exclude(status=Status.DONE).exists()

    # The history says the same: one claim then one result per task, by one allowed worker.
    site_of_task = {str(pk): site for model in KINDS.values()
                    for pk, site in model.objects.values_list("pk", "site_id")}
    history: dict[str, list[tuple[str, str, uuid.UUID | None, int]]] = defaultdict(list)
    for task, from_status, to_status, worker, attempt in TaskEvent.objects.order_by("at", "pk").values_list(
            "task", "from_status", "to_status", "worker", "attempt"):
        history[str(task)].append((from_status, to_status, worker, attempt))
    assert set(history) == set(site_of_task)
    wrong = {pk: events for pk, events in history.items()
             if [e[:2] for e in events] != [(Status.TODO, Status.PENDING), (Status.PENDING, Status.DONE)]
             or events[0][2] != events[1][2] or [e[3] for e in events] != [1, 1]}
    assert wrong == {}
    trespass = {pk: world.site_of[events[0][2]] for pk, events in history.items()
                if site_of_task[pk] is not None and world.site_of[events[0][2]] != site_of_task[pk]}
    assert trespass == {}

    by_worker = Counter(worker for _, _, worker in tally.claims)
    platform_worker = world.workers[-1].worker
    assert all(by_worker[w.worker] > 0 for w in world.workers), by_worker
    assert all(site_of_task[pk] is None for kind, pk, w in tally.claims if w == platform_worker)
    assert {action for action, _ in tally.refusals} == {"claim", "heartbeat", "result"}
    print(f"site race: {total} tasks over {SITES} sites and the platform, {len(world.workers)} workers, "
          f"{elapsed:.1f} s ({cpu:.1f} s of this process's CPU; {2 * total / elapsed:.0f} claims and results/s); "
          f"claims per worker "
          f"{sorted(by_worker.values())}; cross-site attempts refused: {dict(tally.refusals)}")
