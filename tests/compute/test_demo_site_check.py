"""The demo's site check: it passes when each worker kept to its site, and names each breach
of the database's records or of a worker's read log."""

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management.base import CommandError
from orchestrator_client import Client

from accounts.models import Role
from compute.storage import DirectoryStorage
from demo.site_check import Hospital, check_sites
from learning.models import Learnuplet
from predictions.models import Preduplet
from tasks.models import Status, TaskEvent
from tests.conftest import Caller, make_caller
from tests.factories import AlgoFactory, DataFactory, LearnupletFactory, PredupletFactory, ProblemFactory

pytestmark = pytest.mark.django_db


@dataclass
class World:
    a: Hospital
    b: Hospital
    workers: dict[str, Caller]
    shared: DirectoryStorage
    test: list[uuid.UUID]
    learnuplets: dict[str, Learnuplet]
    preduplet: Preduplet
    output: list[str]

    def check(self) -> str:
        check_sites(problem=self.learnuplets["a"].problem_id, preduplet=self.preduplet.uuid,
                    hospitals=[self.a, self.b], shared=self.shared.root, test=self.test,
                    step=self.output.append, say=self.output.append)
        return "\n".join(self.output)

    def log(self, hospital: Hospital, key: uuid.UUID, where: str) -> None:
        with hospital.read_log.open("a") as f:
            f.write(f"{key}\t{where}\n")


def claimed(task: Learnuplet | Preduplet, worker: Caller, attempt: int = 1) -> None:
    TaskEvent.objects.create(kind=task.kind, task=task.uuid, from_status=Status.TODO, to_status=Status.PENDING,
                             attempt=attempt, worker=worker.client.worker, actor=worker.client.user.username)


@pytest.fixture
def world(tmp_path):
    """Hospital a trained rank 0 on its file, b rank 1 on its own and predicted its file."""
    shared = DirectoryStorage(tmp_path / "shared")
    problem = ProblemFactory.create()
    algo = AlgoFactory.create(problem=problem)
    hospitals, workers, learnuplets = {}, {}, {}
    for rank, label in enumerate(("a", "b")):
        worker = workers[label] = make_caller(f"{label}-compute", Role.COMPUTE, site=f"hospital-{label}")
        site = worker.client.site_id
        assert site is not None
        storage = DirectoryStorage(tmp_path / f"hospital-{label}")
        datum = DataFactory.create(site_id=site, problems=[problem.uuid]).uuid
        storage.write(datum, b"rows")
        hospital = hospitals[label] = Hospital(
            label=f"hospital-{label}", site=f"hospital-{label}", site_uuid=site,
            client=Client("http://127.0.0.1:9", "unused"), compute_token="unused", storage=storage,
            read_log=tmp_path / f"reads-{label}.log", train=[datum])
        lu = learnuplets[label] = LearnupletFactory.create(
            algo=algo, rank=rank, site_id=site, train_data=[datum], status=Status.DONE, perf=0.9,
            worker=worker.client.worker, attempt=1)
        claimed(lu, worker)
    b = hospitals["b"]
    b.to_predict = uuid.uuid4()
    b.storage.write(b.to_predict, b"rows to predict")
    preduplet = PredupletFactory.create(problem=problem, site_id=b.site_uuid, data=[b.to_predict], status=Status.DONE,
                                 worker=workers["b"].client.worker, attempt=1)
    claimed(preduplet, workers["b"])
    test = list(problem.test_dataset)
    for key in test:
        shared.write(key, b"test rows")
    world = World(hospitals["a"], b, workers, shared, test, learnuplets, preduplet, [])
    for hospital in (world.a, world.b):
        for key in sorted(hospital.files, key=str):
            world.log(hospital, key, hospital.storage.locate(key))
        world.log(hospital, test[0], shared.locate(test[0]))
    return world


def test_it_passes_and_says_what_it_checked_when_each_worker_kept_to_its_site(world):
    text = world.check()
    assert "2 learnuplets, each claimed only by compute workers of its site" in text
    assert "(1 at hospital-a, 1 at hospital-b); the prediction ran at hospital-b, by its worker" in text
    assert "hospital-a's worker opened 1 of its site's 1 files, 0 of the other site's 2, 1 of the 2 secret test" in text
    assert "hospital-b's worker opened 2 of its site's 2 files, 0 of the other site's 1" in text
    assert text.endswith("site check passed: no worker opened a file of the other site")


def test_it_fails_on_a_claim_by_a_worker_of_another_site(world):
    # A later attempt: the task's worker column shows only the last claimant.
    claimed(world.learnuplets["a"], world.workers["b"], attempt=2)
    with pytest.raises(CommandError, match=r"learnuplet \S+ \(attempt 2\) of hospital-a was claimed by "
                                           r"worker \S+ of hospital-b"):
        world.check()


def test_it_fails_on_a_preduplet_claimed_across_sites(world):
    claimed(world.preduplet, world.workers["a"], attempt=2)
    with pytest.raises(CommandError, match=r"preduplet \S+ \(attempt 2\) of hospital-b was claimed"):
        world.check()


def test_it_fails_on_a_learnuplet_that_trains_on_another_sites_data(world):
    Learnuplet.objects.filter(pk=world.learnuplets["a"].pk).update(
        train_data=[*world.a.train, *world.b.train])
    with pytest.raises(CommandError, match=r"rank 0\) trains on data of another site"):
        world.check()


def test_it_fails_on_a_worker_that_tried_to_open_the_other_sites_file(world):
    world.log(world.a, world.b.train[0], "missing")
    with pytest.raises(CommandError, match=f"hospital-a's worker tried to open {world.b.train[0]}"):
        world.check()
    assert "hospital-a's worker opened 1 of its site's 1 files, 1 of the other site's 2" in "\n".join(world.output)


def test_it_fails_on_a_read_outside_the_workers_own_and_shared_directories(world):
    stray = Path(world.b.storage.root) / str(uuid.uuid4())
    world.log(world.a, uuid.uuid4(), str(stray))
    with pytest.raises(CommandError, match=f"hospital-a's worker read {stray}, outside"):
        world.check()


def test_it_fails_when_a_read_log_misses_the_workers_own_training_files(world):
    world.a.read_log.unlink()  # no log is no witness
    with pytest.raises(CommandError, match=f"did not log opening its own training file {world.a.train[0]}"):
        world.check()
