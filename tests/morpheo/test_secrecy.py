"""Test data stay secret from clients on the 2017 routes too (compute and operators see them)."""

import uuid

import pytest

from tasks.models import Status
from tests.factories import DataFactory, LearnupletFactory, ProblemFactory
from tests.morpheo_support import m_client, m_compute, m_operator, new_uuids  # noqa: F401


@pytest.fixture
def secret(db) -> dict[str, object]:
    test = [uuid.uuid4(), uuid.uuid4()]
    problem = ProblemFactory.create(test_dataset=test)
    test_data = DataFactory.create(uuid=test[0], problems=[problem.pk])
    train = DataFactory.create(problems=[problem.pk])
    task = LearnupletFactory.create(problem=problem, algo__problem=problem, status=Status.DONE, perf=0.5,
                             test_perf={str(test[0]): 0.5}, train_perf={str(train.pk): 0.4})
    return {"problem": problem, "test": [str(t) for t in test], "test_data": test_data, "train": train,
            "task": task}


def test_it_hides_a_problems_test_dataset_from_a_client(m_client, secret):  # noqa: F811
    (listed,) = m_client.get("/problem").json()["problems"]
    one = m_client.get(f"/problem/{secret['problem'].pk}").json()
    assert "test_dataset" not in listed and "test_dataset" not in one


def test_it_shows_the_test_dataset_to_the_client_that_creates_the_problem(m_client):  # noqa: F811
    test = new_uuids(2)
    r = m_client.post("/problem", {"uuid": str(uuid.uuid4()), "workflow": str(uuid.uuid4()),
                                   "test_dataset": test, "size_train_dataset": 1})
    assert r.json()["new_problem"]["test_dataset"] == test


def test_it_hides_a_learnuplets_test_data_and_test_perf_from_a_client(m_client, secret):  # noqa: F811
    (listed,) = m_client.get("/learnuplet").json()["learnuplets"]
    one = m_client.get(f"/learnuplet/{secret['task'].pk}").json()
    for document in (listed, one):
        assert "test_data" not in document and "test_perf" not in document
        assert document["train_perf"] == {str(secret["train"].pk): 0.4}


def test_it_leaves_test_data_out_of_a_clients_data_list(m_client, secret):  # noqa: F811
    assert [d["uuid"] for d in m_client.get("/data").json()["datas"]] == [str(secret["train"].pk)]


def test_it_answers_404_to_a_client_asking_for_test_data(m_client, secret):  # noqa: F811
    assert m_client.get(f"/data/{secret['test_data'].pk}").status_code == 404


def test_it_finds_nothing_when_a_client_filters_data_by_a_test_uuid(m_client, secret):  # noqa: F811
    assert m_client.get("/data", uuid=str(secret["test_data"].pk)).json() == {"datas": []}


@pytest.mark.parametrize(("collection", "field"),
                         [("problem", "test_dataset"), ("learnuplet", "test_data"), ("learnuplet", "test_perf")])
def test_it_refuses_a_client_filter_on_a_secret_field(m_client, secret, collection, field):  # noqa: F811
    value = secret["test"][0] if field != "test_perf" else f'{{"{secret["test"][0]}": 0.5}}'
    r = m_client.get(f"/{collection}", **{field: value})
    assert r.status_code == 400
    assert secret["test"][0] not in r.content.decode()


def test_it_leaves_test_data_out_of_the_data_a_client_registers(m_client, secret):  # noqa: F811
    other = str(uuid.uuid4())
    r = m_client.post("/data", {"uuid": [secret["test"][1], other], "problems": [str(secret["problem"].pk)]})
    assert r.status_code == 201, r.json()
    assert [d["uuid"] for d in r.json()["new_datas"]] == [other]


@pytest.mark.parametrize("caller", ["m_compute", "m_operator"])
def test_it_shows_test_data_to_compute_and_operators(request, secret, caller):
    http = request.getfixturevalue(caller)
    assert http.get(f"/problem/{secret['problem'].pk}").json()["test_dataset"] == secret["test"]
    assert http.get(f"/learnuplet/{secret['task'].pk}").json()["test_perf"] == {secret["test"][0]: 0.5}
    assert http.get(f"/data/{secret['test_data'].pk}").status_code == 200
    r = http.get("/learnuplet", test_data=secret["test"][0])
    assert [lu["uuid"] for lu in r.json()["learnuplets"]] == [str(secret["task"].pk)]


def test_it_never_shows_a_test_uuid_to_a_client_in_any_list(m_client, secret):  # noqa: F811
    for collection in ("problem", "algo", "data", "learnuplet", "preduplet"):
        body = m_client.get(f"/{collection}").content.decode()
        assert not any(t in body for t in secret["test"]), collection


@pytest.fixture
def trained_then_secret(db) -> tuple[str, object]:
    """Data trained on for one problem, then declared test data of another."""
    data = uuid.uuid4()
    task = LearnupletFactory.create(train_data=[data, uuid.uuid4()], train_perf={str(data): 0.3})
    ProblemFactory.create(test_dataset=[data])
    return str(data), task


def test_it_scrubs_later_test_data_from_a_clients_learnuplet(m_client, trained_then_secret):  # noqa: F811
    data, task = trained_then_secret
    document = m_client.get(f"/learnuplet/{task.pk}").json()
    assert data not in document["train_data"] and data not in document["train_perf"]


@pytest.mark.parametrize("field", ["train_data", "train_perf"])
def test_it_matches_nothing_when_a_client_filters_by_scrubbed_test_data(m_client, trained_then_secret, field):  # noqa: F811
    data, _ = trained_then_secret
    value = data if field == "train_data" else f'{{"{data}": 0.3}}'
    assert m_client.get("/learnuplet", **{field: value}).json() == {"learnuplets": []}


def test_it_matches_scrubbed_test_data_for_compute(m_compute, trained_then_secret):  # noqa: F811
    data, task = trained_then_secret
    r = m_compute.get("/learnuplet", train_data=data)
    assert [lu["uuid"] for lu in r.json()["learnuplets"]] == [str(task.pk)]
