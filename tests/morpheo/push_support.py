"""Helpers of the push tests: tasks made ready as the Orchestrator makes them, a dispatcher
aimed at the stand-in Compute (the `compute` fixture, tests/morpheo/conftest.py)."""

import threading
import uuid
from typing import Any

from django.db import connection, transaction

from learning.models import Learnuplet
from morpheo.dispatcher import Dispatcher
from tasks import queue
from tests.conftest import Caller
from tests.factories import LearnupletFactory, ProblemFactory
from tests.morpheo.compute_standin import StandInCompute

API = "/api/v1"


def dispatcher(compute: StandInCompute, **options: Any) -> Dispatcher:
    settings = {"timeout": 5.0, "batch": 20, "poll": 0.2, "retry_base": 0.2, "retry_max": 0.5, **options}
    return Dispatcher(url=compute.url, **settings)


def ready_learnuplets(count: int, *, site: Any = None) -> list[uuid.UUID]:
    """`count` todo learnuplets of one problem, made in one transaction as generation
    makes them: rows, then one event each (record_created); in that order of readiness."""
    problem = ProblemFactory.create()
    with transaction.atomic():
        tasks = [LearnupletFactory.create(problem=problem, algo__problem=problem, rank=0, site=site)
                 for _ in range(count)]
        queue.record_created(Learnuplet, [t.pk for t in tasks], reason="test")
    return [t.pk for t in tasks]


def register_chain(uploader: Caller, *, ranks: int = 3, name: str = "sgd") -> tuple[str, str]:
    """A problem, `ranks` mini-batches of data and an algo through the v1 API: rank 0 todo,
    the later ranks waiting. Returns the problem's and the algo's UUIDs."""
    r = uploader.post(f"{API}/problems/", {"workflow": str(uuid.uuid4()), "test_dataset": [str(uuid.uuid4())],
                                           "size_train_dataset": 1})
    assert r.status_code == 201, r.json()
    problem = r.json()["uuid"]
    r = uploader.post(f"{API}/data/", {"uuid": [str(uuid.uuid4()) for _ in range(ranks)], "problems": [problem]})
    assert r.status_code == 201, r.json()
    r = uploader.post(f"{API}/algos/", {"problem": problem, "name": name})
    assert r.status_code == 201 and r.json()["new_learnuplets"] == ranks, r.json()
    return problem, r.json()["uuid"]


class Running:
    """A dispatcher's run_forever in a thread of its own (its own database connection)."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.dispatcher.run_forever()
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc
        finally:
            connection.close()

    def __enter__(self) -> "Running":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.dispatcher.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the dispatcher did not stop"
        if self.error is not None:
            raise self.error
