"""What operator commands share: arguments parsed strictly (a bad value is a CommandError),
a progress line, and the report of an Outcome."""

import argparse
import getpass
import re
import uuid
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, OutputWrapper
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from tasks.operations import Outcome

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    """'90s', '30m', '2h', '1d'."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration such as 90s, 30m, 2h or 1d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def moment(text: str) -> datetime:
    """An ISO date or date-time (UTC unless it says otherwise), or a duration ago ('2h')."""
    if _DURATION.match(text):
        return timezone.now() - duration(text)
    try:
        parsed = parse_datetime(text)
        if parsed is None and (day := parse_date(text)) is not None:
            parsed = datetime(day.year, day.month, day.day)
    except ValueError:
        parsed = None
    if parsed is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an ISO date/time (2026-01-31, 2026-01-31T12:00) nor a duration ago (2h)"
        )
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def a_uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a UUID") from None


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def operator_name() -> str:
    try:
        return f"{getpass.getuser()} (shell)"
    except (KeyError, OSError):
        return "operator (shell)"


class Progress:
    """A one-line running count on stderr, shown once a run takes more than one batch."""

    def __init__(self, command: BaseCommand, *, label: str, batch_size: int) -> None:
        self.out: OutputWrapper = command.stderr
        self.label = label
        self.batch_size = batch_size
        self.shown = False

    def __call__(self, done: int) -> None:
        if done >= self.batch_size:
            self.out.write(f"\r{self.label}: {done}", ending="")
            self.out.flush()
            self.shown = True

    def end(self) -> None:
        if self.shown:
            self.out.write("")
            self.shown = False


def report(
    command: BaseCommand, outcome: Outcome, *, what: str, verbosity: int, verb: tuple[str, str] = ("re-queue", "re-queued")
) -> None:
    """One count line per kind; with -v 2 one line per task."""
    by_status: dict[str, int] = {}
    for _, status in outcome.changed:
        by_status[status] = by_status.get(status, 0) + 1
    split = ", ".join(f"{n} to {status}" for status, n in sorted(by_status.items()))
    prefix = f"would {verb[0]}" if outcome.dry_run else verb[1]
    line = f"{prefix} {outcome.count} {what} {outcome.kind}(s)" + (f" ({split})" if split else "")
    command.stdout.write(line)
    if outcome.released:
        command.stdout.write(f"  {len(outcome.released)} of them released at once: their previous rank had ended")
    if outcome.refused:
        command.stdout.write(
            f"  left {outcome.refused} pending {outcome.kind}(s) alone: their lease is live (--force to take them)"
        )
    if verbosity >= 2:
        for pk, status in outcome.changed:
            command.stdout.write(f"  {outcome.kind} {pk} -> {status}")
