"""The worker protocol runs statements compiled once and prepared (issue 8).

Compiling the ORM's SQL was half the CPU of a claim and a result, and PostgreSQL's
parsing and planning most of its own. These tests keep both from coming back, and check
that what varies per call (the lease length from settings) is bound, not compiled in.
"""

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.db.models.sql import compiler
from django.utils import timezone

from orchestrator_site import compiled as sql
from tests.factories import AlgoFactory, LearnupletFactory, PredupletFactory
from tests.helpers import API

pytestmark = pytest.mark.django_db


@pytest.fixture
def orm_compiles(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records every statement the ORM compiles (SELECT, UPDATE, INSERT, DELETE): its compiler."""
    compiled: list[str] = []
    for cls in (compiler.SQLCompiler, compiler.SQLUpdateCompiler, compiler.SQLInsertCompiler,
                compiler.SQLDeleteCompiler):
        original = cls.__dict__["as_sql"]

        def counting(self, *args, _original=original, **kwargs):
            compiled.append(f"{type(self).__name__} for {self.query.model.__name__}")
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "as_sql", counting)
    yield compiled


def learnuplet_chains(n: int) -> None:
    """n chains of two ranks: the result of rank 0 releases rank 1."""
    for _ in range(n):
        algo = AlgoFactory.create()
        LearnupletFactory.create(algo=algo, rank=0)
        LearnupletFactory.create(algo=algo, rank=1, status="waiting", model_start=None, queued_at=None)


def cycle(worker, kind: str) -> dict[str, Any]:
    claimed = worker.http.post(f"{API}/{kind}/claim/")
    assert claimed.status_code == 200, claimed.content
    task = claimed.json()
    result = {"attempt": task["attempt"], "status": "done"}
    if kind == "learnuplets":
        result |= {"perf": 0.5, "train_perf": {str(task["train_data"][0]): 0.4}}
    else:
        result["prediction_storage_uuid"] = [task["uuid"]]
    reported = worker.http.post(f"{API}/{kind}/{task['uuid']}/result/", result, format="json")
    assert reported.status_code == 200, reported.content
    answer: dict[str, Any] = reported.json()
    return answer


def test_a_warm_learnuplet_claim_and_result_compile_no_sql(worker, orm_compiles):
    learnuplet_chains(2)
    cycle(worker, "learnuplets")  # compiles each statement once
    orm_compiles.clear()

    done = cycle(worker, "learnuplets")

    assert done["status"] == "done"
    assert orm_compiles == []


def test_a_warm_preduplet_claim_and_result_compile_no_sql(worker, orm_compiles):
    PredupletFactory.create_batch(2)
    cycle(worker, "preduplets")
    orm_compiles.clear()

    done = cycle(worker, "preduplets")

    assert done["status"] == "done"
    assert orm_compiles == []


def test_the_released_rank_starts_from_the_model_just_reported(worker):
    learnuplet_chains(1)

    done = cycle(worker, "learnuplets")

    successor = worker.http.get(f"{API}/learnuplets/?algo={done['algo']}&rank=1").json()["results"][0]
    assert (successor["status"], successor["model_start"]) == ("todo", done["model_end"])


def test_the_lease_length_is_read_from_settings_at_each_claim(worker, settings):
    LearnupletFactory.create_batch(2)

    leases = []
    for seconds in (60, 3600):
        settings.ORCHESTRATOR_LEASE_SECONDS = seconds
        before = timezone.now()
        task = worker.http.post(f"{API}/learnuplets/claim/").json()
        leases.append(datetime.fromisoformat(task["lease_expires_at"]) - before)

    assert timedelta(seconds=55) < leases[0] <= timedelta(seconds=61)
    assert timedelta(seconds=3595) < leases[1] <= timedelta(seconds=3601)


def test_claims_run_as_a_prepared_statement(worker, settings):
    if settings.DATABASES["default"]["OPTIONS"].get("prepare_threshold") is None:
        pytest.skip("DJANGO_DB_PREPARE_THRESHOLD=0: prepared statements are off")
    LearnupletFactory.create_batch(4)
    for _ in range(4):
        assert worker.http.post(f"{API}/learnuplets/claim/").status_code == 200

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s AND statement LIKE %s",
            ["%WITH picked%", "%SKIP LOCKED%"],
        )
        (prepared,) = cursor.fetchone()
    assert prepared >= 1


@pytest.mark.django_db(transaction=True)
def test_the_first_claim_of_a_process_compiles_outside_a_transaction(worker, monkeypatch):
    # A claim runs in autocommit, where Django refuses to compile SELECT ... FOR UPDATE.
    monkeypatch.setattr(sql, "_compiled", {})
    LearnupletFactory.create()

    claimed = worker.http.post(f"{API}/learnuplets/claim/")

    assert claimed.status_code == 200, claimed.content


@pytest.mark.parametrize("kind", ["learnuplets", "preduplets"])
def test_claims_and_results_answer_what_the_task_detail_shows(worker, kind):
    # They render through one shared serializer per class, not the view's own.
    (LearnupletFactory if kind == "learnuplets" else PredupletFactory)()
    claimed = worker.http.post(f"{API}/{kind}/claim/").json()
    assert claimed == worker.http.get(f"{API}/{kind}/{claimed['uuid']}/").json()

    result = {"attempt": claimed["attempt"], "status": "failed", "error": "out of memory"}
    reported = worker.http.post(f"{API}/{kind}/{claimed['uuid']}/result/", result, format="json").json()
    assert reported == worker.http.get(f"{API}/{kind}/{claimed['uuid']}/").json()
    assert (reported["status"], reported["last_error"]) == ("failed", "out of memory")


def kill_reused_connection(db) -> None:
    """Make `db` persistent and health-checked, as in production, then have PostgreSQL kill
    its session, as a restart would, and start a new request's accounting."""
    db.close_at, db.health_check_enabled = None, True
    killer = db.get_new_connection(db.get_connection_params())
    killer.autocommit = True
    killer.execute("SELECT pg_terminate_backend(%s)", [db.connection.info.backend_pid])
    killer.close()
    db.health_check_done = False  # what a new request does (the test client skips that signal)


@pytest.mark.django_db(transaction=True)
def test_a_worker_request_replaces_a_connection_that_died_since_the_last(worker):
    # Compiled statements bypass Django's cursor(), which runs CONN_HEALTH_CHECKS: they
    # must check a reused connection themselves, or a database restart costs a 503.
    LearnupletFactory.create_batch(2)
    assert worker.http.post(f"{API}/learnuplets/claim/").status_code == 200
    db = connections["default"]
    kill_reused_connection(db)

    claimed = worker.http.post(f"{API}/learnuplets/claim/")

    assert claimed.status_code == 200, claimed.content


@pytest.mark.django_db(transaction=True)
def test_a_claim_that_is_a_connections_first_statement_replaces_it_when_it_died():
    # No token lookup first: the claim itself is the reused connection's first statement,
    # and must not be sent on it before it is checked.
    from learning.models import Learnuplet
    from tasks import queue

    LearnupletFactory.create()
    db = connections["default"]
    db.ensure_connection()
    kill_reused_connection(db)

    claimed = queue.claim_next(Learnuplet, worker=uuid.uuid4(), actor="w")

    assert claimed is not None and claimed.status == "pending"
