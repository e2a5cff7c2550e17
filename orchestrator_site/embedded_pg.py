"""An embedded PostgreSQL for development and tests, used when DATABASE_URL is unset.

`pgserver` ships PostgreSQL binaries in its wheel, so a fresh machine with only Python
needs no system database. The data folder lives inside the checkout (git-ignored); the
server is shared by every process that asks for it (runserver's autoreloader runs two)
and stops with the last of them.
"""

import atexit
import json
import os
import warnings
from pathlib import Path


def embedded_database_url(data_dir: Path) -> str:
    with warnings.catch_warnings():
        # platformdirs warns on every start when XDG_RUNTIME_DIR is unset (as under sudo
        # or in CI); pgserver only uses that folder for its lock files.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        # Imported lazily: production never loads it. (The package's own name for it is
        # not an explicit re-export, which strict type checking refuses.)
        from pgserver.postgres_server import get_server

    data_dir = data_dir.expanduser().resolve()
    if data_dir.exists():
        _forget_dead_holders(data_dir)
    server = get_server(data_dir, cleanup_mode="stop")
    # Registered after pgserver's own exit handler, so it runs first (atexit is LIFO):
    # holders that died without running theirs (SIGKILL, a reloader killing its child)
    # would otherwise keep the server running for ever.
    atexit.register(_forget_dead_holders, data_dir)
    # Keep a reference for the life of the process: the handle is what stops the server.
    _servers.append(server)
    return server.get_uri()


def _forget_dead_holders(data_dir: Path) -> None:
    """Drop the processes that no longer exist from pgserver's list of the server's users.

    pgserver stops the server when the last process on that list exits; its list is a
    JSON file of pids, changed under pgserver's inter-process lock.
    """
    from pgserver.postgres_server import PostgresServer

    holders = data_dir / ".handle_pids.json"
    with PostgresServer._lock:
        try:
            pids: list[int] = json.loads(holders.read_text())
        except (FileNotFoundError, ValueError):
            return
        alive = [pid for pid in pids if _is_alive(pid)]
        if alive != pids:
            holders.write_text(json.dumps(alive))


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


_servers: list[object] = []
