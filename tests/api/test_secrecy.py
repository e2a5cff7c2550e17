"""Test data is secret: no answer to a client contains a test-data UUID, except the 201 to
the problem's creator. Compute workers and operators see everything."""

import uuid
from dataclasses import dataclass

import pytest

from accounts.models import Role
from problems.models import Algo, Problem
from tests.factories import AlgoFactory, DataFactory, LearnupletFactory, PredupletFactory, ProblemFactory

API = "/api/v1"
SEES_TEST_DATA = [Role.COMPUTE, Role.OPERATOR]


@dataclass
class World:
    problem: Problem
    algo: Algo
    secret: list[str]
    train: str
    learnuplet: str


@pytest.fixture
def world(db) -> World:
    """A problem whose test data are also registered as data, with a trained learnuplet."""
    secret = [uuid.uuid4(), uuid.uuid4()]
    problem = ProblemFactory.create(test_dataset=secret)
    train = DataFactory.create(problems=[problem.uuid])
    for test_uuid in secret:
        DataFactory.create(uuid=test_uuid, problems=[problem.uuid])
    algo = AlgoFactory.create(problem=problem)
    learnuplet = LearnupletFactory.create(
        algo=algo, rank=0, status="done", perf=0.7, train_data=[train.uuid],
        train_perf={str(train.uuid): 0.8}, test_perf={str(s): 0.7 for s in secret},
    )
    PredupletFactory.create(problem=problem, data=[train.uuid], model=learnuplet.model_end)
    return World(problem, algo, [str(s) for s in secret], str(train.uuid), str(learnuplet.uuid))


def client_visible_paths(w: World) -> list[str]:
    p = w.problem.uuid
    return [
        "/problems/", f"/problems/{p}/", f"/problems/{p}/leaderboard/",
        "/algos/", f"/algos/{w.algo.uuid}/",
        "/data/", f"/data/?problem={p}", f"/data/{w.train}/",
        "/learnuplets/", f"/learnuplets/{w.learnuplet}/", f"/learnuplets/?problem={p}&status=done",
        "/preduplets/", f"/preduplets/?problem={p}",
    ]


def assert_no_secret(content: bytes, secret: list[str]) -> None:
    text = content.decode()
    leaked = [s for s in secret if s in text or s.upper() in text or s.replace("-", "") in text]
    assert not leaked, f"test data leaked: {leaked}"


def test_it_never_shows_test_data_to_a_client_on_any_read(uploader, world):
    for path in client_visible_paths(world):
        r = uploader.http.get(f"{API}{path}")
        assert r.status_code == 200, (path, r.content)
        assert_no_secret(r.content, world.secret)


def test_it_drops_test_dataset_from_problems_for_a_client(uploader, world):
    assert "test_dataset" not in uploader.get(f"{API}/problems/{world.problem.uuid}/").json()
    assert "test_dataset" not in uploader.get(f"{API}/problems/").json()["results"][0]


@pytest.mark.parametrize("role", SEES_TEST_DATA)
def test_it_shows_test_dataset_of_problems_to_compute_and_operator(callers, world, role):
    caller = callers[role]
    assert caller.get(f"{API}/problems/{world.problem.uuid}/").json()["test_dataset"] == world.secret
    assert caller.get(f"{API}/problems/").json()["results"][0]["test_dataset"] == world.secret


def test_it_shows_test_dataset_to_the_creator_in_the_201_only(uploader):
    secret = [str(uuid.uuid4())]
    body = {"workflow": str(uuid.uuid4()), "test_dataset": secret, "size_train_dataset": 1}
    created = uploader.post(f"{API}/problems/", body)
    assert created.json()["test_dataset"] == secret
    assert_no_secret(uploader.http.get(f"{API}/problems/{created.json()['uuid']}/").content, secret)


def test_it_hides_test_data_registered_as_data_from_a_clients_data_list(uploader, world):
    listed = [d["uuid"] for d in uploader.get(f"{API}/data/").json()["results"]]
    assert listed == [world.train]


def test_it_answers_404_to_a_client_asking_for_test_data_by_uuid(uploader, world):
    assert uploader.get(f"{API}/data/{world.secret[0]}/").status_code == 404


@pytest.mark.parametrize("role", SEES_TEST_DATA)
def test_it_shows_test_data_registered_as_data_to_compute_and_operator(callers, world, role):
    caller = callers[role]
    listed = {d["uuid"] for d in caller.get(f"{API}/data/").json()["results"]}
    assert listed == {world.train, *world.secret}
    assert caller.get(f"{API}/data/{world.secret[0]}/").status_code == 200


