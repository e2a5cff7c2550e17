"""The embedded PostgreSQL (no DATABASE_URL): shared by processes, stopped with the last.

Each test uses its own data folder, never the checkout's .pgdata/, and real processes:
the behaviour under test is what happens when they exit or are killed.

Every process is started by `spawn`, in its own session and with SIGINT at its default:
a child inherits an ignored SIGINT (a shell's background jobs ignore it), and would then
outlive the Ctrl-C these tests send. Whatever a test leaves running, even when it fails,
is stopped before the next test, embedded PostgreSQL included.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

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


Spawn = Callable[..., "subprocess.Popen[Any]"]


def server_running(data_dir: Path) -> bool:
    return (data_dir / "postmaster.pid").exists()


@pytest.fixture
def spawn(data_dir: Path, env: dict[str, str]) -> Iterator[Spawn]:
    """Start processes that cannot outlive the test, whatever SIGINT was in this one."""
    started: list[subprocess.Popen[Any]] = []

    def start(cmd: list[str], sigint: signal.Handlers = signal.SIG_DFL, **kwargs: Any) -> subprocess.Popen[Any]:
        def in_child() -> None:  # between fork and exec
            signal.signal(signal.SIGINT, sigint)

        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, preexec_fn=in_child, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        stop_group(proc)
    kill_holders(data_dir)
    stop_postgres(data_dir)


def stop_group(proc: subprocess.Popen[Any]) -> None:
    """Ctrl-C to the process's group (its exit handlers stop PostgreSQL), then SIGKILL."""
    if proc.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def kill_holders(data_dir: Path) -> None:
    """SIGKILL what still runs with this data folder in a session of its own (dev.py's runserver)."""
    proc_fs = Path("/proc")
    if not proc_fs.is_dir():
        return
    wanted = f"ORCHESTRATOR_EMBEDDED_DB_DIR={data_dir}".encode()
    for entry in proc_fs.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:  # gone meanwhile, or not ours to read
            continue


def stop_postgres(data_dir: Path) -> None:
    """A fast shutdown (SIGINT to the postmaster) of a server nothing stopped."""
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if Path("/proc").is_dir() else str(data_dir).encode()
    except (OSError, IndexError, ValueError):  # no server, or no longer running
        return
    if str(data_dir).encode() in cmdline:  # not a pid left in the file and reused since
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 30
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """This process as a shell's background job is: SIGINT ignored, and inherited so."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def hold(spawn: Spawn, data_dir: Path, seconds: float) -> subprocess.Popen[str]:
    proc = spawn([sys.executable, "-c", HOLD, str(data_dir), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_it_stops_the_server_when_the_last_process_exits(data_dir: Path, spawn: Spawn) -> None:
    with sigint_ignored():  # the holder still stops on SIGINT: spawn resets it
        first = hold(spawn, data_dir, seconds=30)
    second = hold(spawn, data_dir, seconds=0)
    assert second.wait(timeout=60) == 0
    assert server_running(data_dir), "stopped while another process still used it"

    first.send_signal(signal.SIGINT)
    first.wait(timeout=20)  # before its 30 s are up: stopped by the signal

    assert not server_running(data_dir)


def test_it_stops_the_server_after_a_holder_was_killed(data_dir: Path, spawn: Spawn) -> None:
    killed = hold(spawn, data_dir, seconds=30)
    killed.kill()  # no exit handler runs: pgserver still counts it as a user
    killed.wait()

    assert hold(spawn, data_dir, seconds=0).wait(timeout=60) == 0

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


@pytest.mark.parametrize("parent_sigint", ["default", "ignored"])
@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_it_serves_under_the_autoreloader_and_stops_with_it(
    stop: str, parent_sigint: str, data_dir: Path, spawn: Spawn, free_port: int
) -> None:
    # runserver with its autoreloader is two processes, both holding the server. "ignored":
    # the suite runs as a shell's background job, whose SIGINT its children would inherit.
    with sigint_ignored() if parent_sigint == "ignored" else nullcontext():
        server = spawn([sys.executable, "manage.py", "runserver", f"127.0.0.1:{free_port}"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_health(f"http://127.0.0.1:{free_port}/healthz", server) == 200
    finally:
        if stop == "ctrl-c":
            os.killpg(server.pid, signal.SIGINT)  # the terminal signals the whole group
        else:
            server.terminate()  # a process manager signals the parent only
        server.wait(timeout=30)

    assert not server_running(data_dir)


DEV_SERVE = "import sys; sys.path.insert(0, 'scripts'); import dev; sys.exit(dev.run_until_signal(sys.argv[1:]))"


def test_dev_serve_stops_its_server_on_ctrl_c_even_started_with_sigint_ignored(
    data_dir: Path, spawn: Spawn, free_port: int
) -> None:
    # `scripts/dev.py serve &` from a shell: dev.py itself starts with SIGINT ignored, and
    # its runserver must not inherit that, or the Ctrl-C dev.py passes on would be lost.
    dev = spawn([sys.executable, "-c", DEV_SERVE, sys.executable, "manage.py", "runserver", f"127.0.0.1:{free_port}"],
                sigint=signal.SIG_IGN, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_health(f"http://127.0.0.1:{free_port}/healthz", dev) == 200
    finally:
        os.killpg(dev.pid, signal.SIGINT)  # runserver is in a session of its own: dev.py passes it on
        code = dev.wait(timeout=30)

    assert code == 0
    assert not server_running(data_dir)
