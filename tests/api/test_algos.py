"""POST/GET /api/v1/algos/: success with new_learnuplets, 400, 401, 403, 404, ?problem=."""

import uuid

import pytest

from learning.models import Learnuplet
from problems.models import Algo
from tests.factories import AlgoFactory, DataFactory, ProblemFactory

API = "/api/v1"
U = "3f2e1d0c-9b8a-4766-8544-332211009988"


def test_it_registers_an_algo(uploader):
    problem = ProblemFactory.create()
    r = uploader.post(f"{API}/algos/", {"uuid": U, "problem": str(problem.uuid), "name": "sgd"})
    assert r.status_code == 201, r.json()
    got = r.json()
    assert set(got) == {"uuid", "problem", "name", "timestamp_upload", "new_learnuplets"}
    assert got["uuid"] == U and got["problem"] == str(problem.uuid) and got["name"] == "sgd"
    assert Algo.objects.get(pk=U).created_by == uploader.client.user


def test_it_reports_no_learnuplets_for_a_problem_without_data(uploader):
    problem = ProblemFactory.create()
    r = uploader.post(f"{API}/algos/", {"problem": str(problem.uuid), "name": "sgd"})
    assert r.json()["new_learnuplets"] == 0


def test_it_reports_the_learnuplets_made_for_the_new_algo(uploader):
    problem = ProblemFactory.create(size_train_dataset=2)
    DataFactory.create_batch(5, problems=[problem.uuid])
    r = uploader.post(f"{API}/algos/", {"problem": str(problem.uuid), "name": "sgd"})
    assert r.json()["new_learnuplets"] == 3
    assert Learnuplet.objects.filter(algo=r.json()["uuid"]).count() == 3


def test_it_lets_an_operator_register_an_algo(operator):
    problem = ProblemFactory.create()
    assert operator.post(f"{API}/algos/", {"problem": str(problem.uuid), "name": "x"}).status_code == 201


def test_it_refuses_an_unknown_problem_and_registers_nothing(uploader):
    r = uploader.post(f"{API}/algos/", {"problem": str(uuid.uuid4()), "name": "sgd"})
    assert r.status_code == 400
    assert "problem" in r.json()
    assert not Algo.objects.exists()


def test_it_refuses_a_duplicate_algo_uuid(uploader):
    algo = AlgoFactory.create()
    r = uploader.post(f"{API}/algos/", {"uuid": str(algo.uuid), "problem": str(algo.problem_id), "name": "x"})
    assert r.status_code == 400
    assert "uuid" in r.json()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("uuid", U.upper()),
        ("uuid", U.replace("-", "")),
        ("uuid", 5),
        ("problem", ...),
        ("problem", "x"),
        ("problem", None),
        ("name", ...),
        ("name", ""),
        ("name", "n" * 256),
        ("name", "a\x00b"),
        ("name", ["sgd"]),
    ],
)
def test_it_refuses_a_malformed_field_naming_it(uploader, field, value):
    problem = ProblemFactory.create()
    fields: dict[str, object] = {"problem": str(problem.uuid), "name": "sgd", field: value}
    r = uploader.post(f"{API}/algos/", {k: v for k, v in fields.items() if v is not ...})
    assert r.status_code == 400
    assert field in r.json()
    assert not Algo.objects.exists()


def test_it_refuses_an_upper_case_problem_uuid(uploader):
    problem = ProblemFactory.create()
    r = uploader.post(f"{API}/algos/", {"problem": str(problem.uuid).upper(), "name": "sgd"})
    assert r.status_code == 400
    assert "problem" in r.json()


def test_it_refuses_anonymous_registration(anonymous):
    assert anonymous.post(f"{API}/algos/", {}, format="json").status_code == 401


def test_it_forbids_compute_workers_to_register_algos(worker):
    problem = ProblemFactory.create()
    assert worker.post(f"{API}/algos/", {"problem": str(problem.uuid), "name": "x"}).status_code == 403


def test_it_lists_algos_paginated(uploader):
    AlgoFactory.create_batch(3)
    page = uploader.get(f"{API}/algos/").json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 3


def test_it_filters_algos_by_problem(uploader):
    algo = AlgoFactory.create()
    AlgoFactory.create()
    page = uploader.get(f"{API}/algos/", problem=str(algo.problem_id)).json()
    assert [a["uuid"] for a in page["results"]] == [str(algo.uuid)]


@pytest.mark.parametrize("bad", ["x", "0b7c4f6e-8a1d-4c2b-9E3F-5a6b7c8d9e0f"])
def test_it_refuses_a_malformed_problem_filter(uploader, bad):
    r = uploader.get(f"{API}/algos/", problem=bad)
    assert r.status_code == 400
    assert "problem" in r.json()


def test_it_shows_one_algo(uploader):
    algo = AlgoFactory.create(name="boost")
    r = uploader.get(f"{API}/algos/{algo.uuid}/")
    assert r.status_code == 200
    assert r.json()["name"] == "boost" and r.json()["problem"] == str(algo.problem_id)


def test_it_answers_404_for_an_unknown_algo(uploader):
    assert uploader.get(f"{API}/algos/{uuid.uuid4()}/").status_code == 404


def test_it_answers_404_for_a_malformed_algo_uuid(uploader):
    algo = AlgoFactory.create()
    assert uploader.get(f"{API}/algos/{str(algo.uuid).upper()}/").status_code == 404
