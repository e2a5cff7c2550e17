from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.services import tokens_revoke


class Command(BaseCommand):
    help = "Revoke every API token of a client (its requests get 401 from then on)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        if not get_user_model().objects.filter(username=name).exists():
            raise CommandError(f"no user named {name!r}")
        count = tokens_revoke(name=name)
        self.stdout.write(f"revoked {count} token(s) of {name}")
