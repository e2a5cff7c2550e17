"""The demo, step by step, through the v1 HTTP API like any client and worker."""

import contextlib
import csv
import io
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from accounts.models import Role
from accounts.services import client_create
from compute.api import Orchestrator
from compute.storage import DirectoryStorage
from demo.dataset import DemoFiles, write_demo_files
from demo.processes import compute_workers, orchestrator_server

WORKERS = 2
FINISHED = ("done", "failed")


@dataclass
class Demo:
    directory: Path
    say: Callable[[str], None]
    url: str | None = None
    timeout: float = 100.0

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        self.storage = DirectoryStorage(self.directory / "storage")
        self.logs = self.directory / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def step(self, text: str) -> None:
        self.say(f"[{time.monotonic() - self.started:5.1f}s] {text}")

    def run(self) -> float:
        with contextlib.ExitStack() as stack:
            url = self.url
            if url is None:
                url = stack.enter_context(orchestrator_server(self.logs / "server.log"))
                self.step(f"Orchestrator started at {url} (log: {self.logs / 'server.log'})")
            suffix = uuid.uuid4().hex[:8]
            _, client_token = client_create(name=f"demo-client-{suffix}", role=Role.CLIENT)
            _, compute_token = client_create(name=f"demo-compute-{suffix}", role=Role.COMPUTE)
            self.step(f"accounts demo-client-{suffix} (client) and demo-compute-{suffix} (compute)")
            # Started first: they load scikit-learn while the data are written and registered.
            workers = stack.enter_context(compute_workers(
                WORKERS, url=url, token=compute_token, storage=self.storage.root, logs=self.logs))
            self.step(f"{WORKERS} compute workers started (logs: {', '.join(map(str, workers))})")
            client = Orchestrator(url, client_token)
            files = write_demo_files(self.storage)
            self.step(f"breast cancer data set written to {self.storage.root}: {len(files.train)} "
                      f"training files, {len(files.test)} secret test files, 1 file to predict")
            problem = self.register(client, files)
            self.wait_for_learnuplets(client, problem)
            half = len(files.train) // 2
            created = client.post("data/", {"uuid": [str(d) for d in files.train[half:]],
                                            "problems": [problem]})["new_learnuplets"]
            self.step(f"second upload: {len(files.train) - half} training files, {created} new learnuplets")
            self.wait_for_learnuplets(client, problem)
            self.show_results(client, problem)
            self.predict(client, problem, files)
        elapsed = time.monotonic() - self.started
        self.step(f"demo finished in {elapsed:.1f}s; files in {self.directory}")
        return elapsed

    def register(self, client: Orchestrator, files: DemoFiles) -> str:
        problem: str = client.post("problems/", {
            "workflow": str(files.workflow), "test_dataset": [str(t) for t in files.test],
            "size_train_dataset": 1,
        })["uuid"]
        self.step(f"problem {problem}: accuracy on {len(files.test)} secret test files")
        for name, algo in files.algos:
            client.post("algos/", {"uuid": str(algo), "problem": problem, "name": name})
            self.step(f"algo {algo}: {name}")
        half = len(files.train) // 2
        created = client.post("data/", {"uuid": [str(d) for d in files.train[:half]],
                                        "problems": [problem]})["new_learnuplets"]
        self.step(f"first upload: {half} training files, {created} learnuplets")
        return problem

    def learnuplets(self, client: Orchestrator, problem: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = client.get("learnuplets/", problem=problem, page_size=1000)["results"]
        return found

    def wait_for_learnuplets(self, client: Orchestrator, problem: str) -> None:
        """Print the queue's state whenever it changes, until every learnuplet has ended."""
        last = ""
        deadline = time.monotonic() + self.timeout
        while True:
            counts = Counter(lu["status"] for lu in self.learnuplets(client, problem))
            line = ", ".join(f"{counts[s]} {s}" for s in ("done", "pending", "todo", "waiting", "failed")
                             if counts[s])
            if line != last:
                self.step(f"learnuplets: {line}")
                last = line
            if all(s in FINISHED for s in counts.elements()):
                return
            if time.monotonic() > deadline:
                raise CommandError(f"the learnuplets did not finish in {self.timeout:.0f}s; "
                                   f"see the workers' logs in {self.logs}")
            time.sleep(0.25)

    def show_results(self, client: Orchestrator, problem: str) -> None:
        curves: dict[str, list[str]] = {}
        for lu in sorted(self.learnuplets(client, problem), key=lambda lu: lu["rank"]):
            curves.setdefault(lu["algo"], []).append(
                f"{lu['perf']:.3f}" if lu["perf"] is not None else lu["status"])
        board = client.get(f"problems/{problem}/leaderboard/")
        self.step("leaderboard (accuracy on the secret test data):")
        self.say(f"    {'#':>2}  {'algo':<26} {'best':>6}  {'rank':>4}  {'done':>4}  failed")
        for place, row in enumerate(board, start=1):
            perf = f"{row['perf']:.3f}" if row["perf"] is not None else "-"
            self.say(f"    {place:>2}  {row['name']:<26} {perf:>6}  {row['rank'] if row['rank'] is not None else '-':>4}"
                     f"  {row['done']:>4}  {row['failed']}")
        self.say("    perf by rank (the learning curve):")
        for row in board:
            self.say(f"      {row['name']:<26} {' '.join(curves.get(row['algo'], []))}")

    def predict(self, client: Orchestrator, problem: str, files: DemoFiles) -> None:
        preduplet = client.post("preduplets/", {"problem": problem, "data": str(files.to_predict)})
        self.step(f"prediction {preduplet['uuid']} requested on {files.to_predict} "
                  f"with the best model {preduplet['model']}")
        deadline = time.monotonic() + self.timeout
        while preduplet["status"] not in FINISHED:
            if time.monotonic() > deadline:
                raise CommandError(f"the prediction did not finish in {self.timeout:.0f}s")
            time.sleep(0.25)
            preduplet = client.get(f"preduplets/{preduplet['uuid']}/")
        if preduplet["status"] == "failed":
            raise CommandError(f"the prediction failed: {preduplet['last_error']}")
        (result,) = preduplet["prediction_storage_uuid"]
        predicted = [int(r["prediction"]) for r in csv.DictReader(io.StringIO(
            self.storage.read(uuid.UUID(result)).decode()))]
        right = sum(p == t for p, t in zip(predicted, files.truth, strict=True))
        self.step(f"predictions written to {self.storage.locate(uuid.UUID(result))}: "
                  f"{right}/{len(predicted)} right against labels only the demo knew")
