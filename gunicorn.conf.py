"""gunicorn's settings for the Orchestrator, read by `gunicorn` from the working directory.

Claims and results are CPU-bound Python with short waits on PostgreSQL: one worker per
core and one more served the most cycles (bench/claims.py). A waiting claim
(`?wait=`, issue 17) holds a thread for up to a minute but no database connection and no
CPU, so each worker has many threads: 3 x 500 hold 1,000 waiting workers with room for
everyone else (bench/dispatch.py, bench/README.md). Threads start only when requests need
them. Each worker accepts at most 100 connections more than it has threads
(worker_connections follows threads; the 100 are for idle keep-alive connections, whose
room gunicorn counts the same way), so a request does not queue behind waiting ones
inside a worker: a full worker leaves new connections to the others.

`WEB_CONCURRENCY` sets the number of workers, `--threads N` (or
`GUNICORN_CMD_ARGS="--threads N"`) the threads of each, `-b` the address.
"""

import multiprocessing
import os
from typing import Any

bind = "0.0.0.0:8000"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() + 1)
worker_class = "gthread"
threads = 500
keepalive = 30
timeout = 60


KEEPALIVE_ROOM = 100


def on_starting(server: Any) -> None:
    """worker_connections follows the threads, whichever way they were set."""
    server.cfg.set("worker_connections", server.cfg.threads + KEEPALIVE_ROOM)
