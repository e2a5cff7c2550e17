"""Database faults (issue 9), against gunicorn with persistent database connections:

- the server's PostgreSQL connections are terminated (pg_terminate_backend) again and again
  while clients register data;
- PostgreSQL itself is restarted while clients work (a throw-away cluster started for the
  test; the machine's server is never touched).

The service answers again without being restarted, every registration it accepted (2xx)
is in the database with its learnuplets, and none is half there: a registration's data and
its learnuplets are all present or all absent, whatever its answer was.
"""

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from django.db import connection

from accounts.models import Role
from tests.conftest import make_caller
from tests.live import Answer, Cluster, Http, Server, database_url, manage, wait_for

API = "/api/v1"
CLIENTS = 6
SIZE = 2  # size_train_dataset: a registration of 4 data makes 2 learnuplets per algo
ALGOS = 2
SERVER_NAME = "orch-hard-server"

pytestmark = [pytest.mark.slow]


@dataclass
class Registration:
    uuids: list[str]
    answer: Answer
    at: float


@dataclass
class Load:
    """Clients registering data for one problem until told to stop."""

    http: Callable[[], Http]
    problem: str
    stop: threading.Event = field(default_factory=threading.Event)
    done: list[Registration] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        http = self.http()
        while not self.stop.is_set():
            uuids = [str(uuid.uuid4()) for _ in range(2 * SIZE)]
            answer = http.post(f"{API}/data/", {"uuid": uuids, "problems": [self.problem]})
            with self.lock:
                self.done.append(Registration(uuids, answer, time.monotonic()))

    def __enter__(self) -> "Load":
        self.threads = [threading.Thread(target=self.run) for _ in range(CLIENTS)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)


def with_application_name(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


def check_whole(db: psycopg.Connection[Any], done: list[Registration]) -> dict[str, int]:
    """Every 2xx registration is there with its learnuplets; every other is whole or absent."""
    tally = {"accepted": 0, "refused_absent": 0, "refused_but_committed": 0}
    for r in done:
        [(data,)] = db.execute("SELECT count(*) FROM problems_data WHERE uuid = ANY(%s::uuid[])",
                               [r.uuids]).fetchall()
        [(tasks,)] = db.execute("SELECT count(*) FROM learning_learnuplet WHERE train_data && %s::uuid[]",
                                [r.uuids]).fetchall()
        whole = (data, tasks) == (len(r.uuids), ALGOS * len(r.uuids) // SIZE)
        assert whole or (data, tasks) == (0, 0), f"half-applied registration {r.uuids}: {data} data, {tasks} tasks"
        if 200 <= r.answer.status < 300:
            assert whole, f"accepted registration lost: {r.uuids} ({r.answer.status})"
            tally["accepted"] += 1
        else:
            tally["refused_but_committed" if whole else "refused_absent"] += 1
    return tally


def setup_problem(http: Http) -> str:
    r = http.post(f"{API}/problems/", {"workflow": str(uuid.uuid4()), "test_dataset": [str(uuid.uuid4())],
                                       "size_train_dataset": SIZE})
    assert r.status == 201, r.text
    problem: str = r.body["uuid"]
    for i in range(ALGOS):
        assert http.post(f"{API}/algos/", {"problem": problem, "name": f"algo-{i}"}).status == 201
    return problem


def answers_again(http: Http) -> bool:
    return http.get(f"{API}/problems/").status == 200


@pytest.mark.django_db(transaction=True)
def test_it_survives_its_database_connections_being_terminated_under_load() -> None:
    client = make_caller("fault-client", Role.CLIENT)
    url = with_application_name(database_url(connection.settings_dict), SERVER_NAME)
    dbname = connection.settings_dict["NAME"]
    with Server(url) as server:
        http = lambda: Http(server.url, f"Token {client.token}")  # noqa: E731
        problem = setup_problem(http())
        terminated = 0
        killer = psycopg.connect(database_url(connection.settings_dict), autocommit=True)
        with killer, Load(http, problem) as load:
            for _ in range(10):
                time.sleep(0.3)
                terminated += len(killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND application_name = %s AND pid <> pg_backend_pid()",
                    [dbname, SERVER_NAME]).fetchall())
            time.sleep(0.5)
        wait_for(lambda: answers_again(http()), timeout=10, what="the service answering again")
        with psycopg.connect(database_url(connection.settings_dict)) as db:
            tally = check_whole(db, load.done)
    statuses = sorted({r.answer.status for r in load.done})
    print(f"terminate: {len(load.done)} registrations, {terminated} connections terminated, "
          f"answers {statuses}, {tally}")
    assert terminated >= 10
    assert tally["accepted"] > 0
    assert set(statuses) <= {201, 503}, "a request failed otherwise than with 503 (retry)"


def test_it_survives_a_postgresql_restart_under_load() -> None:
    cluster = Cluster().start()
    try:
        url = cluster.create_database("orch_hard_restart")
        manage(url, "migrate", "--no-input")
        token = manage(url, "createclient", "restart-client", "--role", "client").split("token=")[1].split()[0]
        with Server(url) as server:
            http = lambda: Http(server.url, f"Token {token}", timeout=30)  # noqa: E731
            problem = setup_problem(http())
            server_pid = server.process.pid if server.process else None
            with Load(http, problem) as load:
                time.sleep(1.5)
                restarted_at = time.monotonic()
                cluster.restart()
                back_at = time.monotonic()
                time.sleep(2.0)
            wait_for(lambda: answers_again(http()), timeout=10, what="the service answering again")
            assert server.process is not None and server.process.pid == server_pid
            assert server.process.poll() is None, "the server was not restarted, nor did it die"
        with psycopg.connect(url) as db:
            tally = check_whole(db, load.done)
    finally:
        cluster.remove()
    after = [r for r in load.done if r.at > back_at + 0.5]
    statuses = sorted({r.answer.status for r in load.done})
    failed = [r.at for r in load.done if r.answer.status >= 500]
    window = max(failed) - min(failed) if failed else 0.0
    print(f"restart: {len(load.done)} registrations, restart took {back_at - restarted_at:.2f} s, "
          f"answers {statuses} (503s over {window:.2f} s), {tally}, {len(after)} after it")
    assert after and all(200 <= r.answer.status < 300 for r in after), "not serving again after the restart"
    assert set(statuses) <= {201, 503}, "a request failed otherwise than with 503 (retry)"
