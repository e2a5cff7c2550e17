from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from learning.lifecycle import LEARNUPLETS
from operators.kinds import KINDS
from operators.management.selection import add_selection_arguments, selection_from
from tasks import operations
from tasks.management.options import Progress, operator_name, report


class Command(BaseCommand):
    help = (
        "Cancel active learnuplets and/or preduplets (waiting, todo or pending): they end, canceled, and "
        "release nothing; a learnuplet's later ranks are canceled with it. With --algo, data registered "
        "later add nothing to the algo either. Name what to cancel (--problem, --algo, --uuid); a worker "
        "holding one hears 409 canceled at its next heartbeat or result."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_selection_arguments(parser, time_field=None, reset_attempts=False)

    def handle(self, *args: Any, **options: Any) -> None:
        selection = selection_from(options)
        if selection.problem is None and selection.algo is None and not selection.uuids:
            raise CommandError("name what to cancel: --problem, --algo or --uuid (all tasks at once is not a "
                               "cancel: use the admin's filters)")
        reason = options["reason"] or "canceled by an operator"
        for tasks in KINDS[options["kind"]]:
            progress = Progress(self, label=f"canceled {tasks.model.kind}s", batch_size=options["batch_size"])
            outcome = operations.cancel(
                tasks,
                where=selection.where(tasks, time_field=tasks.model.ended_field),  # (no --since/--before here)
                actor=operator_name(),
                reason=reason,
                dry_run=options["dry_run"],
                batch_size=options["batch_size"],
                progress=progress,
            )
            progress.end()
            report(self, outcome, what="active", verbosity=options["verbosity"], verb=("cancel", "canceled"))
            if tasks is LEARNUPLETS and selection.algo is not None and not options["dry_run"]:
                # As POST algos/{uuid}/cancel/: the algo takes no new learnuplets either.
                LEARNUPLETS.close_algo(selection.algo)
