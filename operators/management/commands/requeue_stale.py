from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from operators.kinds import KINDS
from operators.management.selection import add_selection_arguments, selection_from
from tasks import operations
from tasks.management.options import (
    Progress,
    duration,
    operator_name,
    report,
)


class Command(BaseCommand):
    help = (
        "Put pending tasks whose lease ran out back to todo. A live lease is left alone unless "
        "--force, even without a heartbeat for a while: its worker may still be working, and "
        "re-queueing the task would run it twice. --older-than keeps, of either, only the claims "
        "without a heartbeat for that long."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_selection_arguments(parser, time_field="claim time")
        parser.add_argument("--older-than", type=duration,
                            help="only claims without a heartbeat for this long (30m, 2h); with --force, "
                                 "the live leases of workers silent that long")
        parser.add_argument("--force", action="store_true",
                            help="take live leases too; their worker gets 409 on its next heartbeat or result")

    def handle(self, *args: Any, **options: Any) -> None:
        selection = selection_from(options)
        reason = options["reason"] or "re-queued by requeue_stale" + (" --force" if options["force"] else "")
        for tasks in KINDS[options["kind"]]:
            progress = Progress(self, label=f"re-queued {tasks.model.kind}s", batch_size=options["batch_size"])
            outcome = operations.requeue_stale(
                tasks,
                where=selection.where(tasks, time_field="claimed_at"),
                actor=operator_name(),
                reason=reason,
                older_than=options["older_than"],
                force=options["force"],
                reset_attempts=options["reset_attempts"],
                dry_run=options["dry_run"],
                batch_size=options["batch_size"],
                progress=progress,
            )
            progress.end()
            report(self, outcome, what="stale", verbosity=options["verbosity"])
