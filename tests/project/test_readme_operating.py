"""README's "Operating it": its commands run as printed, from the checkout's root."""

import os
import re
import shlex
import subprocess
import uuid
from io import StringIO
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.core.management import call_command
from django.db import connection

from tests.factories import ProblemFactory

ROOT = Path(__file__).resolve().parents[2]
TOUR_PROBLEM = uuid.UUID("5f0c6a38-6c1e-4a3e-9f0e-0d6d3c7a1a01")  # what the tour registers


def operating_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Operating it\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "no sh block in README's 'Operating it'"
    return block.group(1)


def command_lines() -> list[list[str]]:
    return [shlex.split(line, comments=True) for line in operating_block().splitlines() if line.strip()]


def test_the_commands_are_run_from_the_checkout_with_the_local_settings():
    first, *commands = command_lines()

    assert first == ["export", "DJANGO_DEBUG=1"]
    assert commands and all(argv[:2] == [".venv/bin/python", "manage.py"] for argv in commands)


@pytest.mark.django_db
def test_each_command_runs_with_the_arguments_shown():
    ProblemFactory.create(uuid=TOUR_PROBLEM)

    for argv in command_lines()[1:]:
        out = StringIO()
        call_command(*argv[2:], stdout=out, stderr=StringIO())
        assert out.getvalue().strip(), f"{shlex.join(argv)} printed nothing"


def database_url() -> str:
    """The test database, for processes of their own (a socket folder as host, too)."""
    params = connection.get_connection_params()
    query = urlencode({k: params[k] for k in ("host", "port") if params.get(k)})
    user, password = quote(params.get("user") or ""), quote(params.get("password") or "")
    return f"postgres://{user}:{password}@/{quote(params['dbname'])}?{query}"


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").exists(), reason="no .venv in the checkout")
def test_the_block_runs_in_a_shell_as_printed(transactional_db: None):
    ProblemFactory.create(uuid=TOUR_PROBLEM)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE" and not k.startswith("DJANGO_")}

    done = subprocess.run(["bash", "-e", "-c", operating_block()], cwd=ROOT, capture_output=True, text=True,
                          env={**env, "DATABASE_URL": database_url()}, timeout=300)

    assert done.returncode == 0, done.stderr
    assert "would re-queue 0 failed learnuplet(s)" in done.stdout
    assert "would revoke 1 token(s) of bob" in done.stdout
