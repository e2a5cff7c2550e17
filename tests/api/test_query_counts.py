"""Query counts do not grow with the data: every list, the leaderboard and registrations.

Each test runs the same request over a small and a large data set, compares the counts,
and pins the large one with django_assert_num_queries so that a new per-row query fails.
Authentication costs 1 query (the knox token with its user and ApiClient row); a list
then counts and reads its page.
"""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from problems.models import Problem
from tests.factories import AlgoFactory, DataFactory, LearnupletFactory, PredupletFactory, ProblemFactory

API = "/api/v1"


def queries(request: Callable[[], Any]) -> int:  # a test client's response
    with CaptureQueriesContext(connection) as ctx:
        response = request()
    assert response.status_code in (200, 201), response.content
    return len(ctx.captured_queries)


def grow_problems(n: int) -> None:
    ProblemFactory.create_batch(n)


def grow_algos(n: int) -> None:
    AlgoFactory.create_batch(n, problem=ProblemFactory.create())


def grow_data(n: int) -> None:
    # Some rows are test data, which clients' lists leave out with a subquery.
    problem = ProblemFactory.create(test_dataset=[uuid.uuid4()])
    DataFactory.create_batch(n, problems=[problem.uuid])
    DataFactory.create(uuid=problem.test_dataset[0], problems=[problem.uuid])


def grow_learnuplets(n: int) -> None:
    algo = AlgoFactory.create()
    for rank in range(n):
        LearnupletFactory.create(algo=algo, rank=rank, status="done", perf=rank / n)


def grow_preduplets(n: int) -> None:
    PredupletFactory.create_batch(n, problem=ProblemFactory.create())


# Expected queries by role: for clients, learnuplet and preduplet pages cost one more, the
# lookup of the page's test data to scrub.
LISTS = [
    ("/problems/", grow_problems, {Role.CLIENT: 3, Role.COMPUTE: 3}),
    ("/algos/", grow_algos, {Role.CLIENT: 3, Role.COMPUTE: 3}),
    ("/data/", grow_data, {Role.CLIENT: 3, Role.COMPUTE: 3}),
    ("/learnuplets/", grow_learnuplets, {Role.CLIENT: 4, Role.COMPUTE: 3}),
    ("/preduplets/", grow_preduplets, {Role.CLIENT: 4, Role.COMPUTE: 3}),
]


@pytest.mark.parametrize("role", [Role.CLIENT, Role.COMPUTE])
@pytest.mark.parametrize(("path", "grow", "expected_by_role"), LISTS)
def test_it_lists_with_as_many_queries_for_1_row_as_for_50(
    callers, django_assert_num_queries, role, path, grow, expected_by_role
):
    expected = expected_by_role[role]
    caller = callers[role]
    grow(1)
    small = queries(lambda: caller.get(f"{API}{path}"))
    grow(49)
    assert caller.get(f"{API}{path}").json()["count"] >= 50
    with django_assert_num_queries(expected):
        caller.get(f"{API}{path}")
    assert small == expected


def test_it_filters_learnuplets_with_as_many_queries_for_1_row_as_for_50(uploader, django_assert_num_queries):
    algo = AlgoFactory.create()
    LearnupletFactory.create(algo=algo, rank=0)
    params = {"algo": str(algo.uuid), "status": "todo,waiting"}
    small = queries(lambda: uploader.get(f"{API}/learnuplets/", **params))
    for rank in range(1, 50):
        LearnupletFactory.create(algo=algo, rank=rank, status="waiting", queued_at=None)
    with django_assert_num_queries(small):
        assert uploader.get(f"{API}/learnuplets/", **params).json()["count"] == 50


def test_it_builds_the_leaderboard_with_as_many_queries_for_1_algo_as_for_50(
    uploader, django_assert_num_queries
):
    problem = ProblemFactory.create()

    def add_algos(n: int) -> None:
        for _ in range(n):
            algo = AlgoFactory.create(problem=problem)
            LearnupletFactory.create(algo=algo, rank=0, status="done", perf=0.5)
            LearnupletFactory.create(algo=algo, rank=1, status="failed")

    add_algos(1)
    small = queries(lambda: uploader.get(f"{API}/problems/{problem.uuid}/leaderboard/"))
    add_algos(49)
    with django_assert_num_queries(small):
        assert len(uploader.get(f"{API}/problems/{problem.uuid}/leaderboard/").json()) == 50


def register_data(caller, n: int, problems: list[Problem]):
    body = {"uuid": [str(uuid.uuid4()) for _ in range(n)], "problems": [str(p.uuid) for p in problems]}
    return lambda: caller.post(f"{API}/data/", body)


def test_it_registers_1_or_200_data_with_as_many_queries(uploader, django_assert_num_queries):
    problem = ProblemFactory.create()
    small = queries(register_data(uploader, 1, [problem]))
    with django_assert_num_queries(small):
        register_data(uploader, 200, [problem])()


def test_it_registers_1_or_200_data_for_algos_with_as_many_queries(uploader, django_assert_num_queries):
    problems = [ProblemFactory.create(size_train_dataset=3) for _ in range(2)]
    for problem in problems:
        AlgoFactory.create_batch(3, problem=problem)
    small = queries(register_data(uploader, 1, problems))
    with django_assert_num_queries(small):
        assert register_data(uploader, 200, problems)().json()["new_learnuplets"] == 2 * 3 * 67


def test_it_registers_an_algo_over_1_or_200_data_with_as_many_queries(uploader, django_assert_num_queries):
    small_problem, big_problem = ProblemFactory.create(size_train_dataset=2), ProblemFactory.create(size_train_dataset=2)
    DataFactory.create(problems=[small_problem.uuid])
    DataFactory.create_batch(200, problems=[big_problem.uuid])
    small = queries(lambda: uploader.post(f"{API}/algos/", {"problem": str(small_problem.uuid), "name": "a"}))
    with django_assert_num_queries(small):
        r = uploader.post(f"{API}/algos/", {"problem": str(big_problem.uuid), "name": "b"})
    assert r.json()["new_learnuplets"] == 100
