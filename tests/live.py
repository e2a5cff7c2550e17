"""Real processes for the hardening tests: gunicorn serving the project on a free port, a
throw-away PostgreSQL cluster that a test may restart, and a small JSON client (stdlib).

The machine's PostgreSQL (DATABASE_URL) is never stopped or restarted: a test that restarts
the database starts its own cluster with pgserver's bundled binaries, in a temporary
directory, on a free port, and removes it afterwards.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Answer:
    """An HTTP answer; status 0 when no answer came at all (refused, reset, timed out)."""

    status: int
    body: Any
    text: str


class Http:
    """JSON over HTTP with an optional `Authorization` header; never raises on an answer."""

    def __init__(self, base: str, authorization: str | None = None, timeout: float = 30.0) -> None:
        self.base = base.rstrip("/")
        self.authorization = authorization
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                headers: dict[str, str] | None = None) -> Answer:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = {"Accept": "application/json", **(headers or {})}
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        if self.authorization:
            sent["Authorization"] = self.authorization
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return _answer(r.status, r.read())
        except urllib.error.HTTPError as err:
            return _answer(err.code, err.read())
        except (urllib.error.URLError, OSError) as err:
            return Answer(0, None, repr(err))

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Answer:
        return self.request("POST", path, body if body is not None else {})


def _answer(status: int, content: bytes) -> Answer:
    text = content.decode("utf-8", "replace")
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    return Answer(status, body, text)


def wait_for(predicate: Any, *, timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout} s")


def database_url(settings_dict: dict[str, Any]) -> str:
    """The URL of a Django database, e.g. the test database, for a server process to use."""
    from urllib.parse import quote

    user = quote(settings_dict["USER"] or "")
    password = f":{quote(settings_dict['PASSWORD'])}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or ""
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    socket_dir = settings_dict.get("OPTIONS", {}).get("host")
    query = f"?host={quote(socket_dir)}" if socket_dir else ""
    return f"postgres://{user}{password}@{host}{port}/{quote(settings_dict['NAME'])}{query}"


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a server or command run against `database_url` with test settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="orchestrator_site.settings_test",
        DATABASE_URL=database_url,
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(database_url: str, *args: str, **env: str) -> str:
    """Run `manage.py` against `database_url`; its standard output."""
    done = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=server_env(database_url, **env),
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


class Server:
    """gunicorn serving the project on a free port of 127.0.0.1.

    Sync workers that keep their database connection between requests (CONN_MAX_AGE), as
    deployed: a connection killed under them is what `conn_health_checks` must survive.
    """

    def __init__(self, database_url: str, *, workers: int = 3, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = server_env(database_url, DJANGO_CONN_MAX_AGE="60", **env)
        self.workers = workers
        self.log = Path(tempfile.mkstemp(prefix="orch-hard-gunicorn-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "Server":
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [PYTHON, "-m", "gunicorn", "orchestrator_site.wsgi", "-w", str(self.workers),
                 "-b", f"127.0.0.1:{self.port}", "--timeout", "60", "--graceful-timeout", "5",
                 # Several servers may run at once: none takes the shared control socket.
                 "--no-control-socket"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            wait_for(self._up, timeout=60, interval=0.2, what=f"gunicorn on {self.url}")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"gunicorn did not start:\n{self.log_tail()}") from None
        return self

    def _up(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
        return Http(self.url, timeout=5).get("/healthz").status == 200

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.unlink(missing_ok=True)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Cluster:
    """A throw-away PostgreSQL cluster: pgserver's binaries, a temporary directory, a free port.

    PostgreSQL refuses to run as root, so as root it runs as pgserver's system user (the
    one the embedded development server uses).
    """

    def __init__(self) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="orch-hard-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.user: str | None = None
        if os.geteuid() == 0:
            from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            entry = ensure_user_exists("pgserver")
            assert entry is not None
            self.user = "pgserver"
            ensure_prefix_permissions(self.bin)
            ensure_folder_permissions(self.bin, 0o055)
            ensure_folder_permissions(self.bin.parent / "lib", 0o044)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str, timeout: float = 60) -> None:
        done = subprocess.run([str(self.bin / program), *args], user=self.user, capture_output=True,
                              text=True, timeout=timeout, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}\n"
                               f"{self.log.read_text() if self.log.exists() else ''}")

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.root} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", *args)

    def start(self) -> "Cluster":
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=utf8")
        self._ctl("start")
        return self

    def restart(self) -> None:
        """Stop (fast: connections are closed) and start again on the same port."""
        self._ctl("-m", "fast", "restart")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("-m", "immediate", "stop")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    cluster = Cluster().start()
    try:
        yield cluster
    finally:
        cluster.remove()


# The routes of the URLconf, for sweeps that must not miss a route added later.

GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?:[^()]|\([^()]*\))*\)|<(?:(?P<conv>\w+):)?(?P<pname>\w+)>")


@dataclass(frozen=True)
class Route:
    """One URL pattern of the resolver, with the view that answers it."""

    pattern: str
    callback: Any

    @property
    def template(self) -> str:
        """A readable path: `/api/v1/problems/{pk}/`; a format suffix shows as `.{format}`."""
        text = GROUP.sub(lambda m: "{" + (m["name"] or m["pname"]) + "}", _plain(self.pattern))
        return "/" + re.sub(r"\(\?:([^()]*)\)", r"{\1}", text.replace("(?:/.*)?", "/..."))

    @property
    def methods(self) -> tuple[str, ...]:
        """The HTTP methods the view serves (HEAD and OPTIONS aside)."""
        actions = getattr(self.callback, "actions", None)
        if actions:  # a DRF viewset route
            return tuple(sorted(m.upper() for m in actions))
        view = getattr(self.callback, "view_class", None)
        if view is not None:
            return tuple(sorted(m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)))
        return ("GET", "POST")  # a plain function: it answers any method

    def paths(self, values: Any) -> list[str]:
        """Concrete paths: each `{group}` filled with each of `values(name, bound)`, where
        `bound` holds the groups filled so far (a record's UUID depends on its collection)."""
        text = _plain(self.pattern)
        # The 2017 catch-all: a path under a known prefix that no other route takes.
        text = text.replace("(?:/.*)?", "/no/such/route")
        parts = GROUP.split(text)
        # GROUP has three groups: split() yields text, name, conv, pname, text, ...
        filled: list[tuple[str, dict[str, str]]] = [("", {})]
        for i in range(0, len(parts), 4):
            literal = parts[i]
            filled = [(prefix + literal, bound) for prefix, bound in filled]
            if i + 1 < len(parts):
                name = parts[i + 1] or parts[i + 3]
                # DRF's path converter for format suffixes matches the dot too.
                dot = "." if parts[i + 2] == "drf_format_suffix" else ""
                filled = [(prefix + dot + str(v), {**bound, name: str(v)})
                          for prefix, bound in filled for v in values(name, bound, self)]
        return ["/" + _alternatives(path) for path, _ in filled]


def _plain(pattern: str) -> str:
    return pattern.replace("^", "").replace("$", "").replace("/?", "").replace("\\.", ".")


def _alternatives(text: str) -> str:
    # `(?:problem|algo|...)`: the first alternative is enough to reach the view.
    return re.sub(r"\(\?:([^|()]+)(?:\|[^()]*)?\)", r"\1", text)


def routes(prefixes: tuple[str, ...] = ("",), excluded: tuple[str, ...] = ()) -> list[Route]:
    """Every URL pattern whose template starts with one of `prefixes` and none of `excluded`."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns: list[Any], prefix: str) -> Iterator[Route]:
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield Route(prefix + str(p.pattern), p.callback)

    found = [r for r in walk(get_resolver().url_patterns, "")
             if r.template.startswith(tuple("/" + p.lstrip("/") for p in prefixes))]
    return [r for r in found if not r.template.startswith(tuple("/" + p.lstrip("/") for p in excluded))]
