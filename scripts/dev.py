#!/usr/bin/env python3
"""The two commands a newcomer needs; standard library only, any Python 3.11+.

    python3 scripts/dev.py serve [ADDRPORT]   set up, migrate, create an operator, serve
    python3 scripts/dev.py test [PYTEST ARGS] set up, run the whole test suite

Set-up creates .venv/ and installs requirements.txt into it; the install is skipped
while requirements.txt is unchanged (its hash is stamped in .venv/). Both commands use
DATABASE_URL when it is set, and otherwise an embedded PostgreSQL in .pgdata/.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
REQUIREMENTS = ROOT / "requirements.txt"
STAMP = VENV / ".requirements.sha256"
DEFAULT_ADDRPORT = "127.0.0.1:8000"


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}.")
    if not argv or argv[0] not in {"serve", "test"}:
        sys.exit(__doc__)
    command, rest = argv[0], argv[1:]
    setup()
    if command == "serve":
        return serve(rest)
    return test(rest)


def setup() -> None:
    """Create the virtual environment and install the pinned requirements into it."""
    if not PYTHON.exists():
        say(f"creating the virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=True, symlinks=os.name != "nt").create(VENV)
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    say("installing requirements.txt")
    run([str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-r", str(REQUIREMENTS)])
    STAMP.write_text(digest + "\n")


def serve(runserver_args: list[str]) -> int:
    # Local development: DEBUG on, so no secret key is needed and static files are served.
    os.environ["DJANGO_DEBUG"] = "1"
    if not os.environ.get("DATABASE_URL"):
        say("DATABASE_URL is unset: using the embedded PostgreSQL in .pgdata/")
    manage("migrate", "--no-input")
    url = site_url(runserver_args)
    manage("ensure_operator", "--url", url)
    say(f"serving the API at {url}/api/v1/ and the admin at {url}/admin/")
    server = [str(PYTHON), "manage.py", "runserver", *(runserver_args or [DEFAULT_ADDRPORT])]
    if os.environ.get("ORCHESTRATOR_COMPUTE_URL"):
        # The push to a 2017 Compute: its dispatcher runs beside the server, as in production.
        say("pushing the tasks made ready to the Compute at ORCHESTRATOR_COMPUTE_URL (manage.py push_compute)")
        return run_until_signal(server, [str(PYTHON), "manage.py", "push_compute"])
    return run_until_signal(server)


def site_url(runserver_args: list[str]) -> str:
    """Where a browser on this machine reaches the server that runserver starts with these.

    runserver takes `[ADDR:]PORT` among its options; an address of 0 or 0.0.0.0 (every
    interface) is reached at the loopback, which is also a host the debug settings allow.
    """
    ipv6 = "-6" in runserver_args or "--ipv6" in runserver_args
    loopback = "[::1]" if ipv6 else "127.0.0.1"
    addrport = next((arg for arg in runserver_args if not arg.startswith("-")), DEFAULT_ADDRPORT)
    host, _, port = addrport.rpartition(":")
    if host in {"", "0", "0.0.0.0"}:
        host = loopback
    elif host == "[::]":
        host = "[::1]"
    return f"http://{host}:{port}"


def test(pytest_args: list[str]) -> int:
    return subprocess.call([str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT)


def manage(*args: str) -> None:
    run([str(PYTHON), "manage.py", *args])


def run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(cmd)}")


def run_until_signal(cmd: list[str], *companions: list[str]) -> int:
    """Run the server in its own process group and stop it as Ctrl-C would; its companions
    (the push dispatcher) likewise, each in a group of its own, stopped when it stops.

    runserver's autoreloader is two processes, and each holds the embedded PostgreSQL.
    SIGTERM would end them without their exit handlers (leaving the database running),
    so SIGINT and SIGTERM are both passed on as SIGINT to the whole group. The handlers
    are set before the start because a child inherits an ignored SIGINT (as a shell's
    background job has it) but not a handler.
    """
    children: list[subprocess.Popen[bytes]] = []

    def interrupt(child: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(child.pid, signal.SIGINT)
        except ProcessLookupError:
            pass

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            interrupt(child)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    children.append(subprocess.Popen(cmd, cwd=ROOT, start_new_session=True))
    children.extend(subprocess.Popen(c, cwd=ROOT, start_new_session=True) for c in companions)
    try:
        code = children[0].wait()
        for companion in children[1:]:
            interrupt(companion)
            try:
                companion.wait(timeout=60)
            except subprocess.TimeoutExpired:
                companion.kill()
                companion.wait()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # A server stopped by a signal has done what was asked of it.
    return 0 if code in (0, -signal.SIGINT) else code


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
