"""The embedded PostgreSQL (no DATABASE_URL): shared by processes, stopped with the last.

Each test uses its own data folder, never the checkout's .pgdata/, and real processes:
the behaviour under test is what happens when they exit or are killed.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HOLD = """
import sys, time
from pathlib import Path
import psycopg
from orchestrator_site.embedded_pg import embedded_database_url
url = embedded_database_url(Path(sys.argv[1]))
with psycopg.connect(url) as conn:
    conn.execute("SELECT 1")
print("ready", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One folder for the module: initdb is the slow part.
    return tmp_path_factory.mktemp("embedded") / "pgdata"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"} and not k.startswith("DJANGO_")}
    return {**base, "ORCHESTRATOR_EMBEDDED_DB_DIR": str(data_dir), "DJANGO_DEBUG": "1"}


def hold(data_dir: Path, env: dict[str, str], seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(data_dir), str(seconds)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def server_running(data_dir: Path) -> bool:
    return (data_dir / "postmaster.pid").exists()


def test_it_stops_the_server_when_the_last_process_exits(data_dir: Path, env: dict[str, str]) -> None:
    first = hold(data_dir, env, seconds=30)
    second = hold(data_dir, env, seconds=0)
    assert second.wait(timeout=60) == 0
    assert server_running(data_dir), "stopped while another process still used it"

    first.send_signal(signal.SIGINT)
    first.wait(timeout=60)

    assert not server_running(data_dir)


def test_it_stops_the_server_after_a_holder_was_killed(data_dir: Path, env: dict[str, str]) -> None:
    killed = hold(data_dir, env, seconds=30)
    killed.kill()  # no exit handler runs: pgserver still counts it as a user
    killed.wait()

    assert hold(data_dir, env, seconds=0).wait(timeout=60) == 0

    assert not server_running(data_dir)


@pytest.fixture
def free_port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield port


def wait_for_health(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status)
        except OSError:  # refused while starting, reset, timed out
            time.sleep(0.25)
    return 0


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_it_serves_under_the_autoreloader_and_stops_with_it(
    stop: str, data_dir: Path, env: dict[str, str], free_port: int
) -> None:
    # runserver with its autoreloader is two processes, both holding the server.
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{free_port}"], cwd=ROOT,
                              env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_health(f"http://127.0.0.1:{free_port}/healthz", server) == 200
    finally:
        if stop == "ctrl-c":
            os.killpg(server.pid, signal.SIGINT)  # the terminal signals the whole group
        else:
            server.terminate()  # a process manager signals the parent only
        server.wait(timeout=60)

    assert not server_running(data_dir)
