"""The 2017 Morpheo platform end to end (issue 18): a 2017 client registers through the root
routes; the dispatcher pushes each task made ready to the stand-in Compute API, which
queues it for a 2017 Go worker; the worker does what MorpheoOrg/morpheo-compute's
worker/compute.go did with each task it took from its queue (`HandleLearn`, `HandlePred`):
`POST /worker/<type>/<uuid>` with the document's `worker` (a todo task's is null: the Go
struct's zero UUID), then `/learndone` or `/preddone` with a Go client's body. The chain
trains rank by rank, each rank pushed when the previous one ends, and the prediction asked
on data registered for no problem is pushed, run and reported."""

import queue
import threading
import uuid
from typing import Any

import pytest

from accounts.services import client_create
from learning.models import Learnuplet
from predictions.models import Preduplet
from tasks.models import Status
from tests.live import Http, wait_for
from tests.morpheo.go_structs import NIL, decode_preduplet
from tests.morpheo.push_support import Running, dispatcher
from tests.morpheo_support import basic_header

pytestmark = pytest.mark.django_db(transaction=True)


class GoWorker:
    """The 2017 Go Compute worker, fed by the Compute API's queue (the stand-in's 202s)."""

    def __init__(self, orchestrator: Http) -> None:
        self.orchestrator = orchestrator
        self.tasks: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self.answers: list[tuple[str, int, Any]] = []
        self.stored: dict[uuid.UUID, uuid.UUID] = {}  # preduplet → its prediction on Storage
        self.thread = threading.Thread(target=self._run, daemon=True)

    def take(self, route: str, task: dict[str, Any]) -> None:
        self.tasks.put((route, task))

    def _post(self, path: str, body: dict[str, Any]) -> None:
        answer = self.orchestrator.post(path, body)
        self.answers.append((path, answer.status, answer.body))

    def _run(self) -> None:
        while (item := self.tasks.get()) is not None:
            route, task = item
            kind = "learnuplet" if route == "/learn" else "preduplet"
            # UpdateUpletStatus(type, pending, task.ID, task.WorkerID)
            self._post(f"/worker/{kind}/{task['uuid']}", {"worker": str(task["worker"])})
            if kind == "learnuplet":
                perf = 0.5 + task["rank"] / 10  # each rank better: the next starts from it
                # PostLearnResult: client.Perfuplet, the performance.json maps with status done.
                self._post(f"/learndone/{task['uuid']}", {
                    "status": "done", "perf": perf,
                    "train_perf": {str(d): perf for d in task["train_data"]},
                    "test_perf": {str(d): perf for d in task["test_data"]},
                })
            else:
                stored = uuid.uuid4()
                self.stored[task["uuid"]] = stored
                # PostPredResult: client.Preddone{Status, PredictionStorageID}.
                self._post(f"/preddone/{task['uuid']}", {"status": "done", "prediction_storage_uuid": str(stored)})

    def __enter__(self) -> "GoWorker":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.tasks.put(None)
        self.thread.join(30)


def test_the_2017_platform_trains_a_chain_and_predicts_through_the_push(live_server, compute):
    client_create(name="analytics", role="client", password="analytics-pw-2017")
    client_create(name="compute", role="compute", password="compute-pw-2017")
    analytics = Http(live_server.url, basic_header("analytics", "analytics-pw-2017"))
    worker = GoWorker(Http(live_server.url, basic_header("compute", "compute-pw-2017")))
    compute.on_task = worker.take

    problem, algo, test_data = str(uuid.uuid4()), str(uuid.uuid4()), [str(uuid.uuid4())]
    with worker, Running(dispatcher(compute)):
        assert analytics.post("/problem", {"uuid": problem, "workflow": str(uuid.uuid4()),
                                           "test_dataset": test_data, "size_train_dataset": 1}).status == 201
        train = [str(uuid.uuid4()) for _ in range(3)]
        assert analytics.post("/data", {"uuid": train, "problems": [problem]}).status == 201
        r = analytics.post("/algo", {"uuid": algo, "problem": problem, "name": "sgd"})
        assert (r.status, r.body["new_learnuplets"]) == (201, 3), r.text

        chain = Learnuplet.objects.filter(algo_id=uuid.UUID(algo))
        wait_for(lambda: chain.filter(status=Status.DONE).count() == 3, timeout=60, what="the chain trained")

        # Data to predict on, registered for no problem, as 2017 allowed.
        target = str(uuid.uuid4())
        r = analytics.post("/data", {"uuid": target, "problems": []})
        assert (r.status, r.body["new_learnuplets"]) == (201, 0), r.text
        r = analytics.post("/prediction", {"data": target, "problem": problem})
        assert r.status == 201 and r.body["data"] == target, r.text
        prediction = uuid.UUID(r.body["uuid"])
        wait_for(lambda: Preduplet.objects.filter(pk=prediction, status=Status.DONE).exists(), timeout=60,
                 what="the prediction reported")

    ranks = list(chain.order_by("rank"))
    assert [lu.rank for lu in ranks] == [0, 1, 2] and all(lu.worker == NIL for lu in ranks)
    # Each rank started from the best model so far: the one before it (each did better).
    assert [lu.model_start for lu in ranks[1:]] == [lu.model_end for lu in ranks[:-1]]
    assert compute.accepted("/learn") == [lu.pk for lu in ranks]  # each once, rank by rank
    assert compute.accepted("/pred") == [prediction]
    assert compute.errors() == []
    assert all(status == 200 for _, status, _ in worker.answers), worker.answers

    # The client reads the prediction back as 2017 made it: one UUID where it holds one.
    document = analytics.get(f"/preduplet/{prediction}")
    assert document.body["prediction_storage_uuid"] == str(worker.stored[prediction])
    assert decode_preduplet(document.text.encode())["data"] == uuid.UUID(target)
