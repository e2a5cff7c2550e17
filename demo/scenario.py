"""The demo, step by step, through the v1 HTTP API like any client and worker: the
people's side through `orchestrator_client`, as a user of the client would write it.

Two hospitals, two sites: each has a client that registers its own training files and a
compute worker that reads only its own directory (plus the shared Storage of workflows,
algos, test data and models). A researcher without a site registers the problem and its
algos, waits for the chains on the event feed and reads the leaderboard. After the run,
`demo.site_check` verifies that no worker opened the other site's files.
"""

import contextlib
import csv
import io
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import CommandError
from orchestrator_client import Client, Progress

from accounts.models import Role
from accounts.services import client_create
from compute.storage import DirectoryStorage
from demo.dataset import DemoFiles, write_demo_files
from demo.processes import WorkerSpec, compute_workers, orchestrator_server
from demo.site_check import Hospital, check_sites

HOSPITALS = ("hospital-a", "hospital-b")


@dataclass
class Demo:
    directory: Path
    say: Callable[[str], None]
    url: str | None = None
    timeout: float = 100.0

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        self.storage = self.directory / "storage"
        self.shared = DirectoryStorage(self.storage / "shared")
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
            _, researcher_token = client_create(name=f"demo-researcher-{suffix}", role=Role.CLIENT)
            # Site names are unique: a new pair per run, so an earlier run's tasks stay apart.
            hospitals = [self.hospital(label, suffix, url) for label in HOSPITALS]
            self.step(f"accounts: demo-researcher-{suffix} (client, no site); for each of the sites "
                      f"{', '.join(h.site for h in hospitals)}, a client and a compute worker")
            # Started first: they load scikit-learn while the data are written and registered.
            workers = stack.enter_context(compute_workers(
                [WorkerSpec(h.label, h.compute_token, h.storage.root, self.shared.root, h.read_log)
                 for h in hospitals], url=url, logs=self.logs))
            self.step(f"{len(workers)} compute workers started, one per hospital, each reading its own "
                      f"directory, then {self.shared.root} (logs: {', '.join(map(str, workers))})")
            files = write_demo_files(self.shared, [h.storage for h in hospitals])
            for hospital, own in zip(hospitals, files.train, strict=True):
                hospital.train = own
            hospitals[-1].to_predict = files.to_predict
            self.step(f"breast cancer data set written: {len(files.train[0])} training files in each "
                      f"hospital's directory ({', '.join(str(h.storage.root) for h in hospitals)}), "
                      f"{len(files.test)} secret test files, the workflow and algos in {self.shared.root}, "
                      f"1 file to predict at {hospitals[-1].label}")
            researcher = stack.enter_context(Client(url, researcher_token))
            for hospital in hospitals:
                stack.callback(hospital.client.close)
            problem = self.register(researcher, files)
            # Two rounds of uploads, each hospital its half: every chain crosses sites.
            for round_ in (0, 1):
                for hospital in hospitals:
                    self.upload(hospital, problem, round_)
                self.wait_for_chains(researcher, problem, files)
            self.show_results(researcher, problem)
            self.show_chain(researcher, problem, files, hospitals)
            preduplet = self.predict(hospitals[-1], problem, files, hospitals)
        # The workers have stopped: their read logs are whole.
        check_sites(problem=uuid.UUID(problem), preduplet=uuid.UUID(preduplet), hospitals=hospitals,
                    shared=self.shared.root, test=files.test, step=self.step, say=self.say)
        elapsed = time.monotonic() - self.started
        self.step(f"demo finished in {elapsed:.1f}s; files in {self.directory}")
        return elapsed

    def hospital(self, label: str, suffix: str, url: str) -> Hospital:
        site = f"{label}-{suffix}"
        client, client_token = client_create(name=f"demo-{label}-client-{suffix}", role=Role.CLIENT, site=site)
        _, compute_token = client_create(name=f"demo-{label}-compute-{suffix}", role=Role.COMPUTE, site=site)
        assert client.site_id is not None  # client_create created the site
        return Hospital(
            label=label, site=site, site_uuid=client.site_id, client=Client(url, client_token),
            compute_token=compute_token, storage=DirectoryStorage(self.storage / label),
            read_log=self.logs / f"reads-{label}.log",
        )

    def register(self, client: Client, files: DemoFiles) -> str:
        problem = client.problems.create(workflow=files.workflow, test_dataset=files.test, size_train_dataset=1)["uuid"]
        self.step(f"the researcher registers problem {problem}: accuracy on {len(files.test)} secret test files")
        for name, algo in files.algos:
            client.algos.create(uuid=algo, problem=problem, name=name)
            self.step(f"algo {algo}: {name}")
        return problem

    def upload(self, hospital: Hospital, problem: str, round_: int) -> None:
        half = len(hospital.train) // 2
        own = hospital.train[:half] if round_ == 0 else hospital.train[half:]
        answer = hospital.client.data.register(own, problems=[problem])
        sites = {record["site"] for record in answer.data}
        if sites != {str(hospital.site_uuid)}:
            raise CommandError(f"{hospital.label}'s data were registered at {sites}, not at its site")
        self.step(f"{hospital.label} registers {len(own)} training files (site {hospital.site}): "
                  f"{answer.new_learnuplets} new learnuplets")

    def wait_for_chains(self, client: Client, problem: str, files: DemoFiles) -> None:
        """Wait on the event feed until every algo's chain has ended, saying how each went."""
        deadline = time.monotonic() + self.timeout
        for name, algo in files.algos:
            ended: list[int] = []

            def show(progress: Progress, name: str = name, ended: list[int] = ended) -> None:
                if progress.ended not in ended:  # a line per rank that ends, not per claim
                    ended.append(progress.ended)
                    self.step(f"chain of {name}: {progress.summary()}")

            chain = client.wait_for_chain(algo, timeout=max(0.0, deadline - time.monotonic()), on_progress=show)
            if any(task["status"] != "done" for task in chain):
                raise CommandError(f"the chain of {name} did not train: see the workers' logs in {self.logs}")
        counts = Counter(task["status"] for task in client.learnuplets.list(problem=problem))
        self.step(f"learnuplets: {', '.join(f'{n} {status}' for status, n in counts.most_common())}")

    def show_results(self, client: Client, problem: str) -> None:
        curves = {curve.algo: " ".join(f"{perf:.3f}" for _, perf in curve.points)
                  for curve in client.learning_curve(problem)}
        board = client.leaderboard(problem)
        self.step("leaderboard (accuracy on the secret test data):")
        self.say(f"    {'#':>2}  {'algo':<26} {'best':>6}  {'rank':>4}  {'done':>4}  failed")
        for place, row in enumerate(board, start=1):
            perf = f"{row['perf']:.3f}" if row["perf"] is not None else "-"
            self.say(f"    {place:>2}  {row['name']:<26} {perf:>6}  {row['rank'] if row['rank'] is not None else '-':>4}"
                     f"  {row['done']:>4}  {row['failed']}")
        self.say("    perf by rank (the learning curve):")
        for row in board:
            self.say(f"      {row['name']:<26} {curves.get(row['algo'], '')}")

    def show_chain(self, client: Client, problem: str, files: DemoFiles, hospitals: list[Hospital]) -> None:
        """One algo's chain rank by rank: where each rank ran and where its start model was trained."""
        name, algo = files.algos[0]
        label: dict[str | None, str] = {str(h.site_uuid): h.label for h in hospitals}
        chain = sorted(client.learnuplets.list(problem=problem, algo=algo), key=lambda lu: lu["rank"])
        trained = {lu["model_end"]: lu for lu in chain}
        self.step(f"the chain of {name}, rank by rank (each starts from the best model so far):")
        crossing = None
        for lu in chain:
            site = label.get(lu["site"], "platform")
            perf = f"{lu['perf']:.3f}" if lu["perf"] is not None else lu["status"]
            start = trained.get(lu["model_start"]) if lu["model_start"] else None
            if start is None:
                origin = "the algo itself"
            else:
                origin = f"rank {start['rank']}'s model, trained at {label.get(start['site'], 'platform')}"
                if start["site"] != lu["site"]:
                    origin += "  <- from the other site"
                    crossing = crossing or (lu, start)
            self.say(f"      rank {lu['rank']}  at {site:<10}  perf {perf:<6}  from {origin}")
        if crossing is None:
            raise CommandError(f"the chain of {name} never crossed sites")
        lu, start = crossing
        self.step(f"the chain crosses sites: rank {lu['rank']} at {label[lu['site']]} started from the model "
                  f"of rank {start['rank']}, trained at {label[start['site']]} (models travel, training data do not)")

    def predict(self, hospital: Hospital, problem: str, files: DemoFiles, hospitals: list[Hospital]) -> str:
        # Not registered as data: the file to predict counts as the requesting client's site.
        preduplet = hospital.client.predict(problem, files.to_predict)
        label: dict[str | None, str] = {str(h.site_uuid): h.label for h in hospitals}
        self.step(f"{hospital.label} requests prediction {preduplet['uuid']} on its file {files.to_predict} "
                  f"with the best model {preduplet['model']}: it runs at {label.get(preduplet['site'], 'platform')}")
        preduplet = hospital.client.wait_for_prediction(preduplet["uuid"], timeout=self.timeout)
        if preduplet["status"] != "done":
            raise CommandError(f"the prediction failed: {preduplet['last_error']}")
        (result,) = preduplet["prediction_storage_uuid"]
        predicted = [int(r["prediction"]) for r in csv.DictReader(io.StringIO(
            self.shared.read(uuid.UUID(result)).decode()))]
        right = sum(p == t for p, t in zip(predicted, files.truth, strict=True))
        self.step(f"predictions written to {self.shared.locate(uuid.UUID(result))}: "
                  f"{right}/{len(predicted)} right against labels only the demo knew")
        return preduplet["uuid"]
