"""The client is a package of its own (issue 19): it installs into a fresh virtual
environment with only its own requirements, imports no Django there, and type-checks with
`mypy --strict` alone, without the project's configuration or plugins."""

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "client"
# What `pip install ./client` may bring: the client, httpx and what httpx needs.
ALLOWED = {"orchestrator-client", "httpx", "httpcore", "h11", "anyio", "certifi", "idna", "sniffio",
           "typing-extensions", "pip", "setuptools"}
OFFLINE_FAILURES = ("Could not find a version", "No matching distribution", "Failed to establish a new connection",
                    "Network is unreachable", "Temporary failure in name resolution")


def local_indexes() -> list[str]:
    """The package indexes on this machine's disk that pip is configured with (file://)."""
    shown = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                           timeout=60).stdout
    return re.findall(r"file://[^\s']+", "\n".join(line for line in shown.splitlines() if "index-url" in line))


def test_it_installs_into_a_fresh_virtual_environment_and_imports_no_django(tmp_path):
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    created = time.monotonic()
    # The machine's own index when it has one, in place of the public one: no network needed.
    indexes = local_indexes()
    where = ["--index-url", indexes[0], *(f"--extra-index-url={i}" for i in indexes[1:])] if indexes else []
    install = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-cache-dir",
                              *where, str(CLIENT)], capture_output=True, text=True, timeout=300)
    installed = time.monotonic()
    if install.returncode != 0 and any(failure in install.stdout + install.stderr for failure in OFFLINE_FAILURES):
        pytest.skip(f"cannot install packages here (no local index, no network): {install.stderr.strip()[-300:]}")
    assert install.returncode == 0, install.stdout + install.stderr

    frozen = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True,
                            check=True, timeout=60).stdout
    names = {line.split("==")[0].lower().replace("_", "-") for line in frozen.split()}
    assert names <= ALLOWED, names - ALLOWED
    check = ("import sys, orchestrator_client, orchestrator_client.cli; "
             "assert not [m for m in sys.modules if m == 'django' or m.startswith('django.')]; "
             "print(orchestrator_client.__file__)")
    # From a directory outside the checkout: nothing of the project on the path.
    imported = subprocess.run([str(python), "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(str(venv))
    helped = subprocess.run([str(venv / "bin" / "orchestrator"), "--help"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert helped.returncode == 0 and "watch" in helped.stdout
    print(f"\nfresh venv: created in {created - started:.1f} s, client installed in {installed - created:.1f} s "
          f"({'local index' if indexes else 'default index'}): {sorted(names)}")


def test_it_type_checks_strictly_on_its_own(tmp_path):
    # From a directory without mypy.ini: --strict and nothing else, no Django plugin.
    run = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
                          str(CLIENT / "src" / "orchestrator_client")], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)

    assert run.returncode == 0, run.stdout + run.stderr


def test_it_ships_its_type_information():
    assert (CLIENT / "src" / "orchestrator_client" / "py.typed").exists()
