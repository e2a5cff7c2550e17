"""Schemathesis against the live OpenAPI document of a running server (issue 9).

Every operation of the document, with positive and negative data, each request sent as
every role: no 500, and every answer as the document says (status code, content type,
body, headers); invalid data is refused. A third of the cases of an operation with a path
parameter name a real record (a todo task to claim, a task the compute caller holds for
heartbeats and results), so the fuzzer reaches past the 404s.

Bounded for CI: FUZZ_EXAMPLES examples per operation and strategy (default 8), no deadline.
"""

import os
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest
import schemathesis
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Role
from tasks.models import Status
from tests.conftest import Caller, make_caller
from tests.factories import AlgoFactory, DataFactory, LearnupletFactory, PredupletFactory, ProblemFactory, SiteFactory

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


# Status codes answered over the run (`pytest -s` prints them after each operation).
ANSWERS: Counter[int] = Counter()


def documented_operations() -> list[tuple[str, str]]:
    """The operations the v1 document describes, generated in-process at collection."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return sorted((method.upper(), path) for path, ops in document["paths"].items() for method in ops)


OPERATIONS = documented_operations()


@dataclass
class World:
    """Records for path parameters that exist: a todo task to claim, and a pending one that
    the compute caller holds (attempt 1) to heartbeat and report on."""

    by_prefix: dict[str, uuid.UUID]
    held: dict[str, uuid.UUID]

    def known(self, path: str) -> uuid.UUID:
        prefix = path.split("/")[3]
        if path.endswith(("/heartbeat/", "/result/")):
            return self.held[prefix]
        return self.by_prefix[prefix]


@pytest.fixture
def callers_by_role(transactional_db: None) -> dict[str, Caller]:
    return {role: make_caller(f"fuzz-{role}", role) for role in Role.values}


@pytest.fixture
def world(callers_by_role: dict[str, Caller]) -> World:
    problem = ProblemFactory.create()
    algo = AlgoFactory.create(problem=problem)
    data = DataFactory.create(problems=[problem.uuid])
    learnuplet = LearnupletFactory.create(algo=algo, train_data=[data.uuid])
    preduplet = PredupletFactory.create(problem=problem, data=[data.uuid])
    held = {"worker": callers_by_role[Role.COMPUTE].worker, "attempt": 1, "status": Status.PENDING,
            "lease_expires_at": timezone.now() + timedelta(hours=1)}
    return World(
        {"problems": problem.uuid, "algos": algo.uuid, "data": data.uuid,
         "learnuplets": learnuplet.uuid, "preduplets": preduplet.uuid, "sites": SiteFactory.create().uuid},
        {"learnuplets": LearnupletFactory.create(algo=algo, train_data=[data.uuid], **held).uuid,
         "preduplets": PredupletFactory.create(problem=problem, data=[data.uuid], **held).uuid},
    )


@pytest.fixture
def live_schema(live_server):
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/")


def test_it_fuzzes_the_operations_the_live_server_documents(live_schema):
    live = sorted((op.ok().method.upper(), op.ok().path) for op in live_schema.get_all_operations())
    assert live == OPERATIONS


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_it_answers_within_the_schema(live_schema, callers_by_role, world, method, path):
    operation = live_schema[path][method]
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    names = [p.name for p in operation.path_parameters]
    if names:
        (name,) = names
        strategies.append(operation.as_strategy(path_parameters={name: str(world.known(path))}))

    @given(case=st.one_of(strategies))
    @settings(max_examples=EXAMPLES * len(strategies), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case):
        if isinstance(case.query, dict) and "wait" in case.query:
            # A waiting claim or feed read holds its answer up to `wait` seconds: what the
            # fuzzer checks is the answer, not the wait (tests/queue/test_waiting.py is).
            try:
                case.query["wait"] = min(float(case.query["wait"]), 0.2)
            except (TypeError, ValueError):
                pass
        # One request may be refused to one role and served to another: send it as each.
        for caller in callers_by_role.values():
            answer = case.call_and_validate(headers={"Authorization": f"Token {caller.token}"}, checks=CHECKS)
            ANSWERS[answer.status_code] += 1

    fuzz()
    print(f"{method} {path}: answers so far {dict(sorted(ANSWERS.items()))}")
