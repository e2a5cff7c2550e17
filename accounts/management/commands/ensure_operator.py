import os
import secrets
from argparse import ArgumentParser
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role
from accounts.services import client_create

DEFAULT_URL = "http://127.0.0.1:8000"


def site_url(text: str) -> str:
    """An http(s) address without its trailing slash: what the printed links start with."""
    parts = urlsplit(text.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise CommandError(f"--url {text!r} is not an http:// or https:// address such as {DEFAULT_URL}")
    return text.strip().rstrip("/")


def changepassword_command(name: str) -> str:
    """The command that sets a new password, as it runs from the checkout's root.

    Local development needs DJANGO_DEBUG=1 to pick the settings `serve` runs with (they
    start the embedded PostgreSQL themselves when DATABASE_URL is unset); production runs
    it in the service's own environment.
    """
    command = f".venv/bin/python manage.py changepassword {name}"
    if not settings.DEBUG:
        return f"{command}   (with the service's DJANGO_SECRET_KEY and DATABASE_URL set)"
    if os.environ.get("DATABASE_URL"):
        return f"DJANGO_DEBUG=1 {command}   (with the same DATABASE_URL set)"
    return f"DJANGO_DEBUG=1 {command}"


class Command(BaseCommand):
    help = "Create an operator account when there is none, and print how to log in."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--name", default="operator", help="the new operator's user name (default operator)")
        parser.add_argument(
            "--url", default=DEFAULT_URL,
            help=f"the address the service answers on, for the printed links (default {DEFAULT_URL}; "
                 "`scripts/dev.py serve` passes the one it serves on)",
        )

    def handle(self, *args: Any, name: str, url: str, **options: Any) -> None:
        base = site_url(url)
        User = get_user_model()
        operators = list(
            User.objects.filter(is_superuser=True).order_by("date_joined", "pk").values_list("username", flat=True)
        )
        if operators:
            who = name if name in operators else operators[0]
            names = " or ".join(repr(n) for n in operators[:5]) + (" or another" if len(operators) > 5 else "")
            self.stdout.write(
                f"An operator account exists: log in at {base}/admin/ as {names}.\n"
                f"Its password is not shown again. To set a new one, at the checkout's root:\n"
                f"  {changepassword_command(who)}"
            )
            return
        password = secrets.token_urlsafe(12)
        _, key = client_create(name=name, role=Role.OPERATOR, password=password)
        self.stdout.write(
            "Created the operator account.\n"
            f"  admin:  {base}/admin/  user {name!r}  password {password!r}\n"
            f"  API:    curl -H 'Authorization: Token {key}' {base}/api/v1/problems/\n"
            "Write these down: they are shown only once. A new password later:\n"
            f"  {changepassword_command(name)}"
        )
