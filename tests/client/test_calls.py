"""Every call of the client against a live server (issue 19): what it sends, what it
hands back, and lists read over every page."""

import uuid
from pathlib import Path

import pytest
from orchestrator_client import Client, Curve

from learning.models import Learnuplet
from problems.models import Data, DataUpload
from tasks.models import Status
from tests.client.support import Recording, new_problem, uuids, work

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_registers_a_problem_and_reads_it_back(orch: Client):
    workflow, test = str(uuid.uuid4()), uuids(2)
    created = orch.problems.create(workflow=workflow, test_dataset=test, size_train_dataset=3,
                                   higher_is_better=False, uuid=uuid.UUID(int=7))

    assert created["uuid"] == str(uuid.UUID(int=7))
    assert created["test_dataset"] == test  # the creator's one sight of them
    assert (created["size_train_dataset"], created["higher_is_better"]) == (3, False)
    read = orch.problems.get(created["uuid"])
    assert read["workflow"] == workflow and "test_dataset" not in read
    assert [p["uuid"] for p in orch.problems.list()] == [created["uuid"]]


def test_it_registers_data_and_an_algo_whose_chain_follows(orch: Client):
    problem = new_problem(orch, size=2)
    data = uuids(4)

    registered = orch.data.register(data, problems=[problem])
    algo = orch.algos.create(problem=problem, name="sgd")

    assert sorted(d["uuid"] for d in registered.data) == sorted(data)
    assert registered.new_learnuplets == 0 and registered.files == {}
    assert algo["new_learnuplets"] == 2 and algo["name"] == "sgd"
    assert orch.algos.get(algo["uuid"])["problem"] == problem
    assert [a["uuid"] for a in orch.algos.list(problem=problem)] == [algo["uuid"]]
    assert sorted(d["uuid"] for d in orch.data.list(problem=problem)) == sorted(data)
    assert orch.data.get(data[0])["problems"] == [problem]
    chain = list(orch.learnuplets.list(algo=algo["uuid"]))
    assert sorted((t["rank"], t["status"]) for t in chain) == [(0, "todo"), (1, "waiting")]


def test_a_folder_of_files_named_by_uuid_is_registered_as_it_is(orch: Client, tmp_path: Path):
    problem = new_problem(orch)
    names = sorted(uuids(3))
    for name in names:
        (tmp_path / name).write_text("rows")
    (tmp_path / ".tmp-half-written").write_text("")  # Storage's own temporary files are not data

    registered = orch.data.register(tmp_path, problems=[problem])

    assert registered.files == {tmp_path / name: name for name in names}
    assert set(Data.objects.values_list("uuid", flat=True)) == {uuid.UUID(n) for n in names}


def test_other_files_are_copied_into_storage_under_new_uuids(orch: Client, tmp_path: Path):
    problem = new_problem(orch)
    folder, storage = tmp_path / "scans", tmp_path / "storage"
    folder.mkdir()
    (folder / "a.csv").write_text("a")
    (folder / "b.csv").write_text("b")

    registered = orch.data.register(folder, problems=[problem], storage=storage)

    assert set(registered.files) == {folder / "a.csv", folder / "b.csv"}
    for path, key in registered.files.items():
        assert (storage / key).read_text() == path.read_text()
    assert sorted(d["uuid"] for d in registered.data) == sorted(registered.files.values())
    assert sorted(p.name for p in storage.iterdir()) == sorted(registered.files.values())


def test_a_refused_folder_registration_leaves_no_copy_behind(orch: Client, tmp_path: Path):
    folder, storage = tmp_path / "scans", tmp_path / "storage"
    folder.mkdir()
    (folder / "a.csv").write_text("a")
    from orchestrator_client import BadRequest

    with pytest.raises(BadRequest):
        orch.data.register(folder, problems=[str(uuid.uuid4())], storage=storage)  # no such problem

    assert list(storage.iterdir()) == [] and not Data.objects.exists()


