import json
from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from learning.models import Learnuplet
from operators.kinds import KINDS
from tasks import operations
from tasks.management.options import duration
from tasks.models import Status

FAILURE_WINDOW = timedelta(hours=1)


def _age(seconds: float) -> str:
    """'3d 4h', '2h 5m', '1m', '42s': the two largest units."""
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2]) or "0s"


class Command(BaseCommand):
    help = (
        "The queue on one screen: counts by status per problem and algo, the oldest todo task, "
        "leases expired or expiring, and the last hour's failures with their errors."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON document, for scripts")
        parser.add_argument("--expiring-within", type=duration, default=timedelta(minutes=1),
                            help="count leases running out within this (default 1m)")

    def handle(self, *args: Any, as_json: bool, expiring_within: timedelta, **options: Any) -> None:
        status = self.collect(expiring_within)
        if as_json:
            self.stdout.write(json.dumps(status, default=str, indent=2))
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
        return {"at": now, "kinds": kinds}

    def render(self, status: dict[str, Any]) -> None:
        out = self.stdout.write
        columns = Status.values
        out(f"Orchestrator status at {status['at']:%Y-%m-%d %H:%M:%S %Z}")
        for kind, facts in status["kinds"].items():
            out("")
            out(f"{kind}s".ljust(56) + "".join(c.rjust(9) for c in columns))
            out("  all".ljust(56) + "".join(str(facts["totals"][c]).rjust(9) for c in columns))
            problem = None
            for row in facts["by_problem"]:
                if row["algo"] is None:
                    out(f"  problem {row['problem']}".ljust(56) + "".join(str(row[c]).rjust(9) for c in columns))
                    continue
                if row["problem"] != problem:
                    problem = row["problem"]
                    out(f"  problem {problem}")
                label = f"    {row['algo_name']} ({row['algo']})"[:55]
                out(label.ljust(56) + "".join(str(row[c]).rjust(9) for c in columns))
        out("")
        for kind, facts in status["kinds"].items():
            oldest = facts["oldest_todo"]
            leases = facts["leases"]
            out(f"{kind}s: oldest todo "
                + (f"{_age(oldest['age_seconds'] or 0)} ago ({oldest['task']})" if oldest else "none")
                + f"; leases expired {leases['expired']}, expiring within "
                  f"{_age(leases['expiring_within_seconds'])} {leases['expiring']}")
        for kind, facts in status["kinds"].items():
            failures = facts["failures_last_hour"]
            out(f"{kind}s failed in the last hour: {failures['count']}")
            for group in failures["by_error"]:
                error = " ".join(group["error"].split())[:100] or "(no error text)"
                out(f"  {group['count']:>6} x {error}  (e.g. {group['example']})")
