"""POST/GET /api/v1/data/: one or many UUIDs, all-or-nothing, 400/401/403/404, ?problem=."""

import uuid

import pytest

from learning.models import Learnuplet
from problems.models import Data
from tests.factories import AlgoFactory, DataFactory, ProblemFactory

API = "/api/v1"
U = "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d"


def uuids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def test_it_registers_one_data_given_as_a_string(uploader):
    problem = ProblemFactory.create()
    r = uploader.post(f"{API}/data/", {"uuid": U, "problems": [str(problem.uuid)]})
    assert r.status_code == 201, r.json()
    got = r.json()
    assert set(got) == {"data", "new_learnuplets"}
    assert [d["uuid"] for d in got["data"]] == [U]
    assert got["data"][0]["problems"] == [str(problem.uuid)]
    assert got["data"][0]["timestamp_upload"]
    assert Data.objects.get(pk=U).created_by == uploader.client.user


def test_it_registers_a_list_of_data_in_request_order(uploader):
    problem = ProblemFactory.create()
    sent = uuids(20)
    r = uploader.post(f"{API}/data/", {"uuid": sent, "problems": [str(problem.uuid)]})
    assert r.status_code == 201
    assert [d["uuid"] for d in r.json()["data"]] == sent
    listed = uploader.get(f"{API}/data/", problem=str(problem.uuid)).json()["results"]
    assert [d["uuid"] for d in listed] == sent


def test_it_registers_data_for_several_problems(uploader):
    problems = sorted(str(ProblemFactory.create().uuid) for _ in range(2))
    r = uploader.post(f"{API}/data/", {"uuid": [U], "problems": problems})
    assert r.status_code == 201
    assert sorted(map(str, Data.objects.get(pk=U).problems)) == problems


def test_it_reports_no_learnuplets_when_the_problem_has_no_algo(uploader):
    problem = ProblemFactory.create()
    r = uploader.post(f"{API}/data/", {"uuid": uuids(4), "problems": [str(problem.uuid)]})
    assert r.json()["new_learnuplets"] == 0


def test_it_reports_the_learnuplets_made_for_the_new_data(uploader):
    problem = ProblemFactory.create(size_train_dataset=2)
    AlgoFactory.create_batch(2, problem=problem)
    r = uploader.post(f"{API}/data/", {"uuid": uuids(3), "problems": [str(problem.uuid)]})
    assert r.json()["new_learnuplets"] == 4
    assert Learnuplet.objects.count() == 4


def test_it_lets_an_operator_register_data(operator):
    problem = ProblemFactory.create()
    assert operator.post(f"{API}/data/", {"uuid": U, "problems": [str(problem.uuid)]}).status_code == 201


def test_it_registers_nothing_when_one_uuid_is_already_registered(uploader):
    problem = ProblemFactory.create()
    AlgoFactory.create(problem=problem)
    DataFactory.create(uuid=U, problems=[problem.uuid])
    fresh = uuids(3)
    r = uploader.post(f"{API}/data/", {"uuid": [*fresh, U], "problems": [str(problem.uuid)]})
    assert r.status_code == 400
    assert U in r.json()["uuid"][0]
    assert not Data.objects.filter(pk__in=fresh).exists()
    assert not Learnuplet.objects.exists()


def test_it_refuses_to_register_data_again_for_another_problem(uploader):
    first, second = ProblemFactory.create(), ProblemFactory.create()
    DataFactory.create(uuid=U, problems=[first.uuid])
    r = uploader.post(f"{API}/data/", {"uuid": U, "problems": [str(second.uuid)]})
    assert r.status_code == 400
    assert Data.objects.get(pk=U).problems == [first.uuid]


def test_it_registers_nothing_when_one_problem_is_unknown(uploader):
    problem = ProblemFactory.create()
    unknown = str(uuid.uuid4())
    r = uploader.post(f"{API}/data/", {"uuid": uuids(3), "problems": [str(problem.uuid), unknown]})
    assert r.status_code == 400
    assert unknown in r.json()["problems"][0]
    assert not Data.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("uuid", ...),
        ("uuid", []),
        ("uuid", None),
        ("uuid", 7),
        ("uuid", {"a": U}),
        ("uuid", U.upper()),
        ("uuid", [U, U.upper()]),
        ("uuid", [U, "nope"]),
        ("uuid", [U, U]),
        ("problems", ...),
        ("problems", []),
        ("problems", lambda problem: problem),  # a bare string, not a list
        ("problems", lambda problem: [problem, problem]),
        ("problems", lambda problem: [problem.upper()]),
        ("problems", [None]),
    ],
)
def test_it_refuses_a_malformed_field_and_registers_nothing(uploader, field, value):
    problem = str(ProblemFactory.create().uuid)
    fields: dict[str, object] = {"uuid": [str(uuid.uuid4())], "problems": [problem]}
    fields[field] = value(problem) if callable(value) else value
    r = uploader.post(f"{API}/data/", {k: v for k, v in fields.items() if v is not ...})
    assert r.status_code == 400
    assert field in r.json()
    assert not Data.objects.exists()


def test_it_refuses_anonymous_registration(anonymous):
    assert anonymous.post(f"{API}/data/", {}, format="json").status_code == 401


def test_it_forbids_compute_workers_to_register_data(worker):
    problem = ProblemFactory.create()
    assert worker.post(f"{API}/data/", {"uuid": U, "problems": [str(problem.uuid)]}).status_code == 403
    assert not Data.objects.exists()


def test_it_lists_data_paginated(uploader):
    DataFactory.create_batch(3)
    page = uploader.get(f"{API}/data/", page_size=2).json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 3 and len(page["results"]) == 2


def test_it_filters_data_by_problem(uploader):
    problem = ProblemFactory.create()
    mine = DataFactory.create(problems=[uuid.uuid4(), problem.uuid])
    DataFactory.create(problems=[uuid.uuid4()])
    page = uploader.get(f"{API}/data/", problem=str(problem.uuid)).json()
    assert [d["uuid"] for d in page["results"]] == [str(mine.uuid)]


@pytest.mark.parametrize("bad", ["x", U.upper()])
def test_it_refuses_a_malformed_problem_filter(uploader, bad):
    r = uploader.get(f"{API}/data/", problem=bad)
    assert r.status_code == 400
    assert "problem" in r.json()


def test_it_shows_one_data(uploader):
    data = DataFactory.create(problems=[uuid.UUID(U)])
    r = uploader.get(f"{API}/data/{data.uuid}/")
    assert r.status_code == 200
    assert r.json()["problems"] == [U]


def test_it_answers_404_for_unknown_data(uploader):
    assert uploader.get(f"{API}/data/{uuid.uuid4()}/").status_code == 404


def test_it_answers_404_for_a_malformed_data_uuid(uploader):
    data = DataFactory.create()
    assert uploader.get(f"{API}/data/{str(data.uuid).upper()}/").status_code == 404
