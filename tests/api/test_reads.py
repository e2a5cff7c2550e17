"""GET learnuplets/ and preduplets/: shapes, filters, pagination, 400 on bad filters, 404."""

import uuid

import pytest

from problems.models import Problem
from tests.factories import AlgoFactory, LearnupletFactory, PredupletFactory, ProblemFactory

API = "/api/v1"

LEARNUPLET_FIELDS = {
    "uuid", "problem", "workflow", "train_data", "test_data", "algo", "model_start", "model_end",
    "rank", "worker", "status", "perf", "test_perf", "train_perf", "training_creation",
    "training_done", "attempt", "lease_expires_at", "last_error", "site", "not_before", "error_kind",
}
PREDUPLET_FIELDS = {
    "uuid", "problem", "workflow", "data", "prediction_storage_uuid", "model", "worker", "status",
    "timestamp_request", "timestamp_done", "attempt", "lease_expires_at", "last_error", "site",
    "not_before", "error_kind",
}


def listed(caller, path: str, **params: object) -> list[str]:
    r = caller.get(f"{API}/{path}/", **params)
    assert r.status_code == 200, r.json()
    return sorted(row["uuid"] for row in r.json()["results"])


def uuids_of(*records) -> list[str]:
    return sorted(str(r.uuid) for r in records)


# Learnuplets

def test_it_shows_a_learnuplet_with_every_contract_field_to_a_worker(worker):
    learnuplet = LearnupletFactory.create()
    r = worker.get(f"{API}/learnuplets/{learnuplet.uuid}/")
    assert r.status_code == 200
    assert set(r.json()) == LEARNUPLET_FIELDS
    assert r.json()["problem"] == str(learnuplet.problem_id) and r.json()["algo"] == str(learnuplet.algo_id)


def test_it_lists_learnuplets_paginated(uploader):
    LearnupletFactory.create_batch(3)
    page = uploader.get(f"{API}/learnuplets/", page_size=2).json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]


def test_it_filters_learnuplets_by_problem(uploader):
    mine = LearnupletFactory.create()
    LearnupletFactory.create()
    assert listed(uploader, "learnuplets", problem=str(mine.problem_id)) == uuids_of(mine)


def test_it_filters_learnuplets_by_algo(uploader):
    mine = LearnupletFactory.create()
    LearnupletFactory.create(problem=mine.problem, algo=AlgoFactory.create(problem=mine.problem))
    assert listed(uploader, "learnuplets", algo=str(mine.algo_id)) == uuids_of(mine)


def test_it_filters_learnuplets_by_one_status(uploader):
    todo = LearnupletFactory.create(status="todo")
    LearnupletFactory.create(status="waiting", queued_at=None)
    assert listed(uploader, "learnuplets", status="todo") == uuids_of(todo)


def test_it_filters_learnuplets_by_a_comma_separated_status_list(uploader):
    todo = LearnupletFactory.create(status="todo")
    failed = LearnupletFactory.create(status="failed")
    LearnupletFactory.create(status="waiting", queued_at=None)
    assert listed(uploader, "learnuplets", status="todo,failed") == uuids_of(todo, failed)


def test_it_filters_learnuplets_by_worker(uploader, worker):
    mine = LearnupletFactory.create(status="done", perf=0.5, worker=worker.worker)
    LearnupletFactory.create(status="done", perf=0.5, worker=uuid.uuid4())
    assert listed(uploader, "learnuplets", worker=str(worker.worker)) == uuids_of(mine)


def test_it_filters_learnuplets_by_rank(uploader):
    algo = AlgoFactory.create()
    LearnupletFactory.create(algo=algo, rank=0)
    second = LearnupletFactory.create(algo=algo, rank=1, status="waiting", queued_at=None)
    assert listed(uploader, "learnuplets", rank=1) == uuids_of(second)


