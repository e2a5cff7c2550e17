"""The demo's child processes: an Orchestrator server on a free port and compute workers."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connection

STOP_SECONDS = 15


def current_database_url() -> str:
    """The URL of the database this process uses (in tests, the test database)."""
    db = connection.settings_dict
    auth = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    # A socket directory as host is percent-encoded, which dj-database-url understands.
    host = quote(db.get("HOST") or "", safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    # Connection options (the embedded server's socket directory is `host` here) ride along
    # as query parameters, which dj-database-url puts back into OPTIONS.
    options = {k: v for k, v in db.get("OPTIONS", {}).items() if isinstance(v, (str, int))}
    query = f"?{urlencode(options)}" if options else ""
    return f"postgres://{auth}@{host}{port}/{quote(db['NAME'], safe='')}{query}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(processes: list[subprocess.Popen[bytes]], signum: int = signal.SIGTERM) -> None:
    """Signal them all, then wait for each: they stop side by side."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(signum)
    for process in running:
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-15:])


@contextmanager
def orchestrator_server(log: Path) -> Iterator[str]:
    """gunicorn serving this project on the current database; yields its URL."""
    port = _free_port()
    hosts = sorted({*settings.ALLOWED_HOSTS, "127.0.0.1", "localhost"})
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings"),
        "DATABASE_URL": current_database_url(),
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": ",".join(hosts),
        # Plain HTTP on the loopback interface: no TLS to redirect to.
        "DJANGO_SECURE_SSL_REDIRECT": "0",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            # --preload: the project is imported once, not by each gunicorn worker.
            [sys.executable, "-m", "gunicorn", "orchestrator_site.wsgi:application", "--preload",
             "--bind", f"127.0.0.1:{port}", "--workers", "3", "--access-logfile", "-"],
            cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield url
    finally:
        # SIGINT: gunicorn's quick shutdown; the demo has no request left in flight by now.
        _stop([process], signal.SIGINT)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandError(f"the Orchestrator server exited ({process.returncode}):\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise CommandError(f"the Orchestrator server did not answer within {timeout:.0f}s:\n{_tail(log)}")


@dataclass(frozen=True)
class WorkerSpec:
    """One `python -m compute` process: a site's worker reads its site's own directory over
    the shared one and logs every object it reads."""

    name: str
    token: str
    storage: Path
    shared_storage: Path | None = None
    read_log: Path | None = None

    def argv(self, url: str) -> list[str]:
        args = [sys.executable, "-m", "compute", "--url", url, "--token", self.token,
                "--storage", str(self.storage), "--idle-max", "0.5",
                # Learnuplets reach an idle worker at once; a preduplet within 2 s.
                "--wait", "2"]
        if self.shared_storage is not None:
            args += ["--shared-storage", str(self.shared_storage)]
        if self.read_log is not None:
            args += ["--read-log", str(self.read_log)]
        return args


@contextmanager
def compute_workers(specs: Sequence[WorkerSpec], *, url: str, logs: Path) -> Iterator[list[Path]]:
    """One process per spec, logging to `logs/worker-<name>.log`; stopped with SIGTERM, as a
    deployment would."""
    paths = [logs / f"worker-{spec.name}.log" for spec in specs]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for spec, path in zip(specs, paths, strict=True):
            with path.open("wb") as out:
                processes.append(subprocess.Popen(
                    spec.argv(url), cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT,
                ))
        yield paths
    finally:
        _stop(processes)
