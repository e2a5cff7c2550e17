from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from operators.kinds import KINDS
from operators.management.selection import add_selection_arguments, selection_from
from tasks import operations
from tasks.management.options import (
    Progress,
    operator_name,
    report,
)


class Command(BaseCommand):
    help = (
        "Put failed learnuplets and/or preduplets back to run: todo, or waiting for a learnuplet "
        "whose start model is not known. Safe while workers run; running it again changes nothing."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_selection_arguments(parser, time_field="end time")
        parser.add_argument("--canceled", action="store_true",
                            help="re-queue canceled tasks too (a canceled algo takes new data again only "
                                 "through the admin)")

    def handle(self, *args: Any, **options: Any) -> None:
        selection = selection_from(options)
        reason = options["reason"] or "re-queued by requeue_failed"
        for tasks in KINDS[options["kind"]]:
            progress = Progress(self, label=f"re-queued {tasks.model.kind}s", batch_size=options["batch_size"])
            outcome = operations.requeue_failed(
                tasks,
                where=selection.where(tasks, time_field=tasks.model.ended_field),
                actor=operator_name(),
                reason=reason,
                reset_attempts=options["reset_attempts"],
                canceled=options["canceled"],
                dry_run=options["dry_run"],
                batch_size=options["batch_size"],
                progress=progress,
            )
            progress.end()
            report(self, outcome, what="failed", verbosity=options["verbosity"])
