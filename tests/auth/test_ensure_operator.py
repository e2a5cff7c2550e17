"""`manage.py ensure_operator`: the operator's first login, on the address the service is served at."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.models import Role
from accounts.services import client_create

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("ensure_operator", *args, stdout=out)
    return out.getvalue()


def test_it_prints_the_links_at_the_address_it_is_given():
    out = run("--url", "http://127.0.0.1:9000/")

    assert "  admin:  http://127.0.0.1:9000/admin/  user 'operator'  password '" in out
    assert "http://127.0.0.1:9000/api/v1/problems/" in out
    assert ":8000" not in out


def test_it_prints_the_default_address_without_one():
    out = run()

    assert "http://127.0.0.1:8000/admin/" in out


def test_the_printed_password_and_token_log_in(client):
    out = run("--url", "http://localhost:9000")

    password = out.split("password '")[1].split("'")[0]
    key = out.split("Token ")[1].split("'")[0]
    assert client.login(username="operator", password=password)
    assert client.get("/api/v1/problems/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_a_second_run_creates_nothing_and_says_how_to_reset_the_password(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    run("--url", "http://127.0.0.1:9000")

    with override_settings(DEBUG=True):
        out = run("--url", "http://127.0.0.1:9000")

    assert get_user_model().objects.filter(is_superuser=True).count() == 1
    assert "An operator account exists: log in at http://127.0.0.1:9000/admin/ as 'operator'." in out
    assert "password '" not in out
    assert out.splitlines()[-1] == "  DJANGO_DEBUG=1 .venv/bin/python manage.py changepassword operator"


def test_it_names_the_operator_that_exists(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    client_create(name="ops", role=Role.OPERATOR, password="ops-pw-123456")

    with override_settings(DEBUG=True):
        out = run()

    assert "as 'ops'." in out
    assert out.splitlines()[-1].endswith("manage.py changepassword ops")


def test_it_says_which_environment_the_reset_needs_in_production():
    client_create(name="ops", role=Role.OPERATOR)

    out = run("--url", "https://orchestrator.example.org")

    assert "log in at https://orchestrator.example.org/admin/" in out
    assert "DJANGO_DEBUG" not in out
    assert "manage.py changepassword ops   (with the service's DJANGO_SECRET_KEY and DATABASE_URL set)" in out


@pytest.mark.parametrize("url", ["127.0.0.1:9000", "ftp://host/", "http://"])
def test_it_refuses_an_address_that_is_not_http(url: str):
    with pytest.raises(CommandError, match="not an http"):
        run("--url", url)

    assert not get_user_model().objects.exists()
