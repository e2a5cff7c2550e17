"""The arguments that select tasks, shared by the re-queue commands."""

import argparse
from typing import Any

from django.core.management.base import CommandError

from operators.kinds import KINDS, Selection
from tasks.management.options import a_uuid, moment, positive
from tasks.operations import DEFAULT_BATCH, SelectionError


def add_selection_arguments(
    parser: argparse.ArgumentParser, *, time_field: str | None, reset_attempts: bool = True
) -> None:
    """The selection's arguments; without a `time_field`, no --since/--before."""
    parser.add_argument("--kind", choices=list(KINDS), default="all",
                        help="learnuplets, preduplets or both (default: all)")
    parser.add_argument("--problem", type=a_uuid, help="only tasks of this problem")
    parser.add_argument("--algo", type=a_uuid,
                        help="only learnuplets of this algo, and preduplets applying a model it trained")
    parser.add_argument("--uuid", type=a_uuid, action="append", default=[], dest="uuids",
                        help="only this task (repeatable)")
    if time_field is not None:
        parser.add_argument("--since", type=moment, help=f"{time_field} at or after: ISO date/time or '2h' (ago)")
        parser.add_argument("--before", type=moment, help=f"{time_field} before: ISO date/time or '2h' (ago)")
    parser.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    if reset_attempts:
        parser.add_argument("--reset-attempts", action="store_true", help="start the attempt count again at 0")
    parser.add_argument("--reason", default="", help="recorded in each task's event history")
    parser.add_argument("--batch-size", type=positive, default=DEFAULT_BATCH,
                        help=f"tasks changed per transaction (default {DEFAULT_BATCH})")


def selection_from(options: dict[str, Any]) -> Selection:
    selection = Selection(problem=options["problem"], algo=options["algo"], uuids=tuple(options["uuids"]),
                          since=options.get("since"), before=options.get("before"))
    try:
        selection.check()
    except SelectionError as exc:
        raise CommandError(str(exc)) from None
    return selection


