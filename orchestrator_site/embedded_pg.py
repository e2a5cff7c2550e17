"""An embedded PostgreSQL for development and tests, used when DATABASE_URL is unset.

`pgserver` ships PostgreSQL binaries in its wheel, so a fresh machine with only Python
needs no system database. The data folder lives inside the checkout (git-ignored); the
server is shared by every process that asks for it and stops with the last of them.
"""

from pathlib import Path


def embedded_database_url(data_dir: Path) -> str:
    import pgserver  # imported lazily: production never loads it

    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    # Keep a reference for the life of the process: the handle's finaliser stops the
    # server once no process holds it any more.
    _servers.append(server)
    return server.get_uri()


_servers: list[object] = []
