"""The claim's plan: one scan of the claim index, no sort, whatever the site (issue 15).

A claim is a prepared statement run on a generic plan (orchestrator_site.compiled), so
the plan that matters is the generic one: the site is a parameter, unknown when it is
planned. With 20,000 todo learnuplets over 10 sites and the platform, analyzed, that plan
must still read the claim index in queue order (LIMIT 1 ... FOR UPDATE SKIP LOCKED stops at
the first row it can lock) instead of sorting every todo task of the site on each claim.
The test explains the very statement tasks.queue compiles and runs, captured on its way to
the database.
"""

import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from learning.models import Learnuplet
from tasks import queue
from tasks.models import PLATFORM
from tests.factories import AlgoFactory, SiteFactory

pytestmark = pytest.mark.django_db

SITES = 10
TASKS = 20_000
CLAIM_INDEX = "learnuplet_claimable"


@pytest.fixture
def queued() -> list[uuid.UUID]:
    """TASKS todo learnuplets over SITES sites and the platform, one in SITES + 1 each,
    in distinct queue order; analyzed. Returns the sites."""
    sites = [SiteFactory.create().pk for _ in range(SITES)]
    algo = AlgoFactory.create()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO learning_learnuplet
                (uuid, problem_id, workflow, train_data, test_data, algo_id, rank, model_start, model_end,
                 status, queued_at, training_creation, site_id)
            SELECT gen_random_uuid(), a.problem_id, p.workflow, ARRAY[gen_random_uuid()], p.test_dataset,
                   a.uuid, i, gen_random_uuid(), gen_random_uuid(), 'todo',
                   now() - interval '1 hour' + i * interval '1 millisecond', now(),
                   (%s::uuid[])[1 + i %% (%s + 1)]
            FROM problems_algo a JOIN problems_problem p ON p.uuid = a.problem_id, generate_series(0, %s - 1) i
            WHERE a.uuid = %s
            """,
            # Index SITES + 1 is past the array's end: NULL, a platform task.
            [sites, SITES, TASKS, algo.pk],
        )
        cursor.execute("ANALYZE learning_learnuplet")
    return sites


def claim_statement(site: uuid.UUID | None) -> tuple[str, list[Any]]:
    """The SQL and bound parameters of claim_next's statement, as sent to PostgreSQL."""
    sent: list[tuple[str, list[Any]]] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append((sql, list(params or ())))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        claimed = queue.claim_next(Learnuplet, worker=uuid.uuid4(), actor="plan-test", site=site)
    assert claimed is not None and claimed.site_id == site
    [statement] = [(sql, params) for sql, params in sent if "SKIP LOCKED" in sql]
    return statement


_PLACEHOLDER = re.compile(r"(%%|%s)")
_TYPES: list[tuple[type, str]] = [
    (bool, "boolean"), (int, "integer"), (float, "double precision"), (uuid.UUID, "uuid"),
    (timedelta, "interval"), (datetime, "timestamptz"), (str, "text"),
]


def _type_of(value: Any) -> str:
    for python, sql in _TYPES:
        if isinstance(value, python):
            return sql
    raise AssertionError(f"no SQL type for the parameter {value!r}")


def generic_plan(sql: str, params: Sequence[Any]) -> dict[str, Any]:
    """The generic plan of `sql`, prepared with its parameters as $1, $2..., as a
    compiled statement runs (psycopg prepares it server-side from its second use)."""
    numbers = iter(range(1, len(params) + 1))
    numbered = "".join(
        "%" if part == "%%" else f"${next(numbers)}" if part == "%s" else part for part in _PLACEHOLDER.split(sql)
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("DEALLOCATE ALL")
        cursor.execute(f"PREPARE claim_plan ({', '.join(map(_type_of, params))}) AS {numbered}".replace("%", "%%"))
        cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE claim_plan ({', '.join(['%s'] * len(params))})", params)
        [(plan,)] = cursor.fetchall()
        cursor.execute("DEALLOCATE claim_plan")
    top: dict[str, Any] = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    return top


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def scans_of_tasks(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(node type, index) of every node reading the learnuplet table."""
    return [(n["Node Type"], n.get("Index Name")) for n in nodes(plan) if n.get("Relation Name") == "learning_learnuplet"]


def picking(plan: dict[str, Any]) -> list[str]:
    """The node types of the CTE that picks the task, top down."""
    [picked] = [n for n in nodes(plan) if n.get("Subplan Name") == "CTE picked"]
    return [n["Node Type"] for n in nodes(picked)]


@pytest.mark.parametrize("of", ["a site", "the platform"])
def test_the_generic_claim_plan_is_one_scan_of_the_claim_index_without_a_sort(queued, of):
    site = queued[3] if of == "a site" else None
    sql, params = claim_statement(site)
    # The site travels as a parameter: the plan below serves every site.
    assert (site or PLATFORM) in params and str(site or PLATFORM) not in sql

    plan = generic_plan(sql, params)

    types = [n["Node Type"] for n in nodes(plan)]
    assert "Sort" not in types and "Incremental Sort" not in types, json.dumps(plan, indent=1)
    assert picking(plan) == ["Limit", "LockRows", "Index Scan"], json.dumps(plan, indent=1)
    # One scan picks (the claim index), the other finds the picked row by primary key for
    # the UPDATE; nothing reads the table whole.
    scans = scans_of_tasks(plan)
    assert [s for s in scans if s[1] == CLAIM_INDEX] == [("Index Scan", CLAIM_INDEX)], scans
    assert sorted(scans, key=str) == sorted(
        [("Index Scan", CLAIM_INDEX), ("Index Scan", "learning_learnuplet_pkey"), ("ModifyTable", None)], key=str
    ), scans


def test_without_the_claim_index_the_same_plan_sorts(queued):
    """The test above has teeth: at this size the planner does sort when the index cannot
    give the order (the index is dropped inside the test's transaction, rolled back)."""
    sql, params = claim_statement(queued[3])
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {CLAIM_INDEX}")

    plan = generic_plan(sql, params)

    assert "Sort" in [n["Node Type"] for n in nodes(plan)], json.dumps(plan, indent=1)
