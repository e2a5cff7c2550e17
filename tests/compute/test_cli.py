import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_it_refuses_to_start_without_an_orchestrator_url():
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "compute", "--token", "t", "--storage", "/tmp"], check=False, cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--url (or its environment variable) is required" in done.stderr


def test_it_runs_without_the_django_project():
    # The worker ships to other machines: importing it must not import Django.
    code = "import sys, compute.__main__; assert not any(m.startswith('django') for m in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
