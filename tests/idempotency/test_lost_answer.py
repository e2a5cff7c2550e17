"""A client whose connection died after the commit gets its answer on retry (issue 16):
over a real HTTP server, the request is sent on a raw socket that is closed, unread, once
its effect committed; the retry with the same key answers it, and registered it once."""

import json
import socket
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from idempotency.models import IdempotencyKey
from learning.models import Learnuplet
from problems.models import Data, DataUpload
from tests.factories import AlgoFactory, LearnupletFactory, ProblemFactory
from tests.helpers import API
from tests.live import Http, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def send_and_hang_up(url: str, path: str, body: Any, headers: dict[str, str], *, until: Any) -> None:
    """POST on a raw socket, wait for `until()` (the effect committed), close without reading."""
    split = urlsplit(url)
    content = json.dumps(body).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in {
        "Host": split.netloc, "Content-Type": "application/json", "Content-Length": str(len(content)),
        "Connection": "close", **headers}.items())
    with socket.create_connection((split.hostname, split.port), timeout=30) as raw:
        raw.sendall(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + content)
        wait_for(until, timeout=30, what="the request's commit")


def test_a_registration_whose_answer_was_lost_is_answered_on_retry_and_registered_once(live_server, uploader):
    problem = ProblemFactory.create(size_train_dataset=1)
    AlgoFactory.create(problem=problem)
    body = {"uuid": [str(uuid.uuid4()), str(uuid.uuid4())], "problems": [str(problem.pk)]}
    auth = {"Authorization": f"Token {uploader.token}"}

    send_and_hang_up(live_server.url, f"{API}/data/", body, {**auth, "Idempotency-Key": "lost"},
                     until=lambda: IdempotencyKey.objects.filter(key="lost").exists())
    http = Http(live_server.url, auth["Authorization"])
    retry = http.request("POST", f"{API}/data/", body, headers={"Idempotency-Key": "lost"})
    without_key = http.post(f"{API}/data/", body)

    assert retry.status == 201, retry.text
    assert retry.body["new_learnuplets"] == 2
    assert sorted(d["uuid"] for d in retry.body["data"]) == sorted(body["uuid"])
    assert without_key.status == 400  # what a retry met before: "already registered"
    assert (Data.objects.count(), DataUpload.objects.count(), Learnuplet.objects.count()) == (2, 1, 2)


def test_a_claim_whose_answer_was_lost_is_not_leaked(live_server, worker):
    task = LearnupletFactory.create()
    LearnupletFactory.create()
    auth = {"Authorization": f"Token {worker.token}"}

    send_and_hang_up(live_server.url, f"{API}/learnuplets/claim/", {}, {**auth, "Idempotency-Key": "claim-1"},
                     until=lambda: IdempotencyKey.objects.filter(key="claim-1").exists())
    retry = Http(live_server.url, auth["Authorization"]).request(
        "POST", f"{API}/learnuplets/claim/", {}, headers={"Idempotency-Key": "claim-1"})

    assert retry.status == 200, retry.text
    assert retry.body["uuid"] == str(task.pk)
    assert retry.body["attempt"] == 1
    assert Learnuplet.objects.filter(status="pending").count() == 1
