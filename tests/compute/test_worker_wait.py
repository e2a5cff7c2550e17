"""An idle reference worker waits on its learnuplet claim (`?wait=`, issue 17) instead of
polling, and still backs off against a server that answers at once."""

import threading
import time
from typing import Any

import pytest
from django.db import transaction

from compute.api import LEARNUPLET, PREDUPLET, Orchestrator, Response, new_key
from compute.storage import DirectoryStorage
from compute.worker import Worker
from learning.lifecycle import release_next
from tasks.models import Status
from tasks.wakeups import WAKEUPS
from tests.factories import LearnupletFactory


class Empty(Orchestrator):
    """Answers every claim 204, after `delay` seconds for a waiting one (a server that
    waits), and records each claim's kind, wait and interrupt."""

    def __init__(self, delay: float = 0) -> None:
        super().__init__("http://orchestrator.invalid", "token")
        self.delay = delay
        self.claims: list[tuple[str, float]] = []
        self.interrupts: set[str | None] = set()

    def claim(self, kind: str, *, key: str | None = None, wait: float = 0, interrupt: str | None = None
              ) -> Response | None:
        self.claims.append((kind, wait))
        if wait:
            self.interrupts.add(interrupt)
            time.sleep(min(wait, self.delay))
        return None


def waiting_on_the_server(timeout: float = 10) -> None:
    """A claim waits in this process's server (the live server's thread)."""
    deadline = time.monotonic() + timeout
    while WAKEUPS.waiting()[0] < 1:
        assert time.monotonic() < deadline, "the claim is not waiting"
        time.sleep(0.02)


def run_for(worker: Worker, seconds: float) -> float:
    """Run the worker for `seconds`, then stop it; how long run() took to return after."""
    runner = threading.Thread(target=worker.run)
    runner.start()
    time.sleep(seconds)
    stopped = time.monotonic()
    worker.stop.set()
    runner.join(10)
    assert not runner.is_alive()
    return time.monotonic() - stopped


def test_an_idle_worker_waits_on_learnuplets_and_asks_again_at_once(tmp_path):
    client = Empty(delay=0.3)  # the server waits its 0.3 s, then answers 204
    run_for(Worker(client, DirectoryStorage(tmp_path), wait=0.3, idle_max=10), 1.4)

    # Waits interrupted by preduplets, 0.3 s less up to 10% of jitter; no preduplet claim
    # after a whole wait (nothing interrupted it).
    assert {kind for kind, _ in client.claims} == {LEARNUPLET} and client.interrupts == {PREDUPLET}
    assert all(0.27 <= wait <= 0.3 for _, wait in client.claims), client.claims
    # No back-off between waits: about one round per 0.3 s.
    assert 3 <= len(client.claims) <= 6


def test_a_server_that_answers_at_once_is_polled_with_a_back_off(tmp_path):
    client = Empty(delay=0)  # ignores ?wait=
    run_for(Worker(client, DirectoryStorage(tmp_path), wait=30, idle_max=0.4), 2)

    rounds = sum(kind == LEARNUPLET for kind, _ in client.claims)
    assert 2 <= rounds <= 12, rounds  # 0.1 to 0.4 s apart, not a spin
    # A waiting claim answered before its time may have been interrupted: a preduplet claim follows.
    assert sum(kind == PREDUPLET for kind, _ in client.claims) == rounds


def test_a_draining_worker_does_not_wait(tmp_path):
    client = Empty(delay=5)
    started = time.monotonic()
    assert Worker(client, DirectoryStorage(tmp_path), once=True, wait=30).run() == 0
    assert client.claims == [(PREDUPLET, 0), (LEARNUPLET, 0)]
    assert time.monotonic() - started < 1


def test_a_stopped_worker_leaves_without_waiting_for_its_waiting_claim(tmp_path):
    client = Empty(delay=30)
    assert run_for(Worker(client, DirectoryStorage(tmp_path), wait=30), 0.3) < 1.5


@pytest.mark.django_db(transaction=True)
def test_a_waiting_claim_of_the_worker_gets_the_task_released_meanwhile(live_server, worker):
    first = LearnupletFactory.create(rank=0, status=Status.DONE, perf=0.5)
    task = LearnupletFactory.create(algo=first.algo, rank=1, status=Status.WAITING, model_start=None,
                                    queued_at=None)
    client = Orchestrator(live_server.url, worker.token)
    answers: list[Any] = []
    claimer = threading.Thread(target=lambda: answers.append(client.claim(LEARNUPLET, key=new_key(), wait=10)))
    claimer.start()
    waiting_on_the_server()

    released = time.monotonic()
    with transaction.atomic():
        release_next([first])
    claimer.join(10)

    assert answers and answers[0] is not None and answers[0].body["uuid"] == str(task.pk)
    assert time.monotonic() - released < 2


class Interrupted(Empty):
    """A server that waits, with a preduplet claimable after `after` seconds: the waiting
    learnuplet claim is answered then, early, and the preduplet claim gets it."""

    def __init__(self, after: float) -> None:
        super().__init__(delay=30)
        self.ready_at = time.monotonic() + after

    def claim(self, kind: str, *, key: str | None = None, wait: float = 0, interrupt: str | None = None
              ) -> Response | None:
        if kind == PREDUPLET and time.monotonic() >= self.ready_at:
            self.claims.append((kind, wait))
            return Response(200, {"uuid": "p", "attempt": 1}, {})
        if wait and interrupt == PREDUPLET:
            self.claims.append((kind, wait))
            time.sleep(max(0.0, min(wait, self.ready_at - time.monotonic())))
            return None
        return super().claim(kind, key=key, wait=wait, interrupt=interrupt)


def test_a_waiting_claim_interrupted_by_a_preduplet_is_followed_by_its_claim(tmp_path):
    client = Interrupted(after=0.3)
    worker = Worker(client, DirectoryStorage(tmp_path), wait=30)
    started = time.monotonic()

    claimed = worker.claim_one(wait=30)

    assert claimed is not None and claimed[0] == PREDUPLET
    assert [kind for kind, _ in client.claims] == [LEARNUPLET, PREDUPLET]
    assert time.monotonic() - started < 1


@pytest.mark.django_db(transaction=True)
def test_a_prediction_requested_while_the_worker_waits_reaches_it_at_once(live_server, worker):
    from predictions.models import Preduplet
    from tasks import queue
    from tests.factories import PredupletFactory

    client = Orchestrator(live_server.url, worker.token)
    answers: list[Any] = []
    claimer = threading.Thread(target=lambda: answers.append(
        Worker(client, DirectoryStorage("/nonexistent"), wait=30).claim_one(wait=30)))
    claimer.start()
    waiting_on_the_server()

    requested = time.monotonic()
    with transaction.atomic():
        preduplet = PredupletFactory.create()
        queue.record_created(Preduplet, [preduplet.pk], reason="prediction requested")
    claimer.join(10)

    assert answers and answers[0] is not None
    kind, answer = answers[0]
    assert kind == PREDUPLET and answer.body["uuid"] == str(preduplet.pk)
    assert time.monotonic() - requested < 1
