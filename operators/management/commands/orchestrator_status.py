import json
from argparse import ArgumentParser
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from learning.models import Learnuplet
from morpheo import outbox
from morpheo.dispatcher import redacted
from operators.kinds import KINDS
from tasks import operations
from tasks.management.options import duration
from tasks.models import Status

FAILURE_WINDOW = timedelta(hours=1)
# Algo names are cut to this many characters, never the UUIDs: those are pasted into
# requeue_failed --algo and the admin's search.
NAME_WIDTH = 32


def _age(seconds: float) -> str:
    """'3d 4h', '2h 5m', '1m', '42s': the two largest units."""
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2]) or "0s"


def _cut(name: str) -> str:
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 3] + "..."


def _has_sites(facts: dict[str, Any]) -> bool:
    return any(row["site"] is not None for row in facts["by_site"])


def _site_label(row: dict[str, Any], prefix: str = "site ") -> str:
    """'site hospital-a', or 'platform (no site)' for the tasks without a site."""
    return "platform (no site)" if row["site"] is None else f"{prefix}{_cut(row['site_name'])}"


class Command(BaseCommand):
    help = (
        "The queue on one screen: counts by status per site, problem and algo, the oldest todo task, "
        "leases expired or expiring, and the last hour's failures with their errors."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON document, for scripts")
        parser.add_argument("--expiring-within", type=duration, default=timedelta(minutes=1),
                            help="count leases running out within this (default 1m)")

    def handle(self, *args: Any, as_json: bool, expiring_within: timedelta, **options: Any) -> None:
        status = self.collect(expiring_within)
        if as_json:
            # ISO 8601 date-times ("2026-11-26T09:30:00.123Z"), UUIDs as strings.
            self.stdout.write(json.dumps(status, cls=DjangoJSONEncoder, indent=2))
        else:
            self.render(status)

    def collect(self, expiring_within: timedelta) -> dict[str, Any]:
        now = timezone.now()
        kinds: dict[str, Any] = {}
        for tasks in KINDS["all"]:
            model = tasks.model
            oldest = operations.oldest_todo(model)
            expired, expiring = operations.lease_counts(model, within=expiring_within)
            kinds[model.kind] = {
                "totals": operations.counts_by_status(model),
                "by_site": [
                    {"site": site.site, "site_name": site.name, **site.counts,
                     "oldest_todo_age_seconds": None if site.oldest_todo is None
                     else (now - site.oldest_todo).total_seconds(),
                     "leases_expired": site.expired}
                    for site in operations.counts_by_site(model)
                ],
                "by_problem": operations.counts_by_problem(model, per_algo=model is Learnuplet),
                "oldest_todo": None if oldest is None else {
                    "task": oldest.task, "queued_at": oldest.queued_at,
                    "age_seconds": (now - oldest.queued_at).total_seconds() if oldest.queued_at else None,
                },
                "leases": {"expired": expired, "expiring": expiring,
                           "expiring_within_seconds": expiring_within.total_seconds()},
                "failures_last_hour": {
                    "count": operations.failure_count(model, since=FAILURE_WINDOW),
                    "by_error": [
                        {"error": g.error, "count": g.count, "example": g.example}
                        for g in operations.recent_failures(model, since=FAILURE_WINDOW)
                    ],
                },
            }
        return {"at": now, "kinds": kinds, "compute_push": _push_status(now)}

    def render(self, status: dict[str, Any]) -> None:
        out = self.stdout.write
        columns = Status.values
        out(f"Orchestrator status at {status['at']:%Y-%m-%d %H:%M:%S %Z}")
        tables: list[list[tuple[str, dict[str, Any] | None]]] = []
        for kind, facts in status["kinds"].items():
            lines: list[tuple[str, dict[str, Any] | None]] = [(f"{kind}s", None), ("  all", facts["totals"])]
            # Without sites anywhere, the platform's row would repeat "all": left out.
            if _has_sites(facts):
                lines += [(f"  {_site_label(row)}", row) for row in facts["by_site"]]
            problem = None
            for row in facts["by_problem"]:
                if row["algo"] is None:
                    lines.append((f"  problem {row['problem']}", row))
                    continue
                if row["problem"] != problem:
                    problem = row["problem"]
                    lines.append((f"  problem {problem}", None))
                lines.append((f"    {_cut(row['algo_name'] or '')} ({row['algo']})", row))
            tables.append(lines)
        # One width for every table, from the longest label: whole UUIDs, aligned counts.
        width = max(len(label) for lines in tables for label, _ in lines) + 2
        for lines in tables:
            out("")
            header, _ = lines[0]
            out(header.ljust(width) + "".join(c.rjust(9) for c in columns))
            for label, counts in lines[1:]:
                out(label if counts is None else label.ljust(width) + "".join(str(counts[c]).rjust(9) for c in columns))
        out("")
        for kind, facts in status["kinds"].items():
            oldest = facts["oldest_todo"]
            leases = facts["leases"]
            out(f"{kind}s: oldest todo "
                + (f"{_age(oldest['age_seconds'] or 0)} ago ({oldest['task']})" if oldest else "none")
                + f"; leases expired {leases['expired']}, expiring within "
                  f"{_age(leases['expiring_within_seconds'])} {leases['expiring']}")
            if _has_sites(facts):
                waiting = [f"{_site_label(row, prefix='')} {_age(row['oldest_todo_age_seconds'])}"
                           for row in facts["by_site"] if row["oldest_todo_age_seconds"] is not None]
                out(f"{kind}s: oldest todo by site: " + (", ".join(waiting) or "none"))
        push = status["compute_push"]
        if push is not None:
            if not push["dispatcher_started"]:
                out(f"compute push to {push['url']}: no dispatcher has started (manage.py push_compute)")
            else:
                oldest = push["oldest_undelivered"]
                out(f"compute push to {push['url']}: {push['queued']} queued, {push['failing']} failing, "
                    f"{push['unread_events']} events not read yet; oldest undelivered "
                    + (f"{_age(oldest['age_seconds'])} ago" if oldest else "none"))
        for kind, facts in status["kinds"].items():
            failures = facts["failures_last_hour"]
            out(f"{kind}s failed in the last hour: {failures['count']}")
            for group in failures["by_error"]:
                error = " ".join(group["error"].split())[:100] or "(no error text)"
                out(f"  {group['count']:>6} x {error}  (e.g. {group['example']})")


def _push_status(now: datetime) -> dict[str, Any] | None:
    """The push to a 2017 Compute, when ORCHESTRATOR_COMPUTE_URL is set."""
    url = settings.ORCHESTRATOR_COMPUTE_URL
    if not url:
        return None
    backlog = outbox.backlog()
    ready = backlog.oldest_ready_at
    return {
        "url": redacted(url),
        "dispatcher_started": backlog.started,
        "queued": backlog.queued,
        "failing": backlog.failing,
        "unread_events": backlog.unread,
        "oldest_undelivered": None if ready is None else {
            "ready_at": ready, "age_seconds": max((now - ready).total_seconds(), 0.0)},
    }
