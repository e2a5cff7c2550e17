"""Without the header a request is what it was: same queries, no transaction (the claim
runs without one). With it, a handful more, whatever the payload."""

import uuid

import pytest

from idempotency.models import IdempotencyKey
from tests.factories import LearnupletFactory, ProblemFactory
from tests.helpers import API
from tests.idempotency.support import keyed

pytestmark = pytest.mark.django_db

# Measured before Idempotency-Key existed (the token lookup, the lease probe, the claim).
CLAIM = 3
PROBLEM = 6  # the token lookup, two savepoints around the insert
# With the key, in a test's transaction (savepoints stand for BEGIN and COMMIT): one
# savepoint and its release, the advisory lock, the stored answer's lookup, its insert, the
# pruning of expired answers. Deployed: BEGIN, COMMIT and those four statements.
KEYED_EXTRA = 6
# A replay: the token lookup, the lock and the lookup, in their savepoint.
REPLAY = 5


def problem_body() -> dict[str, object]:
    return {"workflow": str(uuid.uuid4()), "test_dataset": [str(uuid.uuid4())], "size_train_dataset": 1}


def test_a_claim_without_the_key_costs_what_it_did(worker, django_assert_num_queries):
    LearnupletFactory.create()

    with django_assert_num_queries(CLAIM) as ctx:
        r = worker.post(f"{API}/learnuplets/claim/")

    assert r.status_code == 200
    assert not any("SAVEPOINT" in str(q["sql"]) for q in ctx.captured_queries), "a transaction"
    assert not IdempotencyKey.objects.exists()


def test_a_registration_without_the_key_costs_what_it_did(uploader, django_assert_num_queries):
    with django_assert_num_queries(PROBLEM):
        assert uploader.post(f"{API}/problems/", problem_body()).status_code == 201


def test_a_keyed_claim_costs_a_few_queries_more(worker, django_assert_num_queries):
    LearnupletFactory.create()

    with django_assert_num_queries(CLAIM + KEYED_EXTRA):
        assert keyed(worker, f"{API}/learnuplets/claim/").status_code == 200


@pytest.mark.parametrize("size", [1, 500])
def test_a_keyed_registration_costs_as_many_queries_for_a_small_or_large_body(size, uploader, django_assert_num_queries):
    body = {**problem_body(), "test_dataset": [str(uuid.uuid4()) for _ in range(size)]}

    with django_assert_num_queries(PROBLEM + KEYED_EXTRA):
        assert keyed(uploader, f"{API}/problems/", body, key="k").status_code == 201
    with django_assert_num_queries(REPLAY):
        assert keyed(uploader, f"{API}/problems/", body, key="k").status_code == 201
