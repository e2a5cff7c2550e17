from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from idempotency.models import IdempotencyKey


class Command(BaseCommand):
    help = (
        "Delete the answers kept for Idempotency-Key that are older than 24 hours, in one "
        "statement. Keyed requests also delete a few each, so this is needed only to catch up."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count them, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dry_run"]:
            count = IdempotencyKey.objects.expired().count()
            self.stdout.write(f"would delete {count} idempotency keys older than 24 hours")
            return
        deleted = IdempotencyKey.objects.prune()
        self.stdout.write(f"deleted {deleted} idempotency keys older than 24 hours")
