"""Worker killed (issue 9): the reference worker (`python -m compute`) is SIGKILLed while it
trains a learnuplet. After its short lease the task returns to `todo`, a second worker
process takes it (attempt 2) and finishes the chain; every step is recorded once and the
dead worker's attempt can no longer report."""

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
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone
from sklearn.datasets import load_iris

from learning.models import Learnuplet
from learning.services import leaderboard
from problems.models import Problem
from tasks.models import Status, TaskEvent
from tests.conftest import Caller
from tests.live import ROOT, wait_for

API = "/api/v1"
LEASE_SECONDS = 2
# About two seconds a rank on this machine: the worker is surely killed mid-training.
SLOW_ALGO = {"estimator": "MLPClassifier", "params": {"hidden_layer_sizes": [64], "random_state": 0},
             "epochs": 1000}

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def csv_bytes(X: np.ndarray, y: np.ndarray) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([f"x{i}" for i in range(X.shape[1])] + ["target"])
    writer.writerows(row + [int(label)] for row, label in zip(X.tolist(), y, strict=True))
    return out.getvalue().encode()


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path


def put(storage: Path, content: bytes) -> str:
    key = str(uuid.uuid4())
    (storage / key).write_bytes(content)
    return key


@pytest.fixture
def chain(uploader: Caller, storage: Path) -> str:
    """Two ranks of a slow algo on iris; returns the problem's UUID."""
    X, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    workflow = put(storage, json.dumps({"task": "classification", "metric": "accuracy", "target": "target",
                                        "classes": [0, 1, 2]}).encode())
    test = [put(storage, csv_bytes(X[100:], y[100:]))]
    train = [put(storage, csv_bytes(X[i:i + 50], y[i:i + 50])) for i in range(0, 100, 50)]
    problem: str = uploader.post(f"{API}/problems/", {"workflow": workflow, "test_dataset": test,
                                                "size_train_dataset": 1}).json()["uuid"]
    assert uploader.post(f"{API}/data/", {"uuid": train, "problems": [problem]}).status_code == 201
    algo = put(storage, json.dumps(SLOW_ALGO).encode())
    r = uploader.post(f"{API}/algos/", {"uuid": algo, "problem": problem, "name": "mlp"})
    assert r.json()["new_learnuplets"] == 2
    return problem


@pytest.fixture
def start_worker() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `python -m compute` as a deployment would; every one is killed at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(url: str, token: str, storage: Path, *options: str) -> subprocess.Popen[str]:
        env = {**os.environ, "ORCHESTRATOR_URL": url, "ORCHESTRATOR_TOKEN": token,
               "COMPUTE_STORAGE": str(storage)}
        process = subprocess.Popen([sys.executable, "-m", "compute", "--idle-max", "0.2", *options],
                                   cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stderr is not None
        for line in process.stderr:
            if "worker started" in line:
                threading.Thread(target=process.stderr.read, daemon=True).start()  # never a full pipe
                return process
        raise AssertionError(f"the worker did not start: exit code {process.wait()}")

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_it_finishes_the_chain_of_a_killed_worker_and_counts_each_step_once(
    live_server, settings, worker, other_worker, chain, storage, start_worker
):
    settings.ORCHESTRATOR_LEASE_SECONDS = LEASE_SECONDS
    doomed = start_worker(live_server.url, worker.token, storage)
    first = wait_for(lambda: Learnuplet.objects.filter(rank=0, status=Status.PENDING).first(),
                     timeout=30, interval=0.05, what="the first worker's claim")
    time.sleep(0.5)  # into the training, with a heartbeat or two sent
    doomed.send_signal(signal.SIGKILL)
    assert doomed.wait(timeout=10) == -signal.SIGKILL
    assert Learnuplet.objects.get(pk=first.pk).status == Status.PENDING

    # The dead worker's lease runs out on its own; the next claim gives the task back.
    def lease_over() -> bool:
        lease = Learnuplet.objects.get(pk=first.pk).lease_expires_at
        return lease is not None and lease < timezone.now()

    wait_for(lease_over, timeout=LEASE_SECONDS + 5, what="the end of the lease")
    survivor = start_worker(live_server.url, other_worker.token, storage, "--once")
    assert survivor.wait(timeout=120) == 0

    rank0, rank1 = Learnuplet.objects.order_by("rank")
    assert (rank0.status, rank0.attempt, rank0.worker) == (Status.DONE, 2, other_worker.worker)
    assert (rank1.status, rank1.model_start) == (Status.DONE, rank0.model_end)
    history = list(TaskEvent.objects.filter(task=rank0.pk).values_list("from_status", "to_status", "attempt",
                                                                        "worker", "reason"))
    assert history == [
        ("", Status.TODO, 0, None, "generated"),
        (Status.TODO, Status.PENDING, 1, worker.worker, ""),
        (Status.PENDING, Status.TODO, 1, None, "lease expired"),
        (Status.TODO, Status.PENDING, 2, other_worker.worker, ""),
        (Status.PENDING, Status.DONE, 2, other_worker.worker, ""),
    ]
    (row,) = leaderboard(Problem.objects.get(pk=chain))
    assert (row.done, row.failed, row.total) == (2, 0, 2)

    # Had the dead worker lived to report, its attempt would be refused and change nothing.
    stale = worker.post(f"{API}/learnuplets/{rank0.pk}/result/", {
        "attempt": 1, "status": "done", "perf": 0.0,
        "train_perf": {str(d): 0.0 for d in rank0.train_data}, "test_perf": {}})
    assert stale.status_code == 409
    assert Learnuplet.objects.get(pk=rank0.pk).perf == rank0.perf
    assert TaskEvent.objects.filter(task=rank0.pk).count() == len(history)
