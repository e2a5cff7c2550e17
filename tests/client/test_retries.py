"""A call is retried when no answer came, on a 503 and while its first try still runs,
always with the same Idempotency-Key, so it is applied once (issue 19). A proxy in front of
a live server breaks the connections."""

import threading
import uuid

import psycopg
import pytest
from django.db import connection
from orchestrator_client import Client, Retry, Unavailable

from idempotency.models import lock_id
from learning.models import Learnuplet
from problems.models import Data, DataUpload
from tests.client.support import DROP, UNAVAILABLE, FaultProxy, Recording, new_problem, uuids
from tests.live import database_url

pytestmark = pytest.mark.django_db(transaction=True)

FAST = Retry(tries=4, base=0.05, cap=0.2)


def test_a_registration_whose_connection_died_after_the_commit_is_answered_once(live_server, uploader):
    problem = new_problem(Client(live_server.url, uploader.token))
    Client(live_server.url, uploader.token).algos.create(problem=problem, name="sgd")
    proxy = FaultProxy(live_server.url, [DROP])
    recording = Recording()
    data = uuids(2)

    registered = Client(proxy.url, uploader.token, transport=recording, retry=FAST).data.register(
        data, problems=[problem])

    # The server answered the first try 201; the client never got it, and retried.
    assert proxy.dropped == [b"HTTP/1.1 201 Created"]
    first, retry = recording.tries
    assert first.status is None and first.error == "RemoteProtocolError"
    assert (retry.status, retry.replayed) == (201, True)
    assert first.key is not None and retry.key == first.key
    assert registered.new_learnuplets == 2 and sorted(d["uuid"] for d in registered.data) == sorted(data)
    assert (Data.objects.count(), DataUpload.objects.count(), Learnuplet.objects.count()) == (2, 1, 2)


def test_a_503_is_retried_with_the_same_key(live_server, uploader):
    proxy = FaultProxy(live_server.url, [UNAVAILABLE, UNAVAILABLE])
    recording = Recording()

    problem = new_problem(Client(proxy.url, uploader.token, transport=recording, retry=FAST))

    assert [t.status for t in recording.tries] == [503, 503, 201]
    assert len({t.key for t in recording.tries}) == 1 and recording.tries[0].key is not None
    assert not recording.tries[-1].replayed  # the 503s reached no server: the third try ran it
    assert Client(live_server.url, uploader.token).problems.get(problem)["uuid"] == problem


def test_the_client_gives_up_after_its_tries_and_nothing_is_applied(live_server, uploader):
    proxy = FaultProxy(live_server.url, [UNAVAILABLE] * 3)
    client = Client(proxy.url, uploader.token, retry=Retry(tries=3, base=0.05, cap=0.1))

    with pytest.raises(Unavailable) as raised:
        client.data.register(uuids(1), problems=[str(uuid.uuid4())])

    assert raised.value.status == 503 and "server error" in str(raised.value)
    assert not Data.objects.exists()


def test_a_request_whose_first_try_still_runs_is_retried_until_it_is_answered(live_server, uploader):
    problem = new_problem(Client(live_server.url, uploader.token))
    body = {"uuid": uuids(1), "problems": [problem]}
    recording = Recording()
    client = Client(live_server.url, uploader.token, transport=recording)
    with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as other:
        # As if a first try with this key were still running: its lock is held for 1.5 s.
        other.execute("SELECT pg_advisory_lock(%s)", [lock_id(uploader.client.user.pk, "held")])
        release = threading.Timer(1.5, lambda: other.execute("SELECT pg_advisory_unlock_all()"))
        release.start()
        answer = client.http.call("POST", "data/", json_body=body, key="held")
        release.join()

    assert answer.status == 201
    assert recording.tries[0].status == 409 and recording.tries[-1].status == 201
    assert Data.objects.count() == 1
