from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.services import tokens_revoke


class Command(BaseCommand):
    help = "Revoke every API token of a client (its requests get 401 from then on)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--dry-run", action="store_true", help="Only report what would be revoked.")

    def handle(self, *args: Any, name: str, dry_run: bool, **options: Any) -> None:
        if not get_user_model().objects.filter(username=name).exists():
            raise CommandError(f"no user named {name!r}")
        count = tokens_revoke(name=name, dry_run=dry_run)
        self.stdout.write(f"{'would revoke' if dry_run else 'revoked'} {count} token(s) of {name}")