def test_it_combines_learnuplet_filters(uploader):
    algo = AlgoFactory.create()
    LearnupletFactory.create(algo=algo, rank=0, status="done", perf=0.1)
    wanted = LearnupletFactory.create(algo=algo, rank=1, status="todo")
    LearnupletFactory.create(rank=1, status="todo")
    assert listed(uploader, "learnuplets", algo=str(algo.uuid), status="todo", rank=1) == uuids_of(wanted)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("status", "bogus"),
        ("status", "todo,bogus"),
        ("status", "TODO"),
        ("problem", "x"),
        ("problem", "6A5B4C3D-2E1F-4A0B-9C8D-7E6F5A4B3C2D"),
        ("algo", "12"),
        ("worker", "w"),
        ("rank", "x"),
        ("rank", "-1"),
        ("rank", "1.5"),
    ],
)
def test_it_refuses_a_malformed_learnuplet_filter_naming_it(uploader, name, value):
    r = uploader.get(f"{API}/learnuplets/", **{name: value})
    assert r.status_code == 400
    assert name in r.json()


def test_it_answers_404_for_an_unknown_learnuplet(uploader):
    assert uploader.get(f"{API}/learnuplets/{uuid.uuid4()}/").status_code == 404


def test_it_answers_404_for_a_malformed_learnuplet_uuid(uploader):
    learnuplet = LearnupletFactory.create()
    assert uploader.get(f"{API}/learnuplets/{str(learnuplet.uuid).upper()}/").status_code == 404


def test_it_refuses_anonymous_learnuplet_reads(anonymous):
    assert anonymous.get(f"{API}/learnuplets/").status_code == 401


# Preduplets

def test_it_shows_a_preduplet_with_every_contract_field(uploader):
    preduplet = PredupletFactory.create()
    r = uploader.get(f"{API}/preduplets/{preduplet.uuid}/")
    assert r.status_code == 200
    assert set(r.json()) == PREDUPLET_FIELDS
    assert r.json()["problem"] == str(preduplet.problem_id)


def test_it_lists_preduplets_paginated(uploader):
    PredupletFactory.create_batch(3)
    page = uploader.get(f"{API}/preduplets/", page_size=2).json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 3 and len(page["results"]) == 2


def test_it_filters_preduplets_by_problem(uploader):
    mine = PredupletFactory.create()
    PredupletFactory.create()
    assert listed(uploader, "preduplets", problem=str(mine.problem_id)) == uuids_of(mine)


def test_it_filters_preduplets_by_a_comma_separated_status_list(uploader, worker):
    todo = PredupletFactory.create(status="todo")
    failed = PredupletFactory.create(status="failed")
    PredupletFactory.create(status="done", worker=worker.worker)
    assert listed(uploader, "preduplets", status="todo,failed") == uuids_of(todo, failed)


def test_it_filters_preduplets_by_worker(uploader, worker):
    mine = PredupletFactory.create(status="done", worker=worker.worker)
    PredupletFactory.create(status="done", worker=uuid.uuid4())
    assert listed(uploader, "preduplets", worker=str(worker.worker)) == uuids_of(mine)


@pytest.mark.parametrize(
    ("name", "value"),
    [("status", "waiting,nope"), ("problem", "nope"), ("worker", "6A5B4C3D-2E1F-4A0B-9C8D-7E6F5A4B3C2D")],
)
def test_it_refuses_a_malformed_preduplet_filter_naming_it(uploader, name, value):
    r = uploader.get(f"{API}/preduplets/", **{name: value})
    assert r.status_code == 400
    assert name in r.json()


def test_it_answers_404_for_an_unknown_preduplet(uploader):
    assert uploader.get(f"{API}/preduplets/{uuid.uuid4()}/").status_code == 404


def test_it_answers_404_for_a_malformed_preduplet_uuid(uploader):
    assert uploader.get(f"{API}/preduplets/not-a-uuid/").status_code == 404


# Pagination, shared by every list

def test_it_caps_page_size_at_1000(uploader):
    Problem.objects.bulk_create(
        Problem(workflow=uuid.uuid4(), size_train_dataset=1) for _ in range(1001)
    )
    page = uploader.get(f"{API}/problems/", page_size=5000).json()
    assert page["count"] == 1001
    assert len(page["results"]) == 1000
    assert "page=2" in page["next"]


def test_it_walks_pages_with_next_and_previous(uploader):
    ProblemFactory.create_batch(3)
    first = uploader.get(f"{API}/problems/", page_size=2).json()
    second = uploader.http.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None and second["previous"]
    seen = {p["uuid"] for p in first["results"] + second["results"]}
    assert len(seen) == 3


def test_it_answers_404_for_a_page_past_the_end(uploader):
    r = uploader.get(f"{API}/learnuplets/", page=99)
    assert r.status_code == 404
    assert "detail" in r.json()
