"""Answers are kept 24 hours: `prune_idempotency_keys` deletes older ones in one statement,
and every keyed request deletes a few, so nothing needs scheduling."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from idempotency.models import PRUNED_PER_REQUEST, IdempotencyKey
from tests.conftest import Caller
from tests.helpers import API
from tests.idempotency.support import keyed

pytestmark = pytest.mark.django_db


def answers(caller: Caller, n: int, *, age: timedelta) -> None:
    IdempotencyKey.objects.bulk_create(
        IdempotencyKey(user=caller.client.user, key=f"{age}-{i}", method="POST", path=f"{API}/problems/",
                       body_digest="0" * 64, status_code=201, body="{}", created_at=timezone.now() - age)
        for i in range(n)
    )


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune_idempotency_keys", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("old", [1, 50])
def test_it_deletes_answers_older_than_24_hours_in_one_statement(old, uploader, django_assert_num_queries):
    answers(uploader, old, age=timedelta(hours=24, minutes=1))
    answers(uploader, 3, age=timedelta(hours=23))

    with django_assert_num_queries(1):
        output = prune()

    assert output == f"deleted {old} idempotency keys older than 24 hours\n"
    assert IdempotencyKey.objects.count() == 3


def test_a_dry_run_counts_them(uploader):
    answers(uploader, 4, age=timedelta(days=2))

    assert prune("--dry-run") == "would delete 4 idempotency keys older than 24 hours\n"
    assert IdempotencyKey.objects.count() == 4


def test_each_keyed_request_deletes_a_few_expired_answers(uploader):
    answers(uploader, 5, age=timedelta(days=3))
    answers(uploader, 1, age=timedelta(hours=1))

    keyed(uploader, f"{API}/problems/", {})

    assert IdempotencyKey.objects.filter(created_at__lt=timezone.now() - timedelta(hours=24)).count() == 5 - PRUNED_PER_REQUEST
    assert IdempotencyKey.objects.count() == 1 + 5 - PRUNED_PER_REQUEST + 1
