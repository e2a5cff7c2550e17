from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role
from accounts.services import ClientExists, client_create


class Command(BaseCommand):
    help = "Create an API client (a user with a role) and print its token."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--password",
            help="Password for HTTP Basic (Morpheo-compatible routes) and, for operators, the admin.",
        )

    def handle(self, *args: Any, name: str, role: str, password: str | None, **options: Any) -> None:
        if not name.strip():
            raise CommandError("NAME must not be empty")
        try:
            client, key = client_create(name=name, role=role, password=password)
        except ClientExists as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"token={key}")
        if role == Role.COMPUTE:
            self.stdout.write(f"worker={client.worker}")
