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
        parser.add_argument(
            "--site",
            help="The site (organisation) the client belongs to, created on first use. Its data "
                 "are trained on only by compute workers of the same site.",
        )

    def handle(
        self, *args: Any, name: str, role: str, password: str | None, site: str | None, **options: Any
    ) -> None:
        if not name.strip():
            raise CommandError("NAME must not be empty")
        if site is not None and not 0 < len(site.strip()) <= 255:
            raise CommandError("--site must be 1 to 255 characters")
        try:
            client, key = client_create(name=name, role=role, password=password, site=site)
        except ClientExists as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"token={key}")
        if role == Role.COMPUTE:
            self.stdout.write(f"worker={client.worker}")
