"""What the task queue reports as it works: Prometheus counters and a status-change log.

`tasks.queue` calls these at the points where things happen (a claim, a result, a lease
sweep, every status change). They act only once the transaction commits, so a claim or
result that rolls back is neither counted nor logged.
"""

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from prometheus_client import Counter

log = logging.getLogger("orchestrator.tasks")

# At most this many tasks are listed in one status-change log record; `count` has the
# full number and the TaskEvent table has every row.
LOG_MAX_TASKS = 1000

CLAIMS = Counter("orchestrator_claims", "Tasks claimed by workers.", ["kind"])
RESULTS = Counter("orchestrator_results", "Results reported by workers, by status.", ["kind", "status"])
LEASES_EXPIRED = Counter(
    "orchestrator_leases_expired",
    "Claims whose lease ran out, by what happened to the task (requeued or failed).",
    ["kind", "outcome"],
)


def start_series(kind: str) -> None:
    """Every series of a task kind from zero, so that a scrape shows it before its first event."""
    CLAIMS.labels(kind)
    for status in ("done", "failed"):
        RESULTS.labels(kind, status)
    for outcome in ("requeued", "failed"):
        LEASES_EXPIRED.labels(kind, outcome)


def claimed(kind: str, count: int = 1) -> None:
    if count:
        transaction.on_commit(lambda: CLAIMS.labels(kind).inc(count))


def finished(kind: str, status: str) -> None:
    transaction.on_commit(lambda: RESULTS.labels(kind, status).inc())


def expired(kind: str, *, requeued: int, failed: int) -> None:
    if requeued or failed:
        def count() -> None:
            LEASES_EXPIRED.labels(kind, "requeued").inc(requeued)
            LEASES_EXPIRED.labels(kind, "failed").inc(failed)

        transaction.on_commit(count)


Change = tuple[uuid.UUID, str, str, uuid.UUID | None, int]


def status_changed(kind: str, changes: Sequence[Change], *, count: int, actor: str, reason: str) -> None:
    """Log one record per batch: `changes` are (task, from, to, worker, attempt) rows."""
    if not count:
        return
    to = changes[0][2] if changes else ""
    record: dict[str, Any] = {
        "kind": kind,
        "to": to,
        "actor": actor,
        "reason": reason,
        "count": count,
        "changes": [
            {"task": str(task), "from": from_ or None, "to": to_, "worker": str(worker) if worker else None,
             "attempt": attempt}
            for task, from_, to_, worker, attempt in changes[:LOG_MAX_TASKS]
        ],
    }
    if count > LOG_MAX_TASKS:
        record["truncated"] = True
    first = record["changes"][0] if record["changes"] else {}
    message = (
        f"{kind} status change: {count} task(s) -> {to} by {actor}"
        + (f" ({reason})" if reason else "")
        + (f": {first.get('task')} from {first.get('from')} worker {first.get('worker')}" if count == 1 else "")
    )
    transaction.on_commit(lambda: log.info(message, extra=record))
