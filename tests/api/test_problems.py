"""POST/GET /api/v1/problems/ and the leaderboard: success, 400, 401, 403, 404."""

import uuid

import pytest

from problems.models import Problem
from tests.factories import AlgoFactory, LearnupletFactory, ProblemFactory

API = "/api/v1"
U = "0b7c4f6e-8a1d-4c2b-9e3f-5a6b7c8d9e0f"


def body(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "workflow": str(uuid.uuid4()),
        "test_dataset": [str(uuid.uuid4()), str(uuid.uuid4())],
        "size_train_dataset": 3,
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not ...}


def test_it_creates_a_problem_and_shows_its_creator_everything(uploader):
    sent = body(uuid=U, higher_is_better=False)
    r = uploader.post(f"{API}/problems/", sent)
    assert r.status_code == 201, r.json()
    got = r.json()
    assert got["uuid"] == U
    assert got["workflow"] == sent["workflow"]
    assert got["test_dataset"] == sent["test_dataset"]
    assert got["size_train_dataset"] == 3
    assert got["higher_is_better"] is False
    assert got["timestamp_upload"]


def test_it_generates_the_uuid_when_none_is_given(uploader):
    r = uploader.post(f"{API}/problems/", body())
    assert r.status_code == 201
    assert Problem.objects.filter(pk=r.json()["uuid"]).exists()


def test_it_defaults_higher_is_better_to_true(uploader):
    r = uploader.post(f"{API}/problems/", body())
    assert r.json()["higher_is_better"] is True


def test_it_records_who_created_the_problem(uploader):
    r = uploader.post(f"{API}/problems/", body())
    assert Problem.objects.get(pk=r.json()["uuid"]).created_by == uploader.client.user


def test_it_lets_an_operator_create_a_problem(operator):
    assert operator.post(f"{API}/problems/", body()).status_code == 201


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("uuid", U.upper()),
        ("uuid", U.replace("-", "")),
        ("uuid", "{" + U + "}"),
        ("uuid", "urn:uuid:" + U),
        ("uuid", 12),
        ("uuid", None),
        ("workflow", ...),
        ("workflow", "not-a-uuid"),
        ("workflow", U.upper()),
        ("workflow", ["x"]),
        ("test_dataset", ...),
        ("test_dataset", U),
        ("test_dataset", [U.upper()]),
        ("test_dataset", [U, U]),
        ("test_dataset", {"a": U}),
        ("size_train_dataset", ...),
        ("size_train_dataset", 0),
        ("size_train_dataset", -1),
        ("size_train_dataset", "2"),
        ("size_train_dataset", 2.5),
        ("size_train_dataset", True),
        ("size_train_dataset", None),
        ("size_train_dataset", 2**31),
        ("higher_is_better", "yes"),
        ("higher_is_better", 1),
        ("higher_is_better", None),
    ],
)
def test_it_refuses_a_malformed_field_naming_it(uploader, field, value):
    r = uploader.post(f"{API}/problems/", body(**{field: value}))
    assert r.status_code == 400
    assert field in r.json()
    assert not Problem.objects.exists()


def test_it_refuses_a_duplicate_problem_uuid(uploader):
    ProblemFactory.create(uuid=U)
    r = uploader.post(f"{API}/problems/", body(uuid=U))
    assert r.status_code == 400
    assert "uuid" in r.json()


@pytest.mark.parametrize("payload", [[], "x", 3, None])
def test_it_refuses_a_body_that_is_not_an_object(uploader, payload):
    r = uploader.http.post(f"{API}/problems/", payload, format="json")
    assert r.status_code == 400


def test_it_refuses_anonymous_creation(anonymous):
    assert anonymous.post(f"{API}/problems/", body(), format="json").status_code == 401


def test_it_forbids_compute_workers_to_create_problems(worker):
    assert worker.post(f"{API}/problems/", body()).status_code == 403
    assert not Problem.objects.exists()


def test_it_lists_problems_paginated(uploader):
    ProblemFactory.create_batch(3)
    r = uploader.get(f"{API}/problems/", page_size=2)
    assert r.status_code == 200
    page = r.json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 3 and len(page["results"]) == 2
    assert page["previous"] is None and "page=2" in page["next"]


def test_it_lists_problems_to_every_role(callers):
    ProblemFactory.create()
    for caller in callers.values():
        assert caller.get(f"{API}/problems/").json()["count"] == 1


def test_it_shows_one_problem(uploader):
    problem = ProblemFactory.create(size_train_dataset=7)
    r = uploader.get(f"{API}/problems/{problem.uuid}/")
    assert r.status_code == 200
    assert r.json()["uuid"] == str(problem.uuid) and r.json()["size_train_dataset"] == 7


def test_it_answers_404_for_an_unknown_problem(uploader):
    r = uploader.get(f"{API}/problems/{uuid.uuid4()}/")
    assert r.status_code == 404
    assert "detail" in r.json()


@pytest.mark.parametrize("bad", ["nope", U.upper(), U.replace("-", ""), U + "0"])
def test_it_answers_json_404_for_a_malformed_uuid_in_the_path(uploader, bad):
    ProblemFactory.create(uuid=U)
    r = uploader.get(f"{API}/problems/{bad}/")
    assert r.status_code == 404
    assert r["Content-Type"] == "application/json" and r.json()


def test_it_refuses_anonymous_reads(anonymous):
    assert anonymous.get(f"{API}/problems/").status_code == 401


# Leaderboard

def test_it_ranks_algos_best_first_with_untrained_ones_last(uploader):
    problem = ProblemFactory.create()
    weak, strong, untrained = (AlgoFactory.create(problem=problem, name=n) for n in ("weak", "strong", "new"))
    LearnupletFactory.create(algo=weak, rank=0, status="done", perf=0.2)
    LearnupletFactory.create(algo=strong, rank=0, status="done", perf=0.9)
    best = LearnupletFactory.create(algo=strong, rank=1, status="done", perf=0.95)
    LearnupletFactory.create(algo=strong, rank=2, status="failed")
    LearnupletFactory.create(algo=untrained, rank=0, status="todo")
    r = uploader.get(f"{API}/problems/{problem.uuid}/leaderboard/")
    assert r.status_code == 200
    rows = r.json()
    assert [row["name"] for row in rows] == ["strong", "weak", "new"]
    assert rows[0] == {
        "algo": str(strong.uuid), "name": "strong", "perf": 0.95, "model": str(best.model_end),
        "rank": 1, "done": 2, "failed": 1, "total": 3,
    }
    assert rows[2]["perf"] is None and rows[2]["model"] is None and rows[2]["rank"] is None


def test_it_ranks_lowest_perf_first_when_lower_is_better(uploader):
    problem = ProblemFactory.create(higher_is_better=False)
    for name, perf in (("high", 0.9), ("low", 0.1)):
        LearnupletFactory.create(algo=AlgoFactory.create(problem=problem, name=name), rank=0, status="done", perf=perf)
    rows = uploader.get(f"{API}/problems/{problem.uuid}/leaderboard/").json()
    assert [row["name"] for row in rows] == ["low", "high"]


def test_it_leaves_other_problems_off_the_leaderboard(uploader):
    problem = ProblemFactory.create()
    AlgoFactory.create()
    assert uploader.get(f"{API}/problems/{problem.uuid}/leaderboard/").json() == []


def test_it_answers_404_for_the_leaderboard_of_an_unknown_problem(uploader):
    assert uploader.get(f"{API}/problems/{uuid.uuid4()}/leaderboard/").status_code == 404
