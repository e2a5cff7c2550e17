"""Imports point one way down the layers (STYLE.md, habit 11): the suite fails when a
module imports from a layer above its own, or when a package is left out of the contracts.

The contracts are in .importlinter; `.venv/bin/lint-imports` prints the same report."""

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"
# Not apps: they may import anything, and nothing imports them.
NOT_CHECKED = {"tests"}


def test_it_keeps_every_import_contract() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), str(CONFIG), "--no-cache", "--no-logo"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)

    assert run.returncode == 0, run.stdout + run.stderr


def test_it_checks_every_package_of_the_project() -> None:
    # A package missing from the contracts would be neither checked nor seen as imported.
    config = configparser.ConfigParser()
    config.read(CONFIG)
    checked = set(config["importlinter"]["root_packages"].split())
    # The client's package lives in its own project directory (client/src/), a root package too.
    found = [*ROOT.glob("*/__init__.py"), *ROOT.glob("client/src/*/__init__.py")]
    packages = {p.parent.name for p in found} - NOT_CHECKED

    assert packages == checked
