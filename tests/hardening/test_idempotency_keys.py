"""Idempotency-Key under attack and under faults (issue 16), against gunicorn:

- hostile key headers, as raw bytes over a real connection, on every write route of v1:
  never a 5xx, and wherever the application sees one, a JSON 400 naming the header;
- clients registering data with a key each, retrying with the same key on 503, no answer
  or 409, while the server's database connections are terminated again and again: every
  registration ends answered 201 and applied once, including those whose connection died
  after the commit (before, their retry met 400 "already registered").
"""

import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from django.db import connection

from accounts.models import Role
from tests.conftest import make_caller
from tests.factories import LearnupletFactory, PredupletFactory
from tests.hardening.test_db_faults import Registration as Final
from tests.hardening.test_db_faults import SERVER_NAME, SIZE, check_whole, setup_problem, with_application_name
from tests.live import Answer, Http, Server, database_url, wait_for

API = "/api/v1"
CLIENTS = 6

pytestmark = [pytest.mark.slow]

HOSTILE_KEYS: dict[str, bytes] = {
    "empty": b"",
    "spaces": b"   ",
    "inner space": b"a b",
    "tab": b"a\tb",
    "256 characters": b"k" * 256,
    "10,000 characters": b"k" * 10_000,
    "latin-1": "clé".encode("latin-1"),
    "UTF-8": "ключ".encode(),
    "not UTF-8": b"\xff\xfe\xfd",
    "DEL": b"a\x7fb",
    "NUL": b"a\x00b",
    "escape": b"\x1b[31mred",
    "carriage return": b"a\rb",
}


def raw_post(url: str, path: str, headers: dict[str, bytes], body: bytes = b"{}") -> tuple[int, bytes, bytes]:
    """POST with header values sent as given; (status, headers, body) of the answer, 0 if none."""
    host, port = url.removeprefix("http://").split(":")
    lines = [f"POST {path} HTTP/1.1".encode(), f"Host: {host}:{port}".encode(), b"Connection: close",
             b"Content-Type: application/json", f"Content-Length: {len(body)}".encode()]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        raw.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    if not answer:
        return 0, b"", b""
    head, _, content = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, content


@pytest.mark.django_db(transaction=True)
def test_hostile_keys_never_get_a_5xx_on_any_write_route() -> None:
    client = make_caller("hostile-client", Role.CLIENT)
    compute = make_caller("hostile-worker", Role.COMPUTE)
    held = {"worker": compute.worker, "attempt": 1, "status": "pending", "lease_expires_at": "2999-01-01T00:00:00Z"}
    lu, pu = LearnupletFactory.create(**held).pk, PredupletFactory.create(**held).pk
    routes = {f"{API}/{c}/": client for c in ("problems", "algos", "data", "preduplets")}
    routes |= {f"{API}/{t}/claim/": compute for t in ("learnuplets", "preduplets")}
    routes |= {f"{API}/{t}/{pk}/{a}/": compute for t, pk in (("learnuplets", lu), ("preduplets", pu))
               for a in ("claim", "heartbeat", "result")}
    answers: dict[int, int] = {}
    with Server(database_url(connection.settings_dict), workers=2) as server:
        for path, caller in routes.items():
            for name, key in HOSTILE_KEYS.items():
                status, head, content = raw_post(server.url, path, {
                    "Authorization": f"Token {caller.token}".encode(), "Idempotency-Key": key})
                answers[status] = answers.get(status, 0) + 1
                assert 400 <= status < 500, (path, name, status, content[:300])
                if b"application/json" in head:  # the application's answer, not gunicorn's
                    assert status == 400 and "Idempotency-Key" in json.loads(content), (path, name, content)
    print(f"{len(routes)} write routes x {len(HOSTILE_KEYS)} hostile keys: answers {answers}")


@dataclass
class Registration:
    uuids: list[str]
    answers: list[tuple[int, bool]] = field(default_factory=list)  # (status, replayed) per try


def post(url: str, token: str, path: str, body: Any, key: str) -> tuple[int, bool, Any]:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Token {token}", "Content-Type": "application/json", "Idempotency-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.headers.get("Idempotent-Replayed") == "true", r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Idempotent-Replayed") == "true", err.read()
    except (urllib.error.URLError, OSError):
        return 0, False, b""


@pytest.mark.django_db(transaction=True)
def test_retries_with_the_key_apply_each_registration_once_while_connections_are_terminated() -> None:
    client = make_caller("idem-fault-client", Role.CLIENT)
    url = with_application_name(database_url(connection.settings_dict), SERVER_NAME)
    dbname = connection.settings_dict["NAME"]
    done: list[Registration] = []
    lock = threading.Lock()
    stop = threading.Event()

    def register(server_url: str, problem: str) -> None:
        while not stop.is_set():
            r = Registration([str(uuid.uuid4()) for _ in range(2 * SIZE)])
            key = str(uuid.uuid4())
            for _ in range(200):  # retry as a client would: the same key until an answer
                status, replayed, _ = post(server_url, client.token, f"{API}/data/",
                                           {"uuid": r.uuids, "problems": [problem]}, key)
                r.answers.append((status, replayed))
                if status not in (0, 409, 503):
                    break
                time.sleep(0.05)
            with lock:
                done.append(r)

    with Server(url) as server:
        problem = setup_problem(Http(server.url, f"Token {client.token}"))
        threads = [threading.Thread(target=register, args=(server.url, problem)) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        terminated = 0
        with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as killer:
            for _ in range(10):
                time.sleep(0.3)
                terminated += len(killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND application_name = %s AND pid <> pg_backend_pid()",
                    [dbname, SERVER_NAME]).fetchall())
        stop.set()
        for t in threads:
            t.join(timeout=120)
        wait_for(lambda: Http(server.url, f"Token {client.token}").get(f"{API}/problems/").status == 200,
                 timeout=10, what="the service answering again")

    with psycopg.connect(database_url(connection.settings_dict)) as db:
        # Each registration with its final answer, as the unkeyed fault test records them.
        tally = check_whole(db, [Final(r.uuids, Answer(r.answers[-1][0], None, ""), 0.0) for r in done])
    retried = [r for r in done if len(r.answers) > 1]
    replays = [r for r in retried if r.answers[-1] == (201, True)]
    statuses = sorted({s for r in done for s, _ in r.answers})
    print(f"keyed registrations under terminate: {len(done)}, {terminated} connections terminated, "
          f"{len(retried)} retried, {len(replays)} answered by a replay (applied before their "
          f"connection died), answers {statuses}, {tally}")
    assert terminated >= 10
    assert retried, "no request met a terminated connection"
    assert all(r.answers[-1][0] == 201 for r in done), sorted({tuple(r.answers) for r in done if r.answers[-1][0] != 201})
    assert tally["accepted"] == len(done)
    assert set(statuses) <= {0, 201, 409, 503}
