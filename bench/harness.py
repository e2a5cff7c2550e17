"""What the benchmarks share: a fresh database, the production server, a small HTTP client.

Each benchmark creates its own database (`orch_bench_<name>_<pid>`) on the server that
DATABASE_URL names, else on 127.0.0.1:5432, else on an embedded pgserver, runs the
migrations into it, and drops it at the end (`--keep` keeps it for inspection).

The server is gunicorn with production settings, started with `gunicorn_hooks.py`,
which records each request's SQL statements, time and CPU and the worker's peak RSS, and
writes them out when the worker exits: the counts come from the real server, not from a
test client.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

LOCAL_SERVER = "postgres://postgres@127.0.0.1:5432/orch_bench"
API = "/api/v1"
# The machine is often shared: the load average says how far to trust a run's timings.
LOAD_AT_START = os.getloadavg()[0]


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds (the CI smoke test)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark's database afterwards")
    parser.add_argument("--embedded", action="store_true",
                        help="use an embedded pgserver even when a server is reachable")
    return parser


# --- database -------------------------------------------------------------------------


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def server_url(*, embedded: bool) -> str:
    """The PostgreSQL server to create the benchmark database on."""
    if not embedded:
        if url := os.environ.get("DATABASE_URL"):
            return url
        if _reachable("127.0.0.1", 5432):
            return LOCAL_SERVER
    from orchestrator_site.embedded_pg import embedded_database_url

    return embedded_database_url(Path(tempfile.gettempdir()) / "orchestrator-bench-pgdata")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def production_env(database_url: str) -> dict[str, str]:
    """Settings as the README recommends for production, with plain HTTP on loopback."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_CONN_MAX_AGE": "600",
        "DATABASE_URL": database_url,
        "ORCHESTRATOR_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        # No collectstatic in a benchmark: the API serves no static files.
        "PYTHONWARNINGS": "ignore:No directory at",
    }


def setup_django(url: str) -> None:
    """Django in this process, for set-up through the services and for checks."""
    os.environ.update(production_env(url))
    # The in-process profile uses Django's test client, whose host is "testserver".
    os.environ["DJANGO_ALLOWED_HOSTS"] = "127.0.0.1,testserver"
    import warnings

    import django

    warnings.filterwarnings("ignore", "No directory at")
    django.setup()


@contextmanager
def fresh_database(name: str, *, embedded: bool, keep: bool) -> Iterator[str]:
    """Create and migrate `orch_bench_<name>_<pid>`; yield its URL; drop it at the end.

    Django's own test-database machinery creates it (through the server's maintenance
    database, as the test runner does) and runs every migration.
    """
    base = server_url(embedded=embedded)
    setup_django(base)
    from django.db import connection

    db_name = f"orch_bench_{name}_{os.getpid()}"
    connection.settings_dict["TEST"]["NAME"] = db_name
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield with_database(base, db_name)
    finally:
        if keep:
            print(f"kept database {db_name}", file=sys.stderr)
            connection.close()
        else:
            connection.creation.destroy_test_db(old_name, verbosity=0)


# --- server ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]  # (host, port) for AF_INET
        return port


class Server:
    """gunicorn serving the project with production settings, on a free loopback port."""

    def __init__(
        self, database_url: str, *, workers: int | None = None, threads: int | None = None,
        worker_class: str | None = None,
    ) -> None:
        """The worker settings default to the project's gunicorn.conf.py, as in production."""
        import runpy

        project = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
        self.database_url = database_url
        self.workers = workers or project["workers"]
        self.threads = threads or project["threads"]
        self.worker_class = worker_class or project["worker_class"]
        self.port = _free_port()
        self.stats_dir = Path(tempfile.mkdtemp(prefix="orch-bench-stats-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.requests: dict[str, dict[str, Any]] = {}
        self.peak_rss_kb = 0

    @property
    def description(self) -> str:
        if self.worker_class == "sync":
            return f"gunicorn sync, {self.workers} worker(s)"
        return f"gunicorn {self.worker_class}, {self.workers} worker(s) x {self.threads} thread(s)"

    def __enter__(self) -> Server:
        env = production_env(self.database_url)
        env["BENCH_STATS_DIR"] = str(self.stats_dir)
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "orchestrator_site.wsgi:application",
                "--config", str(BENCH / "gunicorn_hooks.py"),
                "--bind", f"127.0.0.1:{self.port}",
                "--worker-class", self.worker_class,
                "--workers", str(self.workers),
                "--threads", str(self.threads),
                "--timeout", "300",
                "--log-level", "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop gracefully, so that each worker writes its statistics, then read them."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for path in self.stats_dir.glob("*.json"):
            try:
                worker = json.loads(path.read_text())
            except ValueError:  # a worker killed while writing: its counts are lost, not the run's
                print(f"(a server worker's statistics were cut short: {path.name})", file=sys.stderr)
                continue
            self.peak_rss_kb = max(self.peak_rss_kb, worker["peak_rss_kb"])
            for key, stats in worker["requests"].items():
                merged = self.requests.setdefault(
                    key, {"queries": [], "seconds": [], "cpu": [], "peak_rss_kb": 0,
                          "rss_before_kb": stats["rss_before_kb"]}
                )
                for name in ("queries", "seconds", "cpu"):
                    merged[name] += stats[name]
                merged["peak_rss_kb"] = max(merged["peak_rss_kb"], stats["peak_rss_kb"])
        shutil.rmtree(self.stats_dir, ignore_errors=True)

    def cpu_seconds(self) -> float:
        """CPU time used so far by gunicorn's master and its live workers."""
        assert self.process is not None
        master = self.process.pid
        try:
            with open(f"/proc/{master}/task/{master}/children") as children:
                pids = [master, *map(int, children.read().split())]
        except OSError:
            pids = [master]
        return sum(process_cpu_seconds(pid) for pid in pids)

    def queries(self, key: str) -> list[int]:
        """Query counts of the requests `METHOD /path` (UUIDs in paths read `{uuid}`)."""
        queries: list[int] = self.requests.get(key, {}).get("queries", [])
        return queries


class Http:
    """One keep-alive connection, JSON in and out, a token if given."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Token {token}"

    def request(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: object = None) -> tuple[int, Any]:
        return self.request("POST", path, {} if body is None else body)


def process_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime, fields 14 and 15 of proc(5), counted after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds(url: str) -> float:
    """CPU time of the PostgreSQL backends connected to the database (a local server only)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        pids = [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )]
    return sum(process_cpu_seconds(pid) for pid in pids)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all processes, all CPUs) since boot."""
    with open("/proc/stat") as stat:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


# --- figures --------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def machine(database_url: str) -> str:
    import psycopg

    with psycopg.connect(database_url) as conn:
        [(version,)] = conn.execute("SHOW server_version").fetchall()
    mem_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return (
        f"machine: {os.cpu_count()} CPUs, {mem_kb / 1024 / 1024:.1f} GiB RAM, "
        f"PostgreSQL {version}, Python {platform.python_version()}; load average "
        f"{LOAD_AT_START:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