def test_it_hides_test_data_of_any_problem_from_a_clients_data_list(uploader):
    # The data is registered for one problem and is the secret test data of another.
    secret = uuid.uuid4()
    ProblemFactory.create(test_dataset=[secret])
    DataFactory.create(uuid=secret, problems=[ProblemFactory.create(test_dataset=[]).uuid])
    assert uploader.get(f"{API}/data/").json()["count"] == 0


def test_it_leaves_test_data_out_of_the_data_registration_answer_to_a_client(uploader):
    secret = str(uuid.uuid4())
    problem = ProblemFactory.create(test_dataset=[uuid.UUID(secret)])
    train = str(uuid.uuid4())
    r = uploader.post(f"{API}/data/", {"uuid": [train, secret], "problems": [str(problem.uuid)]})
    assert r.status_code == 201
    assert [d["uuid"] for d in r.json()["data"]] == [train]
    assert_no_secret(r.content, [secret])


def test_it_includes_test_data_in_the_data_registration_answer_to_an_operator(operator):
    secret = str(uuid.uuid4())
    problem = ProblemFactory.create(test_dataset=[uuid.UUID(secret)])
    r = operator.post(f"{API}/data/", {"uuid": [secret], "problems": [str(problem.uuid)]})
    assert [d["uuid"] for d in r.json()["data"]] == [secret]


def test_it_drops_test_data_and_test_perf_from_learnuplets_for_a_client(uploader, world):
    for row in (
        uploader.get(f"{API}/learnuplets/{world.learnuplet}/").json(),
        uploader.get(f"{API}/learnuplets/").json()["results"][0],
    ):
        assert "test_data" not in row and "test_perf" not in row
        assert row["train_perf"] == {world.train: 0.8}


@pytest.mark.parametrize("role", SEES_TEST_DATA)
def test_it_shows_test_data_and_test_perf_of_learnuplets_to_compute_and_operator(callers, world, role):
    row = callers[role].get(f"{API}/learnuplets/{world.learnuplet}/").json()
    assert row["test_data"] == world.secret
    assert set(row["test_perf"]) == set(world.secret)


def test_it_keeps_test_data_out_of_the_leaderboard(uploader, world):
    r = uploader.get(f"{API}/problems/{world.problem.uuid}/leaderboard/")
    assert r.json()[0]["perf"] == 0.7
    assert_no_secret(r.content, world.secret)


def test_it_never_shows_another_problems_test_data_as_training_data(uploader):
    secret = str(uuid.uuid4())
    ProblemFactory.create(test_dataset=[uuid.UUID(secret)])
    other = ProblemFactory.create(test_dataset=[], size_train_dataset=1)
    AlgoFactory.create(problem=other)
    uploader.post(f"{API}/data/", {"uuid": [secret], "problems": [str(other.uuid)]})
    assert_no_secret(uploader.http.get(f"{API}/learnuplets/").content, [secret])


def test_it_scrubs_data_that_became_test_data_after_training_from_client_views(uploader, worker):
    data = [str(uuid.uuid4()) for _ in range(2)]
    trainer = ProblemFactory.create(test_dataset=[], size_train_dataset=2)
    AlgoFactory.create(problem=trainer)
    uploader.post(f"{API}/data/", {"uuid": data, "problems": [str(trainer.uuid)]})
    task = worker.post(f"{API}/learnuplets/claim/").json()
    worker.post(f"{API}/learnuplets/{task['uuid']}/result/", {
        "attempt": 1, "status": "done", "perf": 0.5, "train_perf": {d: 0.5 for d in data}})
    # A later problem makes data[0] secret test data.
    ProblemFactory.create(test_dataset=[uuid.UUID(data[0])])

    listed = uploader.http.get(f"{API}/learnuplets/")
    detail = uploader.get(f"{API}/learnuplets/{task['uuid']}/").json()

    assert_no_secret(listed.content, [data[0]])
    assert detail["train_data"] == [data[1]]
    assert detail["train_perf"] == {data[1]: 0.5}
    assert worker.get(f"{API}/learnuplets/{task['uuid']}/").json()["train_data"] == data


def test_it_refuses_predictions_on_any_problems_test_data(uploader):
    secret = uuid.uuid4()
    ProblemFactory.create(test_dataset=[secret])
    target = ProblemFactory.create()
    LearnupletFactory.create(algo=AlgoFactory.create(problem=target), status="done", perf=0.5)

    r = uploader.post(f"{API}/preduplets/", {"problem": str(target.uuid), "data": [str(secret)]})

    assert r.status_code == 400
    assert_no_secret(r.content, [str(secret)])
