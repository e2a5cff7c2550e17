"""The project type-checks with `mypy --strict` (django-stubs, djangorestframework-stubs):
the suite fails on any error, and on an ignore comment that no longer applies or that does
not say why.

The configuration is mypy.ini; `.venv/bin/mypy` prints the same report."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A justified ignore: `# type: ignore[code]  # why`.
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")


def test_it_type_checks_with_mypy_strict() -> None:
    run = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=900)

    assert run.returncode == 0, run.stdout + run.stderr


def test_every_type_ignore_names_its_codes_and_says_why() -> None:
    unexplained = []
    for path in sorted(ROOT.glob("**/*.py")):
        if {".venv", "node_modules"} & set(path.relative_to(ROOT).parts) or path.parts[-2] == "migrations":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = IGNORE.search(line)
            if match and (not match["codes"] or "#" not in match["rest"]):
                unexplained.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")

    assert not unexplained, "\n".join(unexplained)
