"""Production settings: `check --deploy` is clean, and missing secrets stop start-up.

Each case starts manage.py in a fresh process with only the environment a deployment
would give it, since settings are read once per process.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k3Qz-production-like-secret-of-more-than-fifty-characters-Xv9pL2wR",
    "DJANGO_ALLOWED_HOSTS": "orchestrator.example.org",
    # check --deploy does not connect; the host only has to parse.
    "DATABASE_URL": "postgres://orchestrator:secret@db.example.org:5432/orchestrator",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Nothing of the test run's own configuration may leak into the child.
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "ORCHESTRATOR_")) and k != "DATABASE_URL"}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def without(name: str) -> dict[str, str]:
    return {k: v for k, v in PRODUCTION.items() if k != name}


def test_it_passes_the_deploy_check_with_production_settings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off() -> None:
    result = manage("check", **without("DJANGO_SECRET_KEY"))

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_it_refuses_to_start_without_a_database_url_when_debug_is_off() -> None:
    result = manage("check", **without("DATABASE_URL"))

    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr


def test_it_refuses_a_database_that_is_not_postgresql() -> None:
    result = manage("check", **{**PRODUCTION, "DATABASE_URL": "sqlite:///orchestrator.db"})

    assert result.returncode != 0
    assert "needs PostgreSQL" in result.stderr


def test_it_names_the_missing_setting_whatever_the_command() -> None:
    # Django's command runner swallows a settings error to keep `help` working; without
    # manage.py's own check, makemigrations or createclient said "Models aren't loaded yet".
    # The barest shell, as a git hook or a cron job gives.
    result = subprocess.run([sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
                            cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                            timeout=120)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    assert "AppRegistryNotReady" not in result.stderr
