import signal
import threading
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from morpheo import outbox
from morpheo.dispatcher import Dispatcher, redacted


def _seconds(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 3600:
        raise ValueError(raw)
    return value


def _batch(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 1000:
        raise ValueError(raw)
    return value


class Command(BaseCommand):
    help = (
        "Push each task made todo to the 2017 Compute at ORCHESTRATOR_COMPUTE_URL (<url>/learn, <url>/pred), "
        "in the order they became ready, until stopped (SIGTERM, Ctrl-C); retried with back-off until the "
        "Compute answers 2xx. Run one (or more) next to the web servers."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        assert isinstance(parser, CommandParser)
        parser.add_argument("--once", action="store_true", help="send what is due now, then exit")
        parser.add_argument("--dry-run", action="store_true",
                            help="say what the Compute is owed and what is due now; send and change nothing")
        parser.add_argument("--batch", type=_batch, default=20, metavar="N",
                            help="deliveries claimed at a time, 1 to 1000 (default 20)")
        parser.add_argument("--poll", type=_seconds, default=1.0, metavar="SECONDS",
                            help="look for work this often without a wake-up (default 1)")

    def handle(self, *args: Any, once: bool, dry_run: bool, batch: int, poll: float, **options: Any) -> None:
        url = settings.ORCHESTRATOR_COMPUTE_URL
        if not url:
            raise CommandError("ORCHESTRATOR_COMPUTE_URL is not set: there is no Compute to push to.")
        if dry_run:
            self.preview(url, verbosity=options["verbosity"])
            return
        stop = threading.Event()
        dispatcher = Dispatcher.from_settings(batch=batch, poll=poll, stop=stop)
        if once:
            report = dispatcher.run_once()
            self.stdout.write(f"sent {report.sent}, refused {report.refused}, Compute down {report.down}, "
                              f"skipped {report.skipped} (no longer todo), put off {report.postponed}")
            for error in report.errors:
                self.stdout.write(f"  {error}")
            return

        def stopping(signum: int, frame: FrameType | None) -> None:
            # The delivery being sent finishes (at most the timeout); the rest are given back.
            stop.set()

        signal.signal(signal.SIGTERM, stopping)
        signal.signal(signal.SIGINT, stopping)
        self.stdout.write(f"pushing to {redacted(url)} (batch {batch}, poll {poll:g} s); SIGTERM stops")
        self.stdout.flush()
        dispatcher.run_forever()
        self.stdout.write("stopped")

    def preview(self, url: str, *, verbosity: int) -> None:
        backlog = outbox.backlog()
        self.stdout.write(f"Compute at {redacted(url)}")
        if not backlog.started:
            self.stdout.write("no dispatcher has started yet: its first start queues every task todo then")
            return
        self.stdout.write(f"owed: {backlog.queued} queued, {backlog.failing} failing, "
                          f"{backlog.unread} events not read yet")
        shown = 1000 if verbosity >= 2 else 20
        due = outbox.due(shown + 1)
        self.stdout.write(f"due now: {len(due) if len(due) <= shown else f'more than {shown}'}"
                          + ("" if verbosity >= 2 or not due else " (-v 2 lists up to 1000)"))
        now = timezone.now()
        for delivery in due[:shown]:
            waited = int((now - delivery.ready_at).total_seconds())
            error = f"; last error: {delivery.last_error.splitlines()[0][:120]}" if delivery.last_error else ""
            self.stdout.write(f"  {delivery.kind} {delivery.task}: ready {waited} s ago, "
                              f"{delivery.attempts} failed sends{error}")