def test_files_not_named_by_uuid_need_a_storage(orch: Client, tmp_path: Path):
    (tmp_path / "a.csv").write_text("a")

    with pytest.raises(ValueError, match="not named by a UUID"):
        orch.data.register(tmp_path, problems=[str(uuid.uuid4())])


def test_lists_read_every_page(live_server, uploader):
    recording = Recording()
    orch = Client(live_server.url, uploader.token, transport=recording)
    problem = new_problem(orch)
    orch.data.register(uuids(7), problems=[problem])
    algo = orch.algos.create(problem=problem, name="sgd")["uuid"]
    recording.tries.clear()

    chain = list(orch.learnuplets.list(algo=algo, page_size=3))

    assert sorted(t["rank"] for t in chain) == list(range(7))
    assert len(recording.tries) == 3  # pages of 3, 3 and 1
    assert orch.learnuplets.count(algo=algo) == 7
    assert [t["rank"] for t in orch.learnuplets.list(algo=algo, status=["todo", "pending"])] == [0]
    assert [t["rank"] for t in orch.learnuplets.list(algo=algo, rank=4)] == [4]
    assert orch.learnuplets.get(chain[0]["uuid"])["uuid"] == chain[0]["uuid"]


def test_leaderboard_learning_curve_and_prediction(live_server, orch: Client, worker):
    problem = new_problem(orch)
    orch.data.register(uuids(3), problems=[problem])
    algo = orch.algos.create(problem=problem, name="sgd")["uuid"]
    work(live_server.url, worker.token, tasks=3, perf=lambda n: [0.5, 0.7, 0.6][n])

    (row,) = orch.leaderboard(problem)
    assert (row["algo"], row["perf"], row["rank"], row["done"], row["total"]) == (algo, 0.7, 1, 3, 3)
    assert orch.learning_curve(problem) == [Curve(algo, "sgd", [(0, 0.5), (1, 0.7), (2, 0.6)])]

    requested = orch.predict(problem, uuids(1))
    assert requested["status"] == "todo" and requested["model"] == row["model"]
    assert [p["uuid"] for p in orch.preduplets.list(problem=problem, status="todo")] == [requested["uuid"]]


def test_it_cancels_an_algo_a_learnuplet_and_a_preduplet(live_server, orch: Client, worker):
    problem = new_problem(orch)
    orch.data.register(uuids(3), problems=[problem])
    first = orch.algos.create(problem=problem, name="first")["uuid"]
    second = orch.algos.create(problem=problem, name="second")["uuid"]

    assert orch.cancel(algo=first, reason="wrong rate") == 3
    rank1 = next(orch.learnuplets.list(algo=second, rank=1))
    assert orch.cancel(learnuplet=rank1["uuid"]) == 1
    assert Learnuplet.objects.filter(algo_id=second, status=Status.CANCELED).count() == 2  # ranks 1 and 2

    work(live_server.url, worker.token, tasks=1)  # rank 0 of the second: a model to predict with
    preduplet = orch.predict(problem, uuids(1))
    assert orch.cancel(preduplet=preduplet["uuid"]) == 1
    assert orch.preduplets.get(preduplet["uuid"])["status"] == "canceled"
    with pytest.raises(TypeError):
        orch.cancel(algo=first, learnuplet=rank1["uuid"])


def test_it_lists_sites_and_reads_the_event_feed(orch: Client, operator):
    problem = new_problem(orch)
    orch.data.register(uuids(1), problems=[problem])
    orch.algos.create(problem=problem, name="sgd")

    page = orch.events.page(after=0, problem=problem)
    (created,) = page["events"]
    assert (created["kind"], created["from_status"], created["to_status"]) == ("learnuplet", "", "todo")
    assert orch.events.page(after=page["next"], problem=problem) == {"events": [], "next": page["next"]}
    assert list(orch.sites.list()) == []
    assert DataUpload.objects.count() == 1
