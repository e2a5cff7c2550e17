import logging
import tempfile
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from orchestrator_client import OrchestratorError

from demo.scenario import Demo


class Command(BaseCommand):
    help = (
        "Run the whole platform once on a real data set, at two sites: two hospitals, each with "
        "a client registering its own training files and a compute worker that reads only its own "
        "directory and the shared one; a problem with secret test data and three algos, two rounds "
        "of uploads, the leaderboard, a chain that crosses sites, a prediction, then a check that "
        "no worker opened the other site's files. Starts its own Orchestrator on the current "
        "database unless --url is given."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--url", help="a running Orchestrator that uses this project's database")
        parser.add_argument("--dir", type=Path,
                            help="where to put storage and logs (default: a new temporary directory)")
        parser.add_argument("--timeout", type=float, default=100.0,
                            help="longest wait for the training, in seconds (default 100)")

    def handle(self, *args: Any, url: str | None, dir: Path | None, timeout: float, **options: Any) -> None:
        # Absolute: the workers run from the checkout's root, and the site check compares paths.
        directory = (dir or Path(tempfile.mkdtemp(prefix="orchestrator-demo-"))).resolve()
        if directory.exists() and any((directory / "storage").glob("*")):
            raise CommandError(f"{directory / 'storage'} is not empty: give a new --dir")
        # httpx logs each request at INFO, which the project's logging shows: the demo's story is enough.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        try:
            Demo(directory=directory, say=self.stdout.write, url=url, timeout=timeout).run()
        except OrchestratorError as exc:
            raise CommandError(str(exc)) from None
