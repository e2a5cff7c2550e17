"""Under `scripts/dev.py serve` (runserver, DEBUG on) each log line of a request is printed
once (issue 14, point 10b): Django's own console handler printed django.request's lines
in debug, and the root logger's handler printed them again.
"""

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.live import PYTHON, ROOT, Http, database_url, free_port, server_env, wait_for


@pytest.fixture
def runserver(django_db_setup: None, tmp_path: Path) -> Iterator[tuple[Http, Path]]:
    """`manage.py runserver` as `serve` starts it, on the test database; its output's file."""
    port = free_port()
    log = tmp_path / "runserver.log"
    env = server_env(database_url(connection.settings_dict), DJANGO_DEBUG="1")
    with log.open("wb") as out:
        process = subprocess.Popen([PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    http = Http(f"http://127.0.0.1:{port}", timeout=10)
    try:
        wait_for(lambda: process.poll() is not None or http.get("/healthz").status == 200, timeout=60,
                 what="runserver")
        assert process.poll() is None, log.read_text()
        yield http, log
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_each_request_logs_each_line_once(runserver: tuple[Http, Path]) -> None:
    http, log = runserver
    http.get("/healthz")  # the probe's lines are before this mark

    mark = len(log.read_text().splitlines())
    assert http.get("/api/v1/problems/").status == 401
    assert http.get("/api/v1/nope/").status == 404
    # The access lines come after the answers: wait for the last one.
    wait_for(lambda: '"GET /api/v1/nope/ HTTP/1.1" 404' in log.read_text(), timeout=10, what="the access line")

    lines = log.read_text().splitlines()[mark:]
    for text in ['"GET /api/v1/problems/ HTTP/1.1" 401', "Unauthorized: /api/v1/problems/",
                 '"GET /api/v1/nope/ HTTP/1.1" 404', "Not Found: /api/v1/nope/"]:
        assert len([line for line in lines if text in line]) == 1, (text, lines)
