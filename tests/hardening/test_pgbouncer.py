"""Behind PgBouncer in transaction mode (issue 17): the server's requests go through the
pooler, which cannot carry LISTEN, and the wake-up listener connects directly
(DATABASE_LISTEN_URL); a waiting claim is answered by a release another connection commits.

Needs Debian's `pgbouncer` (`.ci/run` installs it); skipped, saying so, without it.
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction

from learning.lifecycle import release_next
from tasks.models import Status
from tests.factories import LearnupletFactory
from tests.live import Http, Server, database_url, free_port, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PGBOUNCER = shutil.which("pgbouncer") or next(
    (path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(path, os.X_OK)), None)


@pytest.fixture
def pgbouncer() -> Iterator[tuple[int, Path]]:
    """PgBouncer in transaction mode on a free port, in front of the test database's server;
    its port and log."""
    if PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer; .ci/run installs it)")
    db = connection.settings_dict
    if not db.get("HOST") or db["HOST"].startswith("/"):
        pytest.skip("the test database is not reached over TCP (an embedded server): no pooler to put in front")
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="orch-pgbouncer-"))
    directory.chmod(0o755)  # pgbouncer runs as postgres when the tests run as root
    user = db["USER"] or "postgres"
    (directory / "users.txt").write_text(f'"{user}" "{db.get("PASSWORD") or ""}"\n')
    log = directory / "pgbouncer.log"
    config = directory / "pgbouncer.ini"
    config.write_text(
        f"""[databases]
* = host={db["HOST"]} port={db.get("PORT") or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = {"md5" if db.get("PASSWORD") else "trust"}
auth_file = {directory / "users.txt"}
admin_users = {user}
pool_mode = transaction
default_pool_size = 5
max_client_conn = 200
logfile = {log}
"""
    )
    for path in directory.iterdir():
        path.chmod(0o644)
    command = [PGBOUNCER, str(config)]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        try:
            runs_as = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres user for pgbouncer to run as")
        os.chown(directory, runs_as.pw_uid, runs_as.pw_gid)  # for its log
        command[1:1] = ["-u", "postgres"]
    output = directory / "output.txt"
    with output.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    def up() -> bool:
        assert process.poll() is None, output.read_text(errors="replace") + (log.read_text() if log.exists() else "")
        try:
            with psycopg.connect(host="127.0.0.1", port=port, user=user, dbname=db["NAME"], connect_timeout=2,
                                 password=db.get("PASSWORD") or None, prepare_threshold=None):
                return True
        except psycopg.OperationalError:
            return False

    try:
        wait_for(up, timeout=20, interval=0.2, what="pgbouncer")
        yield port, log
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def pooled_transactions(port: int, database: str) -> int:
    """Transactions PgBouncer has carried to `database` (its admin console's SHOW STATS)."""
    with psycopg.connect(host="127.0.0.1", port=port, user=connection.settings_dict["USER"] or "postgres",
                         dbname="pgbouncer", autocommit=True, prepare_threshold=None,
                         cursor_factory=psycopg.ClientCursor) as admin:
        cursor = admin.execute("SHOW STATS")
        columns = [c.name for c in cursor.description or []]
        for row in cursor.fetchall():
            stats = dict(zip(columns, row))
            if stats["database"] == database:
                return int(stats["total_xact_count"])
    return 0


def test_a_waiting_claim_through_pgbouncer_is_answered_by_a_release_committed_elsewhere(pgbouncer, worker):
    port, _ = pgbouncer
    first = LearnupletFactory.create(rank=0, status=Status.DONE, perf=0.5)
    task = LearnupletFactory.create(algo=first.algo, rank=1, status=Status.WAITING, model_start=None,
                                    queued_at=None)
    direct = database_url(connection.settings_dict)
    db = connection.settings_dict
    pooled = direct.replace(f"@{db['HOST']}:{db.get('PORT') or 5432}/", f"@127.0.0.1:{port}/", 1)
    assert pooled != direct
    env = {"DATABASE_LISTEN_URL": direct, "DJANGO_DB_PREPARE_THRESHOLD": "0"}
    with Server(pooled, workers=2, **env) as server:
        http = Http(server.url, f"Token {worker.token}", timeout=40)
        before = pooled_transactions(port, db["NAME"])
        answers: list[Any] = []
        claimer = threading.Thread(target=lambda: answers.append(http.request(
            "POST", "/api/v1/learnuplets/claim/?wait=20", {}, headers={"Idempotency-Key": "pgbouncer-claim"})))
        claimer.start()

        # The claim's server process listens, on a direct connection (the pooler cannot LISTEN).
        def listening() -> bool:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                               " AND application_name = 'orchestrator-wakeups'")
                return bool(cursor.fetchone()[0])

        wait_for(listening, timeout=20, interval=0.1, what="the wake-up listener")
        time.sleep(1)  # the claim tried once and waits
        assert not answers
        released = time.monotonic()
        with transaction.atomic():
            release_next([first])
        claimer.join(30)

        assert answers, server.log_tail()
        answer = answers[0]
        assert answer.status == 200, (answer.status, answer.body, server.log_tail())
        assert answer.body["uuid"] == str(task.pk)
        # Woken by the notification, not found by the 5 s fallback probe.
        assert time.monotonic() - released < 3
        # Its requests went through PgBouncer.
        assert pooled_transactions(port, db["NAME"]) > before
