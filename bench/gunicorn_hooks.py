"""gunicorn configuration of the benchmarks: counts each request's SQL queries.

Every statement Django sends through a request thread's connection is counted by an
execute wrapper installed for the request; each worker keeps, per `METHOD /path`
(UUIDs read `{uuid}`, the query string kept), the query counts, the server-side
durations, the request thread's CPU time and the worker's RSS, and writes them to $BENCH_STATS_DIR/<pid>.json when it exits.
"""

import json
import os
import re
import runpy
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The project's own settings (gunicorn reads one config file): the server benchmarked is
# the one the README recommends. The command line overrides them when a run asks to.
_project = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
workers, worker_class, threads, keepalive = (_project[k] for k in ("workers", "worker_class", "threads", "keepalive"))
on_starting = _project["on_starting"]  # worker_connections follows the threads

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_WAIT = re.compile(r"wait=[0-9.]+")
_local = threading.local()
_lock = threading.Lock()
_requests: dict[str, dict[str, Any]] = {}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


def pre_request(worker: Any, req: Any) -> None:
    from django.db import connection

    counter = _Counter()
    wrapping = connection.execute_wrapper(counter)
    wrapping.__enter__()
    _local.request = (counter, wrapping, time.perf_counter(), time.thread_time(), _status_kb("VmRSS"))


def post_request(worker: Any, req: Any, environ: dict[str, Any], resp: Any) -> None:
    counter, wrapping, start, cpu_start, rss_before = _local.request
    seconds = time.perf_counter() - start
    # CPU time of this thread alone: what the request costs, however busy the machine.
    cpu = time.thread_time() - cpu_start
    wrapping.__exit__(None, None, None)
    # UUIDs read {uuid} and a waiting claim's seconds `wait=S`: one entry per route and
    # query shape (jittered waits made one per request, and a file too big to write on exit).
    query = _WAIT.sub("wait=S", _UUID.sub("{uuid}", req.query)) if req.query else ""
    path = _UUID.sub("{uuid}", req.path) + (f"?{query}" if query else "")
    key = f"{req.method} {path}"
    with _lock:
        stats = _requests.setdefault(
            key, {"queries": [], "seconds": [], "cpu": [], "peak_rss_kb": 0, "rss_before_kb": rss_before}
        )
        stats["queries"].append(counter.count)
        stats["seconds"].append(seconds)
        stats["cpu"].append(cpu)
        # VmHWM only grows: read after a request it is the peak up to the end of it.
        stats["peak_rss_kb"] = max(stats["peak_rss_kb"], _status_kb("VmHWM"))


def worker_exit(server: Any, worker: Any) -> None:
    directory = os.environ.get("BENCH_STATS_DIR")
    if not directory:
        return
    with _lock:
        payload = {"pid": os.getpid(), "peak_rss_kb": _status_kb("VmHWM"), "requests": _requests}
        with open(os.path.join(directory, f"{os.getpid()}.json"), "w") as out:
            json.dump(payload, out)
