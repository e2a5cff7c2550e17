import secrets
from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.models import Role
from accounts.services import client_create


class Command(BaseCommand):
    help = "Create an operator account when there is none, and print how to log in."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--name", default="operator")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An operator account exists; log in at /admin/ with it.")
            return
        password = secrets.token_urlsafe(12)
        _, key = client_create(name=name, role=Role.OPERATOR, password=password)
        self.stdout.write(
            "Created the operator account.\n"
            f"  admin:  http://127.0.0.1:8000/admin/  user {name!r}  password {password!r}\n"
            f"  API:    curl -H 'Authorization: Token {key}' http://127.0.0.1:8000/api/v1/problems/\n"
            "Write these down: they are shown only once."
        )
