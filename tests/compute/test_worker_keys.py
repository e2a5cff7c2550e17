"""The reference worker sends an Idempotency-Key with every claim, heartbeat and result,
and the same key again when it retries the same request (issue 16)."""

from typing import Any

import psycopg
import pytest
from django.db import connection

from compute.api import LEARNUPLET, PREDUPLET, Orchestrator, Response, Unreachable
from compute.storage import DirectoryStorage
from compute.worker import CONFIRM_TRIES, Lease, Worker
from idempotency.models import lock_id
from tests.factories import LearnupletFactory
from tests.live import database_url


class Recording(Orchestrator):
    """An Orchestrator that answers from a script and records each request's key."""

    def __init__(self, answers: list[Any]) -> None:
        super().__init__("http://orchestrator.invalid", "token")
        self.answers = answers
        self.sent: list[tuple[str, str, str | None]] = []

    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None,
                *, key: str | None = None, wait: float = 0) -> Response:
        self.sent.append((method, path, key))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return Response(answer, {"uuid": "t", "attempt": 1} if answer == 200 else None, {})


def test_a_claim_without_an_answer_is_retried_with_its_key(tmp_path):
    client = Recording([Unreachable("reset"), 200, 204, 204])
    worker = Worker(client, DirectoryStorage(tmp_path))
    unanswered: dict[str, str] = {}

    with pytest.raises(Unreachable):
        worker.claim_one(unanswered)
    claimed = worker.claim_one(unanswered)
    worker.claim_one(unanswered)

    (_, _, lost), (_, _, retry), (_, _, next_pred), (_, _, next_learn) = client.sent
    assert claimed is not None and claimed[0] == PREDUPLET
    assert lost is not None and retry == lost
    assert len({lost, next_pred, next_learn}) == 3
    assert unanswered == {}


def test_a_result_is_retried_with_its_key_and_a_rewritten_one_gets_another(tmp_path):
    from compute.api import ApiError

    client = Recording([Unreachable("503"), ApiError(400, {"perf": ["bad"]}, "result"), 200])
    worker = Worker(client, DirectoryStorage(tmp_path))

    worker._report(LEARNUPLET, "t", {"attempt": 1, "status": "done", "perf": 0.5})

    (_, _, first), (_, _, retry), (_, _, failed) = client.sent
    assert first is not None and retry == first
    assert failed not in (None, first)


def test_a_confirmation_is_retried_with_its_key(tmp_path):
    client = Recording([Unreachable("reset")] * (CONFIRM_TRIES - 1) + [200])
    lease = Lease(client, LEARNUPLET, "t", 1, interval=60)

    assert lease.confirm()
    keys = {key for _, _, key in client.sent}
    assert len(client.sent) == CONFIRM_TRIES and len(keys) == 1 and None not in keys


@pytest.mark.django_db(transaction=True)
def test_a_claim_with_the_same_key_answers_the_same_task(live_server, worker):
    LearnupletFactory.create_batch(2)
    client = Orchestrator(live_server.url, worker.token)

    first = client.claim(LEARNUPLET, key="claim-1")
    again = client.claim(LEARNUPLET, key="claim-1")

    assert first is not None and again is not None
    assert again.body == first.body
    assert again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.django_db(transaction=True)
def test_a_request_still_running_is_worth_retrying(live_server, worker):
    LearnupletFactory.create()
    client = Orchestrator(live_server.url, worker.token)
    with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [lock_id(worker.client.user.pk, "claim-1")])
        with pytest.raises(Unreachable, match="still running"):
            client.claim(LEARNUPLET, key="claim-1")

    assert client.claim(LEARNUPLET, key="claim-1") is not None
