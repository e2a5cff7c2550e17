"""The compute worker against a live Orchestrator: a real server on a free port, real HTTP."""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler

from compute import ml
from compute.api import LEARNUPLET, Orchestrator
from compute.storage import DirectoryStorage
from compute.worker import Worker
from learning.models import Learnuplet
from predictions.models import Preduplet
from tasks.models import Status, TaskEvent
from tests.conftest import Caller

API = "/api/v1"
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


def csv_bytes(X: np.ndarray, y: np.ndarray | None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([f"x{i}" for i in range(X.shape[1])] + (["target"] if y is not None else []))
    for i, row in enumerate(X.tolist()):
        writer.writerow(row + ([int(y[i])] if y is not None else []))
    return out.getvalue().encode()


@dataclass
class Scenario:
    """A problem on iris: four training files, one secret test file, a file to predict."""

    storage: DirectoryStorage
    uploader: Caller
    problem: str
    train: list[str]
    test: list[str]
    unlabelled: str

    def put(self, content: bytes | dict[str, Any]) -> str:
        key = uuid.uuid4()
        self.storage.write(key, json.dumps(content).encode() if isinstance(content, dict) else content)
        return str(key)

    def algo(self, spec: dict[str, Any]) -> str:
        key = self.put(spec)
        r = self.uploader.post(f"{API}/algos/", {"uuid": key, "problem": self.problem, "name": spec["estimator"]})
        assert r.status_code == 201, r.json()
        return key

    def register(self, data: list[str]) -> None:
        r = self.uploader.post(f"{API}/data/", {"uuid": data, "problems": [self.problem]})
        assert r.status_code == 201, r.json()


@pytest.fixture
def scenario(uploader, tmp_path) -> Scenario:
    storage = DirectoryStorage(tmp_path)
    X, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = StandardScaler().fit_transform(X)[order], y[order]
    s = Scenario(storage=storage, uploader=uploader, problem="", train=[], test=[], unlabelled="")
    workflow = s.put({"task": "classification", "metric": "accuracy", "target": "target", "classes": [0, 1, 2]})
    s.train = [s.put(csv_bytes(X[i:i + 25], y[i:i + 25])) for i in range(0, 100, 25)]
    s.test = [s.put(csv_bytes(X[100:130], y[100:130]))]
    s.unlabelled = s.put(csv_bytes(X[130:], None))
    r = uploader.post(f"{API}/problems/", {"workflow": workflow, "test_dataset": s.test, "size_train_dataset": 2})
    assert r.status_code == 201, r.json()
    s.problem = r.json()["uuid"]
    s.register(s.train)
    return s


def run_worker(url: str, token: str, storage: DirectoryStorage, **options: Any) -> Worker:
    worker = Worker(Orchestrator(url, token), storage, once=True, idle_max=0.1, **options)
    assert worker.run() == 0
    return worker


def test_it_trains_a_chain_and_reports_perfs(live_server, worker, scenario):
    scenario.algo({"estimator": "SGDClassifier", "params": {"random_state": 0}})
    run_worker(live_server.url, worker.token, scenario.storage)
    first, second = Learnuplet.objects.order_by("rank")
    assert (first.status, second.status) == (Status.DONE, Status.DONE)
    assert second.model_start == first.model_end
    assert set(second.train_perf) == {str(d) for d in second.train_data}
    assert set(second.test_perf) == set(scenario.test)
    assert second.perf is not None
    assert second.perf == second.test_perf[scenario.test[0]] and second.perf > 0.5
    assert ml.load_model(scenario.storage.read(second.model_end), what="model").coef_.shape == (3, 4)


def test_it_writes_predictions_with_the_best_model(live_server, worker, scenario):
    scenario.algo({"estimator": "GaussianNB"})
    run_worker(live_server.url, worker.token, scenario.storage)
    r = scenario.uploader.post(f"{API}/preduplets/", {"problem": scenario.problem, "data": scenario.unlabelled})
    assert r.status_code == 201, r.json()
    run_worker(live_server.url, worker.token, scenario.storage)
    preduplet = Preduplet.objects.get()
    assert preduplet.status == Status.DONE
    (key,) = preduplet.prediction_storage_uuid
    lines = scenario.storage.read(key).decode().splitlines()
    assert lines[0] == "prediction" and len(lines) == 21


def test_it_reports_a_failing_algo_with_its_error(live_server, worker, scenario):
    scenario.algo({"estimator": "SGDClassifier", "params": {"alpha": -1}})
    run_worker(live_server.url, worker.token, scenario.storage)
    failed = Learnuplet.objects.get(rank=0)
    assert failed.status == Status.FAILED
    assert "'alpha' parameter of SGDClassifier" in failed.last_error


def test_it_reports_a_missing_data_file(live_server, worker, scenario):
    scenario.algo({"estimator": "GaussianNB"})
    scenario.storage.root.joinpath(scenario.train[0]).unlink()
    run_worker(live_server.url, worker.token, scenario.storage)
    failed = Learnuplet.objects.get(rank=0)
    assert failed.status == Status.FAILED
    assert failed.last_error == f"train data {scenario.train[0]} is missing from storage"


def test_it_goes_on_after_a_failed_rank(live_server, worker, scenario):
    scenario.algo({"estimator": "GaussianNB"})
    scenario.storage.root.joinpath(scenario.train[0]).unlink()
    run_worker(live_server.url, worker.token, scenario.storage)
    assert Learnuplet.objects.get(rank=1).status == Status.DONE


def claim_and_lose(live_server, worker, other_worker, scenario, settings):
    """`worker` claims rank 0; its lease lapses; `other_worker` takes it over and finishes it."""
    settings.ORCHESTRATOR_LEASE_SECONDS = 1
    stale = Orchestrator(live_server.url, worker.token)
    claim = stale.claim(LEARNUPLET)
    time.sleep(1.2)
    run_worker(live_server.url, other_worker.token, scenario.storage)
    assert Learnuplet.objects.get(rank=0).attempt == 2
    return claim


def test_it_abandons_a_task_whose_lease_was_lost(live_server, worker, other_worker, scenario, settings):
    scenario.algo({"estimator": "GaussianNB"})
    claim = claim_and_lose(live_server, worker, other_worker, scenario, settings)
    model_file = scenario.storage.root / str(Learnuplet.objects.get(rank=0).model_end)
    model_file.unlink()
    stale = Worker(Orchestrator(live_server.url, worker.token), scenario.storage, heartbeat_seconds=60)
    assert stale.process(LEARNUPLET, claim) == "lost"
    # The task's current holder keeps its result, and the stale worker wrote no model over it.
    task = Learnuplet.objects.get(rank=0)
    assert (task.status, task.worker) == (Status.DONE, other_worker.worker)
    assert not model_file.exists()


def test_it_survives_a_refused_report(live_server, worker, other_worker, scenario, settings):
    # A failing task writes nothing, so its stale worker only learns of the loss from the 409.
    scenario.algo({"estimator": "SGDClassifier", "params": {"alpha": -1}})
    claim = claim_and_lose(live_server, worker, other_worker, scenario, settings)
    stale = Worker(Orchestrator(live_server.url, worker.token), scenario.storage, heartbeat_seconds=60)
    assert stale.process(LEARNUPLET, claim) == "lost"
    assert Learnuplet.objects.get(rank=0).worker == other_worker.worker


def test_it_gives_up_draining_an_unreachable_orchestrator(tmp_path):
    worker = Worker(Orchestrator("http://127.0.0.1:9", "token", timeout=1), DirectoryStorage(tmp_path),
                    once=True, idle_max=0.05)
    assert worker.run() == 1


def test_it_stops_on_a_token_that_is_not_a_compute_one(live_server, uploader, tmp_path):
    worker = Worker(Orchestrator(live_server.url, uploader.token), DirectoryStorage(tmp_path), once=True)
    assert worker.run() == 2


def test_it_keeps_the_lease_of_a_long_task_alive(live_server, worker, scenario, settings):
    settings.ORCHESTRATOR_LEASE_SECONDS = 1
    # About two seconds a rank: the lease would lapse twice over without heartbeats.
    scenario.algo({"estimator": "MLPClassifier", "params": {"hidden_layer_sizes": [64], "random_state": 0},
                   "epochs": 1000})
    polling = Worker(Orchestrator(live_server.url, worker.token), scenario.storage, concurrency=2, idle_max=0.1)
    runner = threading.Thread(target=polling.run)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while Learnuplet.objects.exclude(status=Status.DONE).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        polling.stop.set()
        runner.join()
    # The idle thread's claims expire lapsed leases: none lapsed, so no rank ran twice.
    assert list(Learnuplet.objects.values_list("status", "attempt")) == [(Status.DONE, 1)] * 2


@pytest.fixture
def start_cli():
    """Start `python -m compute` configured by its environment variables, as a deployment would."""
    started: list[subprocess.Popen[str]] = []

    def start(url: str, token: str, storage: DirectoryStorage) -> subprocess.Popen[str]:
        env = {**os.environ, "ORCHESTRATOR_URL": url, "ORCHESTRATOR_TOKEN": token,
               "COMPUTE_STORAGE": str(storage.root)}
        process = subprocess.Popen([sys.executable, "-m", "compute", "--idle-max", "0.2"], cwd=REPO,
                                   env=env, stderr=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stderr is not None
        for line in process.stderr:
            if "worker started" in line:
                # Keep reading its log, so that a full pipe never blocks it.
                threading.Thread(target=process.stderr.read, daemon=True).start()
                return process
        raise AssertionError(f"the worker did not start: exit code {process.wait()}")

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_it_exits_cleanly_on_sigterm_when_idle(live_server, worker, tmp_path, start_cli):
    process = start_cli(live_server.url, worker.token, DirectoryStorage(tmp_path))
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_it_finishes_its_running_task_on_sigterm(live_server, worker, scenario, start_cli):
    scenario.algo({"estimator": "MLPClassifier", "params": {"hidden_layer_sizes": [64], "random_state": 0},
                   "epochs": 1000})
    process = start_cli(live_server.url, worker.token, scenario.storage)
    deadline = time.monotonic() + 30
    while not Learnuplet.objects.filter(rank=0, status=Status.PENDING).exists():
        assert time.monotonic() < deadline, "the worker claimed nothing"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert list(Learnuplet.objects.order_by("rank").values_list("status", flat=True)) == [Status.DONE, Status.TODO]


class FlakyStorage(DirectoryStorage):
    """A storage whose reads fail like an unreachable mount (an OSError), `failures` times."""

    def __init__(self, root: Path, failures: int) -> None:
        super().__init__(root)
        self.failures = failures

    def read(self, key: uuid.UUID) -> bytes:
        if self.failures > 0:
            self.failures -= 1
            raise OSError(5, "Input/output error")
        return super().read(key)


def test_a_storage_fault_is_reported_as_retryable_and_the_task_comes_back(live_server, worker, scenario):
    scenario.algo({"estimator": "GaussianNB"})
    flaky = FlakyStorage(scenario.storage.root, failures=1)

    run_worker(live_server.url, worker.token, flaky)

    first = Learnuplet.objects.get(rank=0)
    # Failed once with retry (storage), back to todo without back-off in the tests, done on attempt 2.
    assert (first.status, first.attempt, first.error_kind) == (Status.DONE, 2, "worker")
    events = list(TaskEvent.objects.filter(task=first.pk).order_by("id").values_list("to_status", "reason"))
    assert [status for status, _ in events] == ["todo", "pending", "todo", "pending", "done"]
    assert events[2][1].startswith("retry: cannot read workflow")


def test_a_bad_algorithm_is_not_retried(live_server, worker, scenario):
    scenario.algo({"estimator": "SGDClassifier", "params": {"alpha": -1}})

    run_worker(live_server.url, worker.token, scenario.storage)

    failed = Learnuplet.objects.get(rank=0)
    assert (failed.status, failed.attempt, failed.error_kind) == (Status.FAILED, 1, "worker")


def test_it_stops_a_canceled_tasks_work_at_its_next_heartbeat(live_server, worker, scenario):
    # About two seconds a rank; the task is canceled as soon as it runs.
    scenario.algo({"estimator": "MLPClassifier", "params": {"hidden_layer_sizes": [64], "random_state": 0},
                   "epochs": 1000})
    client = Orchestrator(live_server.url, worker.token)
    claim = client.claim(LEARNUPLET)
    assert claim is not None
    canceller = threading.Timer(0.3, lambda: scenario.uploader.post(
        f"{API}/learnuplets/{claim.body['uuid']}/cancel/", {"reason": "not wanted"}))
    canceller.start()
    started = time.monotonic()

    outcome = Worker(client, scenario.storage, heartbeat_seconds=0.2).process(LEARNUPLET, claim)

    canceller.join()
    assert outcome == "stopped"
    assert time.monotonic() - started < 1.5  # stopped between two passes, not after the thousand
    task = Learnuplet.objects.get(rank=0)
    assert (task.status, task.error_kind) == (Status.CANCELED, "canceled")
    assert not (scenario.storage.root / str(task.model_end)).exists()
